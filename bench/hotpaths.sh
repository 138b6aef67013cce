#!/usr/bin/env bash
# Hot paths side by side, in one run, alternated: the token endpoint's client_credentials
# grant (ES256 and RS256 access tokens) against the same server's `GET /health/live` (what
# the HTTP stack alone allows) and against oidc-provider (ES256), and refresh grants on SQLite
# (ES256 access token + RS256 ID token, as auth0-spa-js asks; RS256 access token alone)
# against the machine's RS256 signing rate, and password logins (the password grant, one
# argon2id verification each) against the raw argon2id verification rate on every core at the
# server's own parameters, each measured in turn, round after round, so that the machine's
# other load weighs on all of them alike. Prints each round's figures and the ratios (median
# over rounds).
#
# Refresh families are written straight into the SQLite database (fresh ones before each
# refresh measurement: Writ issues refresh tokens only through the authorization-code flow),
# and rotate under wrk (bench/wrk/refresh.lua). The RS256 signing rate is `openssl speed
# -multi <cores> rsa2048` (OpenSSL's RSA-2048 sign, close to aws-lc's; measured in the same
# rounds). The raw argon2id rate is writ-service's example `argon2_raw` (built here when
# missing), verifying the password against the very hash the server stored for the bench
# user: same parameters, the argon2 crate of the workspace's lock.
#
#   cargo build --release --workspace --bins && bench/hotpaths.sh
#
# Environment (all optional):
#   ROUNDS=3             rounds; odd rounds measure in order, even rounds in reverse order
#   DURATION=6           seconds per measurement (after WARMUP seconds unmeasured, once)
#   WARMUP=2
#   CONNECTIONS=16       wrk -c
#   THREADS=1            wrk -t (one wrk thread leaves more of 2 cores to the server)
#   OP=auto              oidc-provider: auto (when node and its modules are there), 1, 0
#   REFRESH=auto         refresh grants and the signing rate: auto (when sqlite3 and openssl
#                        are there), 1, 0
#   LOGIN=auto           password logins and the raw argon2id rate: auto (when sqlite3 is
#                        there), 1, 0
#   LOGIN_CONNECTIONS=8  wrk -c for logins (one user from one address: the login limiter
#                        counts attempts in flight against its 10 per user and address)
#   ARGON2_RAW_BIN=      the raw argon2id program (default: writ-service's example argon2_raw, built when missing)
#   WRIT_PORT=3300 OP_PORT=3101 (127.0.0.1 only)
#   WRIT_BIN=target/release/writ (or $CARGO_TARGET_DIR/release/writ when that exists)
#   OP_NODE=node
#   RESULTS_DIR=bench/results
#   LABEL=               a note for the results header (e.g. which build WRIT_BIN is)
#
# Exit status: 0 when every measurement ran without an error response; 1 otherwise; 2 on a
# setup error. Every process started here is stopped on exit.

set -Eeuo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-6}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-1}
OP=${OP:-auto}
WRIT_PORT=${WRIT_PORT:-3300}
OP_PORT=${OP_PORT:-3101}
OP_NODE=${OP_NODE:-node}
RESULTS_DIR=${RESULTS_DIR:-$BENCH_DIR/results}
if [[ -z ${WRIT_BIN:-} ]]; then
  WRIT_BIN=$ROOT/target/release/writ
  if [[ -n ${CARGO_TARGET_DIR:-} && -x $CARGO_TARGET_DIR/release/writ ]]; then
    WRIT_BIN=$CARGO_TARGET_DIR/release/writ
  fi
fi

OP_DIR=$BENCH_DIR/oidc-provider
LUA=$BENCH_DIR/wrk/token.lua
TMP=$(mktemp -d "${TMPDIR:-/tmp}/writ-hotpaths.XXXXXX")
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RESULT_FILE=$RESULTS_DIR/hotpaths-$STAMP.txt
LOG_DIR=$RESULTS_DIR/hotpaths-$STAMP.logs

log() { printf '[hotpaths] %s\n' "$*" >&2; }
die() { printf '[hotpaths] ERROR: %s\n' "$*" >&2; exit 2; }

for v in ROUNDS DURATION WARMUP CONNECTIONS THREADS WRIT_PORT OP_PORT; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, got '${!v}'"
done
command -v wrk >/dev/null || die "wrk is not installed (apt-get install -y wrk)"
command -v jq >/dev/null || die "jq is not installed (apt-get install -y jq)"
REFRESH=${REFRESH:-auto}
case $REFRESH in
  auto) if command -v sqlite3 >/dev/null && command -v openssl >/dev/null; then REFRESH=1; else REFRESH=0; fi ;;
  0|1) ;;
  *) die "REFRESH must be auto, 0 or 1" ;;
esac
LOGIN=${LOGIN:-auto}
LOGIN_CONNECTIONS=${LOGIN_CONNECTIONS:-8}
[[ $LOGIN_CONNECTIONS =~ ^[0-9]+$ ]] || die "LOGIN_CONNECTIONS must be a whole number"
case $LOGIN in
  auto) if command -v sqlite3 >/dev/null; then LOGIN=1; else LOGIN=0; fi ;;
  0|1) ;;
  *) die "LOGIN must be auto, 0 or 1" ;;
esac
if [[ $LOGIN == 1 && -z ${ARGON2_RAW_BIN:-} ]]; then
  ARGON2_RAW_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/argon2_raw
  if [[ ! -x $ARGON2_RAW_BIN ]]; then
    log "building writ-service's example argon2_raw"
    (cd "$ROOT" && cargo build -q --release -p writ-service --example argon2_raw) >&2 \
      || die "could not build the argon2_raw example"
  fi
fi
[[ -x $WRIT_BIN ]] || die "$WRIT_BIN not found: cargo build --release --workspace --bins (or set WRIT_BIN)"
case $OP in
  auto) if command -v "$OP_NODE" >/dev/null && [[ -f $OP_DIR/node_modules/oidc-provider/package.json ]]; then OP=1; else OP=0; fi ;;
  0|1) ;;
  *) die "OP must be auto, 0 or 1" ;;
esac
if [[ $OP == 1 && ! -f $OP_DIR/node_modules/oidc-provider/package.json ]]; then
  (cd "$OP_DIR" && npm ci --no-audit --no-fund --loglevel=error) >&2 || die "npm ci failed in $OP_DIR"
fi
mkdir -p "$RESULTS_DIR" "$LOG_DIR"

PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

wait_ready() { # url
  local deadline=$((SECONDS + 60))
  while (( SECONDS < deadline )); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" || true) == 200 ]] && return 0
    sleep 0.2
  done
  die "$1 did not answer 200 within 60 s (logs in $LOG_DIR)"
}

secret() { head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'; }
uri() { jq -rn --arg v "$1" '$v|@uri'; }

# ------------------------------------------------------------------ Writ ----
WRIT=http://127.0.0.1:$WRIT_PORT
ADMIN_SECRET=$(secret)
log "starting $WRIT_BIN serve on $WRIT (SQLite in $TMP)"
WRIT_DATABASE_URL="sqlite://$TMP/writ.db" WRIT_LISTEN="127.0.0.1:$WRIT_PORT" WRIT_ISSUER="$WRIT/" \
  WRIT_BOOTSTRAP_CLIENT_ID=bench-admin WRIT_BOOTSTRAP_CLIENT_SECRET="$ADMIN_SECRET" \
  WRIT_JWKS_WARMUP_SECS=0 "$WRIT_BIN" serve >"$LOG_DIR/writ.log" 2>&1 &
PIDS+=($!)
wait_ready "$WRIT/health/live"

MGMT=
api() { # METHOD PATH JSON -> body on stdout; dies unless 2xx
  local out code auth=()
  [[ -n $MGMT ]] && auth=(-H "Authorization: Bearer $MGMT")
  out=$(curl -s --max-time 10 -w '\n%{http_code}' -X "$1" "$WRIT$2" -H 'Content-Type: application/json' \
    "${auth[@]}" --data-binary "$3")
  code=${out##*$'\n'}
  [[ $code == 2* ]] || die "$1 $2 answered $code: ${out%$'\n'*}"
  printf '%s' "${out%$'\n'*}"
}
MGMT=$(api POST /oauth/token "$(jq -nc --arg s "$ADMIN_SECRET" --arg a "$WRIT/api/v2/" \
  '{grant_type:"client_credentials",client_id:"bench-admin",client_secret:$s,audience:$a}')" | jq -r .access_token)
CLIENT=$(api POST /api/v2/clients '{"name":"bench","app_type":"non_interactive","grant_types":["client_credentials"]}')
CID=$(jq -r .client_id <<<"$CLIENT")
CSECRET=$(jq -r .client_secret <<<"$CLIENT")
for alg in ES256 RS256; do
  aud=https://bench.example/api-$alg
  api POST /api/v2/resource-servers "$(jq -nc --arg a "$aud" --arg alg "$alg" \
    '{name:("Bench " + $alg),identifier:$a,signing_alg:$alg,allow_offline_access:true,scopes:[{value:"read:things",description:"r"}]}')" >/dev/null
  api POST /api/v2/client-grants "$(jq -nc --arg c "$CID" --arg a "$aud" \
    '{client_id:$c,audience:$a,scope:["read:things"]}')" >/dev/null
done
if [[ $REFRESH == 1 ]]; then
  # A client that refreshes, a user, and the RS256 API (the ES256 one exists).
  RCLIENT=$(api POST /api/v2/clients '{"name":"bench-web","app_type":"regular_web","grant_types":["authorization_code","refresh_token"],"callbacks":["https://bench.example/cb"]}')
  RCID=$(jq -r .client_id <<<"$RCLIENT")
  RCSECRET=$(jq -r .client_secret <<<"$RCLIENT")
  RUSER=$(api POST /api/v2/users "$(jq -nc --arg p "$(secret)" \
    '{email:"bench@example.com",password:("Aa1!" + $p),connection:"Username-Password-Authentication"}')" | jq -r .user_id)
fi
if [[ $LOGIN == 1 ]]; then
  # A first-party client allowed the password grant, and a user whose stored hash the raw
  # argon2id measurement verifies against (so both use the server's parameters).
  LCLIENT=$(api POST /api/v2/clients '{"name":"bench-login","app_type":"regular_web","grant_types":["password"],"callbacks":["https://bench.example/cb"]}')
  LCID=$(jq -r .client_id <<<"$LCLIENT")
  LCSECRET=$(jq -r .client_secret <<<"$LCLIENT")
  LPASS="Aa1!$(secret)"
  LUSER=$(api POST /api/v2/users "$(jq -nc --arg p "$LPASS" \
    '{email:"login@example.com",password:$p,connection:"Username-Password-Authentication"}')" | jq -r .user_id)
  LPHC=$(sqlite3 -cmd '.timeout 10000' "$TMP/writ.db" "SELECT password_hash FROM users WHERE id = '$LUSER'")
  [[ $LPHC == '$argon2id$'* ]] || die "the bench user's stored hash is not argon2id: $LPHC"
  "$ARGON2_RAW_BIN" "$LPHC" "$LPASS" 0.1 1 >/dev/null || die "$ARGON2_RAW_BIN does not verify the stored hash"
fi
# new_families AUDIENCE SCOPE -> fresh refresh tokens (space separated), their rows inserted
new_families() {
  local now toks="" sql="" t id fam
  now=$(date +%s)
  # A few more families than connections: wrk builds one request per thread before it
  # connects and never sends it, so its token is taken and never comes back.
  for _ in $(seq $((CONNECTIONS + 4))); do
    t=$(secret); fam=$(secret)
    id=$(printf '%s' "$t" | sha256sum | cut -d' ' -f1)
    sql+="('$id','$fam',NULL,'$RCID','$RUSER','$1','$2',NULL,$now,$now,$((now + 86400)),$((now + 86400 * 30)),NULL,0),"
    toks+="$t "
  done
  sqlite3 -cmd '.timeout 10000' "$TMP/writ.db" \
    "INSERT INTO refresh_tokens (id, family_id, parent_id, client_id, user_id, audience, scope, sid, auth_time, created_at, idle_expires_at, family_expires_at, used_at, revoked) VALUES ${sql%,};" \
    || die "could not insert refresh families"
  printf '%s' "$toks"
}

cc_body() { # alg
  printf 'grant_type=client_credentials&client_id=%s&client_secret=%s&audience=%s&scope=read%%3Athings' \
    "$(uri "$CID")" "$(uri "$CSECRET")" "$(uri "https://bench.example/api-$1")"
}

# --------------------------------------------------------- oidc-provider ----
if [[ $OP == 1 ]]; then
  OP_SECRET=$(secret)
  log "starting oidc-provider (ES256) on 127.0.0.1:$OP_PORT"
  NODE_ENV=production PORT=$OP_PORT ALG=ES256 BENCH_CLIENT_SECRET=$OP_SECRET \
    "$OP_NODE" "$OP_DIR/server.mjs" >"$LOG_DIR/oidc-provider.log" 2>&1 &
  PIDS+=($!)
  wait_ready "http://127.0.0.1:$OP_PORT/.well-known/openid-configuration"
  OP_BODY="grant_type=client_credentials&client_id=bench&client_secret=$(uri "$OP_SECRET")"
  OP_BODY+="&resource=$(uri https://bench.example/api)&scope=read%3Athings"
fi

# ------------------------------------------------------------ measuring -----
# name -> "url|body" (no body: GET)
declare -A URL BODY SCOPE AUD
NAMES=(live cc-ES256 cc-RS256)
URL[live]=$WRIT/health/live
URL[cc-ES256]=$WRIT/oauth/token; BODY[cc-ES256]=$(cc_body ES256)
URL[cc-RS256]=$WRIT/oauth/token; BODY[cc-RS256]=$(cc_body RS256)
if [[ $REFRESH == 1 ]]; then
  NAMES+=(rf-ES256-id rf-RS256 rsa-sign)
  URL[rf-ES256-id]=$WRIT/oauth/token; SCOPE[rf-ES256-id]="openid offline_access read:things"; AUD[rf-ES256-id]=https://bench.example/api-ES256
  URL[rf-RS256]=$WRIT/oauth/token; SCOPE[rf-RS256]="offline_access read:things"; AUD[rf-RS256]=https://bench.example/api-RS256
fi
if [[ $LOGIN == 1 ]]; then
  NAMES+=(login argon2-raw)
  URL[login]=$WRIT/oauth/token
  BODY[login]="grant_type=password&client_id=$(uri "$LCID")&client_secret=$(uri "$LCSECRET")&username=login%40example.com"
  BODY[login]+="&password=$(uri "$LPASS")&audience=$(uri https://bench.example/api-ES256)"
fi
if [[ $OP == 1 ]]; then
  NAMES+=(op-ES256)
  URL[op-ES256]=http://127.0.0.1:$OP_PORT/token; BODY[op-ES256]=$OP_BODY
fi

# Each token endpoint must answer 200 with a JWT before anything is measured.
for n in "${NAMES[@]}"; do
  [[ -z ${BODY[$n]:-} ]] && continue
  out=$(curl -s --max-time 10 -X POST "${URL[$n]}" -H 'Content-Type: application/x-www-form-urlencoded' \
    --data-binary "${BODY[$n]}")
  [[ $(jq -r '.access_token // ""' <<<"$out") == *.*.* ]] || die "$n: no JWT in the first answer: $out"
done
for n in "${NAMES[@]}"; do
  [[ -z ${SCOPE[$n]:-} ]] && continue
  t=$(new_families "${AUD[$n]}" "${SCOPE[$n]}"); t=${t%% *}
  out=$(curl -s --max-time 10 -X POST "${URL[$n]}" --data-urlencode grant_type=refresh_token \
    --data-urlencode "client_id=$RCID" --data-urlencode "client_secret=$RCSECRET" --data-urlencode "refresh_token=$t")
  [[ $(jq -r '.refresh_token // ""' <<<"$out") != "" && $(jq -r '.access_token // ""' <<<"$out") == *.*.* ]] \
    || die "$n: the first refresh did not rotate: $out"
  if [[ ${SCOPE[$n]} == openid* && $(jq -r '.id_token // ""' <<<"$out") != *.*.* ]]; then
    die "$n: no ID token in the first refresh: $out"
  fi
done

FAILED=0
run() { # name seconds -> req/s on stdout (0 when flagged)
  local n=$1 out rps bad
  if [[ $n == rsa-sign ]]; then
    # RSA-2048 signatures per second on every core (OpenSSL).
    out=$(openssl speed -seconds "$2" -multi "$(nproc)" rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ {print $(NF-1)}' | tail -n1)
    printf '### %s\n%s\n' "$n" "$out" >>"$LOG_DIR/wrk.log"
    printf '%.0f\n' "${out:-0}"
    return
  fi
  if [[ $n == argon2-raw ]]; then
    # argon2id verifications per second on every core, of the bench user's stored hash.
    out=$("$ARGON2_RAW_BIN" "$LPHC" "$LPASS" "$2" 2>&1) || out=0
    printf '### %s\n%s\n' "$n" "$out" >>"$LOG_DIR/wrk.log"
    printf '%.1f\n' "${out:-0}"
    return
  fi
  if [[ -n ${SCOPE[$n]:-} ]]; then
    out=$(WRK_REFRESH_TOKENS=$(new_families "${AUD[$n]}" "${SCOPE[$n]}") \
      WRK_CLIENT="client_id=$(uri "$RCID")&client_secret=$(uri "$RCSECRET")" \
      timeout $(($2 + 30)) wrk -t1 -c"${RF_CONNECTIONS:-$CONNECTIONS}" -d"$2s" --timeout 5s \
      -s "${REFRESH_LUA:-$BENCH_DIR/wrk/refresh.lua}" "${URL[$n]}" 2>&1) || true
  elif [[ -n ${BODY[$n]:-} ]]; then
    local c=$CONNECTIONS
    [[ $n == login ]] && c=$LOGIN_CONNECTIONS
    out=$(WRK_BODY=${BODY[$n]} timeout $(($2 + 30)) wrk -t"$THREADS" -c"$c" -d"$2s" --timeout 5s \
      -s "$LUA" "${URL[$n]}" 2>&1) || true
  else
    out=$(timeout $(($2 + 30)) wrk -t"$THREADS" -c"$CONNECTIONS" -d"$2s" --timeout 5s "${URL[$n]}" 2>&1) || true
  fi
  printf '### %s\n%s\n' "$n" "$out" >>"$LOG_DIR/wrk.log"
  rps=$(awk '/^Requests\/sec:/ {printf "%.1f", $2}' <<<"$out")
  bad=$(awk '/Non-2xx or 3xx responses:/ {n += $NF} /Socket errors:/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + 0}' <<<"$out")
  if [[ -z $rps || $bad != 0 ]]; then
    log "$n: FLAGGED ($bad errors or no result; see $LOG_DIR/wrk.log)"
    FAILED=1; echo 0; return
  fi
  echo "$rps"
}

log "warm-up ${WARMUP}s each"
for n in "${NAMES[@]}"; do (( WARMUP > 0 )) && run "$n" "$WARMUP" >/dev/null; done

declare -A R  # "name:round" -> req/s
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 1; r <= ROUNDS; r++)); do
  order=("${NAMES[@]}")
  if (( r % 2 == 0 )); then
    order=(); for ((i = ${#NAMES[@]} - 1; i >= 0; i--)); do order+=("${NAMES[$i]}"); done
  fi
  for n in "${order[@]}"; do
    R[$n:$r]=$(run "$n" "$DURATION")
    log "round $r: $n ${R[$n:$r]} req/s"
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR] = $1} END {if (NR == 0) print 0; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.3f", a / b; else print "-"}'; }

{
  echo "# Writ hot paths, side by side ($STAMP)"
  echo "# wrk -t$THREADS -c$CONNECTIONS, ${DURATION}s per measurement, $ROUNDS rounds alternated (even rounds reversed)"
  echo "# host: $(nproc) cores; load average at start $LOAD_START, at end $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# git: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- crates 2>/dev/null || echo ' (crates/ modified)'); writ: $WRIT_BIN"
  [[ -n ${LABEL:-} ]] && echo "# note: $LABEL"
  [[ $OP == 1 ]] && echo "# oidc-provider $("$OP_NODE" -p 'require(process.argv[1]).version' "$OP_DIR/node_modules/oidc-provider/package.json") on node $("$OP_NODE" -v)"
  echo
  printf '%-12s' req/s; for ((r = 1; r <= ROUNDS; r++)); do printf ' | %9s' "round $r"; done; printf ' | %9s\n' median
  for n in "${NAMES[@]}"; do
    printf '%-12s' "$n"; all=
    for ((r = 1; r <= ROUNDS; r++)); do printf ' | %9s' "${R[$n:$r]}"; all+=" ${R[$n:$r]}"; done
    printf ' | %9s\n' "$(median <<<"$all")"
  done
  echo
  echo "ratios, per round then median:"
  pairs=("cc-ES256/live" "cc-RS256/live")
  [[ $OP == 1 ]] && pairs+=("cc-ES256/op-ES256")
  [[ $REFRESH == 1 ]] && pairs+=("rf-RS256/rsa-sign")
  [[ $LOGIN == 1 ]] && pairs+=("login/argon2-raw")
  for p in "${pairs[@]}"; do
    a=${p%/*}; b=${p#*/}; all=
    printf '  %-18s' "$p"
    for ((r = 1; r <= ROUNDS; r++)); do x=$(ratio "${R[$a:$r]}" "${R[$b:$r]}"); printf ' %7s' "$x"; all+=" $x"; done
    printf '   median %s\n' "$(median <<<"${all//-/}")"
  done
  echo
  echo "live = GET /health/live on the same Writ process; cc-* = POST /oauth/token, client_credentials,"
  echo "client_secret_post, JWT access token signed with ES256/RS256; op-ES256 = oidc-provider, same grant."
  echo "rf-* = POST /oauth/token, refresh_token grant with rotation on SQLite, 16 families (rf-ES256-id: ES256"
  echo "access token + RS256 ID token; rf-RS256: RS256 access token); rsa-sign = openssl speed rsa2048 sign/s, all cores."
  echo "login = POST /oauth/token, password grant (ES256 access token), wrk -c$LOGIN_CONNECTIONS, one argon2id verification"
  echo "each; argon2-raw = argon2id verifications/s of the same stored hash on every core (bench/argon2-raw)."
  echo "Goals (issue 13): cc-ES256/live >= 0.40, cc-ES256/op-ES256 >= 10, rf-ES256-id >= 4000/s,"
  echo "rf-RS256/rsa-sign >= 0.50, login/argon2-raw >= 0.90."
  # An `if`, not `&&`: a false test would end the block with status 1, which pipefail and
  # errexit would turn into the script's (a clean run exiting 1, before the lines below).
  if (( FAILED )); then echo "WARNING: some measurement was FLAGGED (error responses): see $LOG_DIR/wrk.log"; fi
} | tee "$RESULT_FILE"
log "results: $RESULT_FILE"
exit "$FAILED"
