-- wrk script: refresh_token grants that rotate, many families at once. Each request takes a
-- refresh token from a queue and each 200 answer puts the rotated one back, so every family
-- has at most one request in flight and no token is presented twice (use one wrk thread, -t1,
-- and a few more tokens than connections: wrk builds one request per thread before it connects
-- and never sends it, so that token is taken for nothing).
--
-- Environment:
--   WRK_REFRESH_TOKENS  the refresh tokens, separated by spaces (one per family)
--   WRK_CLIENT          "client_id=...&client_secret=..." (form-encoded)
-- An answer without a refresh token loses its family; a request made with no token left sends
-- an empty one, which the server refuses (wrk then reports non-2xx responses).

local queue, head, tail = {}, 1, 0
local client

function init(args)
  client = os.getenv("WRK_CLIENT") or ""
  for t in string.gmatch(os.getenv("WRK_REFRESH_TOKENS") or "", "%S+") do
    tail = tail + 1
    queue[tail] = t
  end
end

function request()
  local token = ""
  if head <= tail then
    token = queue[head]
    queue[head] = nil
    head = head + 1
  end
  return wrk.format("POST", nil,
    { ["Content-Type"] = "application/x-www-form-urlencoded" },
    "grant_type=refresh_token&" .. client .. "&refresh_token=" .. token)
end

function response(status, headers, body)
  local t = string.match(body, '"refresh_token":"([^"]+)"')
  if status == 200 and t then
    tail = tail + 1
    queue[tail] = t
  end
end
