-- wrk script: POST an application/x-www-form-urlencoded body to the URL given
-- on wrk's command line (e.g. http://127.0.0.1:3100/token).
--
-- The body comes from, in order:
--   1. the first script argument:   wrk ... -s token.lua URL -- 'grant_type=...'
--   2. the environment:             WRK_BODY='grant_type=...' wrk ... -s token.lua URL
-- Prefer WRK_BODY: script arguments (and so client secrets) show up in `ps`.
--
-- Optional environment:
--   WRK_AUTHORIZATION   value of an Authorization header (e.g. "Basic ...")
--   WRK_STATUS_COUNTS=1 count responses per HTTP status and print them at the
--                       end ("status <code>: <n>"). This adds a Lua callback per
--                       response, which costs load-generator CPU, so it is off
--                       by default; wrk's own "Non-2xx or 3xx responses" line
--                       is printed either way.
--
-- The request is static, so wrk builds it once per thread (no request()
-- callback): the load generator spends as little CPU as possible.

local function urlencoded_body(args)
  if args and args[1] and args[1] ~= "" then
    return args[1]
  end
  local env = os.getenv("WRK_BODY")
  if env and env ~= "" then
    return env
  end
  return nil
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Accept"] = "application/json"

local authz = os.getenv("WRK_AUTHORIZATION")
if authz and authz ~= "" then
  wrk.headers["Authorization"] = authz
end

-- init() runs in every thread before the request is built.
function init(args)
  local body = urlencoded_body(args)
  if not body then
    io.stderr:write("token.lua: no body: pass it as the first script argument or in WRK_BODY\n")
    os.exit(2)
  end
  wrk.body = body
end

local count_statuses = os.getenv("WRK_STATUS_COUNTS") == "1"

if count_statuses then
  local threads = {}

  -- runs in the main Lua state, once per thread
  function setup(thread)
    table.insert(threads, thread)
  end

  -- per-thread state; global so that done() can read it with thread:get()
  statuses = {}

  function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
  end

  function done(summary_, latency, requests)
    local total = {}
    for _, thread in ipairs(threads) do
      local s = thread:get("statuses")
      if s then
        for code, n in pairs(s) do
          total[code] = (total[code] or 0) + n
        end
      end
    end
    local codes = {}
    for code in pairs(total) do table.insert(codes, code) end
    table.sort(codes)
    for _, code in ipairs(codes) do
      io.write(string.format("status %d: %d\n", code, total[code]))
    end
  end
end
