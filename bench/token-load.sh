#!/usr/bin/env bash
# Token-endpoint load benchmark: Writ vs oidc-provider (the certified Node
# OpenID provider), POST token with grant client_credentials, JWT access tokens
# signed with RS256, ES256 and EdDSA.
#
#   cargo build --release && bench/token-load.sh
#
# Environment (all optional):
#   DURATION=10          seconds of measured load per server and algorithm
#   WARMUP=2             seconds of unmeasured load before each measurement
#   CONNECTIONS=16       wrk connections (-c)
#   THREADS=2            wrk threads (-t)
#   ALGS="RS256 ES256 EdDSA"
#   TARGETS="oidc-provider writ"   which servers to measure
#   OP_PORT=3100         oidc-provider port (127.0.0.1)
#   WRIT_PORT=3200       Writ port (127.0.0.1)
#   WRIT_BIN=target/release/writ
#   OP_NODE=node         Node.js binary that runs oidc-provider
#   WRK_STATUS_COUNTS=1  also count responses per status in Lua (costs client CPU)
#   RESULTS_DIR=bench/results
#
# Everything listens on and talks to 127.0.0.1 only. Every run is bounded by
# DURATION/WARMUP and every readiness wait by a timeout; all processes started
# here are killed on exit.
#
# Exit status: 0 when every requested measurement ran and had no error
# responses; 1 when a measurement failed or was flagged; 2 on a setup error.

set -Eeuo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-2}
ALGS=${ALGS:-"RS256 ES256 EdDSA"}
TARGETS=${TARGETS:-"oidc-provider writ"}
OP_PORT=${OP_PORT:-3100}
WRIT_PORT=${WRIT_PORT:-3200}
WRIT_BIN=${WRIT_BIN:-$ROOT/target/release/writ}
OP_NODE=${OP_NODE:-node}
RESULTS_DIR=${RESULTS_DIR:-$BENCH_DIR/results}
READY_TIMEOUT=${READY_TIMEOUT:-60}   # seconds to wait for a server to answer

OP_DIR=$BENCH_DIR/oidc-provider
LUA=$BENCH_DIR/wrk/token.lua
WRIT_TMP=${TMPDIR:-/tmp}/writ-bench

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RESULT_FILE=$RESULTS_DIR/token-load-$STAMP.txt
LOG_DIR=$RESULTS_DIR/token-load-$STAMP.logs
RAW_FILE=$LOG_DIR/wrk.log

log() { printf '[token-load] %s\n' "$*" >&2; }
die() { printf '[token-load] ERROR: %s\n' "$*" >&2; exit 2; }
loud() { printf '\n[token-load] !!!!! %s\n\n' "$*" >&2; }

has_target() { [[ " $TARGETS " == *" $1 "* ]]; }

for v in DURATION WARMUP CONNECTIONS THREADS OP_PORT WRIT_PORT READY_TIMEOUT; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, got '${!v}'"
done
for alg in $ALGS; do
  case $alg in RS256|ES256|EdDSA) ;; *) die "unsupported alg '$alg' (RS256 ES256 EdDSA)";; esac
done
for t in $TARGETS; do
  case $t in oidc-provider|writ) ;; *) die "unknown target '$t' (oidc-provider writ)";; esac
done

# ---------------------------------------------------------------- cleanup ---
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

stop_pid() { # pid
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# -------------------------------------------------------------- helpers -----
# JSON field extraction: jq when present, python3 otherwise.
json_get() { # json-text field
  if command -v jq >/dev/null 2>&1; then
    jq -er --arg f "$2" '.[$f] // empty | if type == "string" then . else tojson end' <<<"$1" 2>/dev/null || true
  else
    python3 -c 'import json,sys
try:
    v = json.loads(sys.argv[1]).get(sys.argv[2])
except Exception:
    v = None
if v is not None:
    print(v if isinstance(v, str) else json.dumps(v))' "$1" "$2"
  fi
}

urlencode() { # string
  if command -v jq >/dev/null 2>&1; then
    jq -rn --arg v "$1" '$v|@uri'
  else
    python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1],safe=""))' "$1"
  fi
}

# Decode the (base64url) protected header of a compact JWS; prints JSON.
jwt_header() { # jwt
  local h=${1%%.*}
  h=$(printf '%s' "$h" | tr '_-' '/+')
  case $(( ${#h} % 4 )) in 2) h+='==';; 3) h+='=';; esac
  printf '%s' "$h" | base64 -d 2>/dev/null || true
}

jwt_payload() { # jwt
  local p=${1#*.}; p=${p%%.*}
  p=$(printf '%s' "$p" | tr '_-' '/+')
  case $(( ${#p} % 4 )) in 2) p+='==';; 3) p+='=';; esac
  printf '%s' "$p" | base64 -d 2>/dev/null || true
}

random_secret() { # 43 chars, base64url of 32 random bytes
  head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'
}

port_in_use() { # port
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

wait_ready() { # pid url name
  local pid=$1 url=$2 name=$3 deadline=$((SECONDS + READY_TIMEOUT)) code
  while (( SECONDS < deadline )); do
    if ! kill -0 "$pid" 2>/dev/null; then
      local rc=0
      wait "$pid" 2>/dev/null || rc=$?
      loud "$name exited (status $rc) before answering 200 on $url"
      return 1
    fi
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)
    [[ $code == 200 ]] && return 0
    sleep 0.2
  done
  log "$name did not answer 200 on $url within ${READY_TIMEOUT}s"
  return 1
}

peak_rss_kib() { # pid -> VmHWM in KiB
  awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo ""
}

# wrk latency value (e.g. 812.00us, 3.21ms, 1.02s, 2.00m) -> milliseconds
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000;
    printf "%.2f", n }'
}

# run_wrk URL BODY SECONDS [--latency] -> wrk output on stdout
run_wrk() {
  local url=$1 body=$2 secs=$3; shift 3
  WRK_BODY=$body WRK_STATUS_COUNTS=${WRK_STATUS_COUNTS:-0} \
    timeout --kill-after=5 $((secs + 30)) \
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${secs}s" --timeout 5s "$@" -s "$LUA" "$url"
}

# Results, keyed "<target>:<alg>".
declare -A RPS P99 NON2XX SOCKERR RSS STATUS
FAILED=0

# measure TARGET ALG URL BODY PID
measure() {
  local target=$1 alg=$2 url=$3 body=$4 pid=$5 out key="$1:$2"
  log "$target $alg: warm-up ${WARMUP}s"
  if (( WARMUP > 0 )); then
    run_wrk "$url" "$body" "$WARMUP" >>"$RAW_FILE" 2>&1 || true
  fi
  log "$target $alg: wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency"
  if ! out=$(run_wrk "$url" "$body" "$DURATION" --latency 2>&1); then
    printf '### %s %s: wrk failed\n%s\n' "$target" "$alg" "$out" >>"$RAW_FILE"
    loud "$target $alg: wrk failed"
    STATUS[$key]=FAILED; FAILED=1
    return
  fi
  printf '### %s %s (pid %s)\n%s\n\n' "$target" "$alg" "$pid" "$out" >>"$RAW_FILE"
  printf '%s\n' "$out" >&2

  RPS[$key]=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")
  P99[$key]=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
  NON2XX[$key]=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")
  NON2XX[$key]=${NON2XX[$key]:-0}
  # "Socket errors: connect 0, read 0, write 0, timeout 0"
  SOCKERR[$key]=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' <<<"$out")
  SOCKERR[$key]=${SOCKERR[$key]:-0}
  RSS[$key]=$(peak_rss_kib "$pid")
  STATUS[$key]=ok
  if [[ -z ${RPS[$key]} ]]; then
    STATUS[$key]=FAILED; FAILED=1
    loud "$target $alg: could not parse wrk output"
  elif (( NON2XX[$key] > 0 || SOCKERR[$key] > 0 )); then
    STATUS[$key]=FLAGGED; FAILED=1
    loud "$target $alg: ${NON2XX[$key]} non-2xx responses, ${SOCKERR[$key]} socket errors: numbers are not valid"
  fi
}

# check_token TARGET ALG RESPONSE-BODY HTTP-CODE -> 0 when the response is a
# 200 with a JWT access token whose header alg is ALG
check_token() {
  local target=$1 alg=$2 resp=$3 code=$4 at header got
  if [[ $code != 200 ]]; then
    loud "$target $alg: first token request answered HTTP $code: $resp"
    return 1
  fi
  at=$(json_get "$resp" access_token)
  if [[ -z $at || $at != *.*.* ]]; then
    loud "$target $alg: first token response has no JWT access_token: $resp"
    return 1
  fi
  header=$(jwt_header "$at")
  got=$(json_get "$header" alg)
  if [[ $got != "$alg" ]]; then
    loud "$target $alg: access token header alg is '$got', expected '$alg' (header: $header)"
    return 1
  fi
  log "$target $alg: first token OK, header $header"
  log "$target $alg: claims $(jwt_payload "$at")"
  return 0
}

# ---------------------------------------------------------- preflight -------
mkdir -p "$RESULTS_DIR" "$LOG_DIR"

APT_UPDATED=0
apt_install() { # package
  [[ $(id -u) == 0 ]] || die "'$1' is missing and this is not root: install it (apt-get install -y $1)"
  if (( ! APT_UPDATED )); then
    log "apt-get update"
    apt-get update -qq >&2 || die "apt-get update failed"
    APT_UPDATED=1
  fi
  log "apt-get install -y $1"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >&2 || die "apt-get install $1 failed"
}

command -v curl >/dev/null 2>&1 || apt_install curl
command -v wrk >/dev/null 2>&1 || apt_install wrk
command -v wrk >/dev/null 2>&1 || die "wrk is not installed"
if ! command -v jq >/dev/null 2>&1; then
  if [[ $(id -u) == 0 ]]; then apt_install jq; fi
  command -v jq >/dev/null 2>&1 || command -v python3 >/dev/null 2>&1 \
    || die "need jq or python3 for JSON parsing"
fi

if has_target oidc-provider; then
  command -v "$OP_NODE" >/dev/null 2>&1 || die "'$OP_NODE' not found (oidc-provider needs Node.js 20+; set OP_NODE)"
  command -v npm >/dev/null 2>&1 || [[ -f $OP_DIR/node_modules/oidc-provider/package.json ]] || die "npm is not installed"
  if [[ ! -f $OP_DIR/node_modules/oidc-provider/package.json ]]; then
    log "installing oidc-provider (npm ci in $OP_DIR)"
    (cd "$OP_DIR" && npm ci --no-audit --no-fund --loglevel=error) >&2 || die "npm ci failed"
  fi
  OP_VERSION=$("$OP_NODE" -p 'require(process.argv[1]).version' "$OP_DIR/node_modules/oidc-provider/package.json")
fi

if has_target writ; then
  if [[ ! -x $WRIT_BIN ]]; then
    die "$WRIT_BIN not found: build it first (cargo build --release), or run only the reference half with TARGETS=oidc-provider"
  fi
fi

if has_target oidc-provider && port_in_use "$OP_PORT"; then die "port $OP_PORT is already in use (set OP_PORT)"; fi
if has_target writ && port_in_use "$WRIT_PORT"; then die "port $WRIT_PORT is already in use (set WRIT_PORT)"; fi

: >"$RAW_FILE"

# ------------------------------------------------------- oidc-provider -----
run_oidc_provider() {
  local alg=$1 secret url pid resp code body
  secret=$(random_secret)
  url=http://127.0.0.1:$OP_PORT
  log "oidc-provider $alg: starting on $url"
  NODE_ENV=production PORT=$OP_PORT ALG=$alg BENCH_CLIENT_SECRET=$secret \
    "$OP_NODE" "$OP_DIR/server.mjs" >>"$LOG_DIR/oidc-provider-$alg.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  if ! wait_ready "$pid" "$url/.well-known/openid-configuration" "oidc-provider"; then
    tail -n 20 "$LOG_DIR/oidc-provider-$alg.log" >&2 || true
    STATUS[oidc-provider:$alg]=FAILED; FAILED=1
    stop_pid "$pid"
    return
  fi

  resp=$(curl -s --max-time 10 -w '\n%{http_code}' -X POST "$url/token" \
    --data-urlencode grant_type=client_credentials \
    --data-urlencode client_id=bench \
    --data-urlencode "client_secret=$secret" \
    --data-urlencode resource=https://bench.example/api \
    --data-urlencode scope=read:things || true)
  code=${resp##*$'\n'}; resp=${resp%$'\n'*}
  if ! check_token oidc-provider "$alg" "$resp" "$code"; then
    STATUS[oidc-provider:$alg]=FAILED; FAILED=1
    stop_pid "$pid"
    return
  fi

  body="grant_type=client_credentials&client_id=bench&client_secret=$(urlencode "$secret")"
  body+="&resource=$(urlencode https://bench.example/api)&scope=$(urlencode read:things)"
  measure oidc-provider "$alg" "$url/token" "$body" "$pid"
  stop_pid "$pid"
}

# ---------------------------------------------------------------- Writ -----
WRIT_PID=
WRIT_URL=http://127.0.0.1:$WRIT_PORT
WRIT_MGMT_TOKEN=
WRIT_CLIENT_ID=
WRIT_CLIENT_SECRET=

# api METHOD PATH JSON -> sets API_CODE and API_BODY
api() {
  local out auth=()
  [[ -n $WRIT_MGMT_TOKEN ]] && auth=(-H "Authorization: Bearer $WRIT_MGMT_TOKEN")
  out=$(curl -s --max-time 10 -w '\n%{http_code}' -X "$1" "$WRIT_URL$2" \
    -H 'Content-Type: application/json' -H 'Accept: application/json' \
    "${auth[@]}" --data-binary "$3" || true)
  API_CODE=${out##*$'\n'}; API_BODY=${out%$'\n'*}
}

start_writ() {
  local admin_secret
  admin_secret=$(random_secret)
  mkdir -p "$WRIT_TMP"
  rm -f "$WRIT_TMP"/writ.db "$WRIT_TMP"/writ.db-wal "$WRIT_TMP"/writ.db-shm "$WRIT_TMP"/writ.db-journal
  # No JWKS warm-up: each algorithm's API signs with its own key from the first token (the
  # default keeps a new ES256/EdDSA API on RS256 for two minutes while JWKS caches catch up).
  log "writ: starting $WRIT_BIN serve on $WRIT_URL (database $WRIT_TMP/writ.db)"
  WRIT_DATABASE_URL="sqlite://$WRIT_TMP/writ.db" \
  WRIT_LISTEN="127.0.0.1:$WRIT_PORT" \
  WRIT_ISSUER="$WRIT_URL/" \
  WRIT_BOOTSTRAP_CLIENT_ID=bench-admin \
  WRIT_BOOTSTRAP_CLIENT_SECRET="$admin_secret" \
  WRIT_JWKS_WARMUP_SECS=0 \
    "$WRIT_BIN" serve >>"$LOG_DIR/writ.log" 2>&1 &
  WRIT_PID=$!
  PIDS+=("$WRIT_PID")
  if ! wait_ready "$WRIT_PID" "$WRIT_URL/.well-known/openid-configuration" writ; then
    tail -n 30 "$LOG_DIR/writ.log" >&2 || true
    return 1
  fi

  # Management API token (Auth0 Management API v2 audience).
  api POST /oauth/token "$(jq -nc --arg s "$admin_secret" --arg a "$WRIT_URL/api/v2/" \
    '{grant_type:"client_credentials",client_id:"bench-admin",client_secret:$s,audience:$a}' 2>/dev/null \
    || python3 -c 'import json,sys;print(json.dumps({"grant_type":"client_credentials","client_id":"bench-admin","client_secret":sys.argv[1],"audience":sys.argv[2]}))' "$admin_secret" "$WRIT_URL/api/v2/")"
  WRIT_MGMT_TOKEN=$(json_get "$API_BODY" access_token)
  if [[ $API_CODE != 200 || -z $WRIT_MGMT_TOKEN ]]; then
    loud "writ: management token request answered HTTP $API_CODE: $API_BODY"
    return 1
  fi

  # One machine-to-machine client; one grant per API below.
  api POST /api/v2/clients '{"name":"bench","app_type":"non_interactive","grant_types":["client_credentials"]}'
  WRIT_CLIENT_ID=$(json_get "$API_BODY" client_id)
  WRIT_CLIENT_SECRET=$(json_get "$API_BODY" client_secret)
  if [[ ! $API_CODE =~ ^20[01]$ || -z $WRIT_CLIENT_ID || -z $WRIT_CLIENT_SECRET ]]; then
    loud "writ: POST /api/v2/clients answered HTTP $API_CODE: $API_BODY"
    return 1
  fi
  log "writ: created client $WRIT_CLIENT_ID"
}

setup_writ_api() { # alg -> creates the API https://bench.example/api-ALG and the client grant
  local alg=$1 aud=https://bench.example/api-$1
  api POST /api/v2/resource-servers \
    "{\"name\":\"Bench $alg\",\"identifier\":\"$aud\",\"signing_alg\":\"$alg\",\"scopes\":[{\"value\":\"read:things\",\"description\":\"r\"},{\"value\":\"write:things\",\"description\":\"w\"}]}"
  if [[ ! $API_CODE =~ ^20[01]$ ]]; then
    loud "writ $alg: POST /api/v2/resource-servers answered HTTP $API_CODE: $API_BODY"
    return 1
  fi
  api POST /api/v2/client-grants \
    "{\"client_id\":\"$WRIT_CLIENT_ID\",\"audience\":\"$aud\",\"scope\":[\"read:things\"]}"
  if [[ ! $API_CODE =~ ^20[01]$ ]]; then
    loud "writ $alg: POST /api/v2/client-grants answered HTTP $API_CODE: $API_BODY"
    return 1
  fi
}

run_writ() {
  local alg=$1 aud=https://bench.example/api-$1 resp code body
  if ! setup_writ_api "$alg"; then
    STATUS[writ:$alg]=FAILED; FAILED=1
    return
  fi
  resp=$(curl -s --max-time 10 -w '\n%{http_code}' -X POST "$WRIT_URL/oauth/token" \
    --data-urlencode grant_type=client_credentials \
    --data-urlencode "client_id=$WRIT_CLIENT_ID" \
    --data-urlencode "client_secret=$WRIT_CLIENT_SECRET" \
    --data-urlencode "audience=$aud" \
    --data-urlencode scope=read:things || true)
  code=${resp##*$'\n'}; resp=${resp%$'\n'*}
  if ! check_token writ "$alg" "$resp" "$code"; then
    STATUS[writ:$alg]=FAILED; FAILED=1
    return
  fi
  body="grant_type=client_credentials&client_id=$(urlencode "$WRIT_CLIENT_ID")"
  body+="&client_secret=$(urlencode "$WRIT_CLIENT_SECRET")"
  body+="&audience=$(urlencode "$aud")&scope=$(urlencode read:things)"
  measure writ "$alg" "$WRIT_URL/oauth/token" "$body" "$WRIT_PID"
}

# ----------------------------------------------------------------- run -----
LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')
log "DURATION=${DURATION}s WARMUP=${WARMUP}s wrk -t$THREADS -c$CONNECTIONS; algs: $ALGS; targets: $TARGETS"
log "logs (raw wrk output, server output): $LOG_DIR/"

if has_target oidc-provider; then
  for alg in $ALGS; do run_oidc_provider "$alg"; done
fi

if has_target writ; then
  if start_writ; then
    for alg in $ALGS; do
      if ! kill -0 "$WRIT_PID" 2>/dev/null; then
        loud "writ exited during the run (see $LOG_DIR/writ.log)"
        STATUS[writ:$alg]=FAILED; FAILED=1
        continue
      fi
      run_writ "$alg"
    done
  else
    for alg in $ALGS; do STATUS[writ:$alg]=FAILED; done
    FAILED=1
  fi
  [[ -n $WRIT_PID ]] && stop_pid "$WRIT_PID"
fi

# --------------------------------------------------------------- report ----
cell() { # target alg field
  local key="$1:$2" st
  st=${STATUS[$key]:-}
  if [[ -z $st ]]; then echo "-"; return; fi
  if [[ $st == FAILED ]]; then echo "FAILED"; return; fi
  case $3 in
    rps) echo "${RPS[$key]}" ;;
    p99) echo "${P99[$key]} ms" ;;
    rss) [[ -n ${RSS[$key]} ]] && awk -v k="${RSS[$key]}" 'BEGIN {printf "%.1f MiB", k / 1024}' || echo "?" ;;
    err) echo "${NON2XX[$key]}/${SOCKERR[$key]}" ;;
  esac
}

ratio() { # alg
  local w="writ:$1" o="oidc-provider:$1"
  if [[ ${STATUS[$w]:-} == ok && ${STATUS[$o]:-} == ok && ${RPS[$o]:-0} -gt 0 ]]; then
    awk -v a="${RPS[$w]}" -v b="${RPS[$o]}" 'BEGIN {printf "%.1fx", a / b}'
  elif [[ ${STATUS[$w]:-} == FLAGGED || ${STATUS[$o]:-} == FLAGGED ]]; then
    echo "INVALID"
  else
    echo "-"
  fi
}

{
  echo "# Writ token-endpoint load benchmark ($STAMP)"
  echo "# POST token, grant_type=client_credentials, JWT access token, wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s after ${WARMUP}s warm-up"
  echo "# host: $(nproc) cores, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || echo '?')"
  echo "# load average (1/5/15 min) at start: $LOADAVG_START, at end: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?') (other work on the machine skews results)"
  echo "# git: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- crates 2>/dev/null || echo ' (crates/ modified)')"
  echo "# $(wrk -v 2>&1 | head -n1 | awk '{print $1, $2}')"
  if has_target oidc-provider; then
    echo "# oidc-provider $OP_VERSION on node $("$OP_NODE" -v), NODE_ENV=production, one process per alg"
  fi
  if has_target writ; then
    echo "# writ: $WRIT_BIN ($(date -u -r "$WRIT_BIN" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || echo '?')), one process for all algs; its peak RSS is cumulative up to that alg"
  fi
  echo
  printf '%-6s | %11s | %10s | %14s | %10s | %7s | %13s | %13s | %s\n' \
    alg "writ req/s" "writ p99" "op req/s" "op p99" ratio "writ peak RSS" "op peak RSS" "errors writ, op (non-2xx/socket)"
  printf '%s\n' "-------+-------------+------------+----------------+------------+---------+---------------+---------------+----------------"
  for alg in $ALGS; do
    printf '%-6s | %11s | %10s | %14s | %10s | %7s | %13s | %13s | %s, %s\n' "$alg" \
      "$(cell writ "$alg" rps)" "$(cell writ "$alg" p99)" \
      "$(cell oidc-provider "$alg" rps)" "$(cell oidc-provider "$alg" p99)" \
      "$(ratio "$alg")" \
      "$(cell writ "$alg" rss)" "$(cell oidc-provider "$alg" rss)" \
      "$(cell writ "$alg" err)" "$(cell oidc-provider "$alg" err)"
  done
  echo
  echo "op = oidc-provider; ratio = writ req/s / op req/s; p99 from wrk --latency."
  echo "Targets: ratio >= 10x for ES256 and EdDSA; RS256 writ req/s >= 80% of the"
  echo "RS256 signing rate from 'cargo bench -p writ-server --bench tokens' (run separately)."
  if (( FAILED )); then
    echo
    echo "WARNING: at least one measurement FAILED or was FLAGGED (error responses); see $LOG_DIR/"
  fi
} | tee "$RESULT_FILE"

log "results: $RESULT_FILE"
exit "$FAILED"
