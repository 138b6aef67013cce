#!/usr/bin/env bash
# Instructions per token request, counted by callgrind (stable on a shared, loaded machine,
# unlike wall-clock rates): starts `writ serve` under `valgrind --tool=callgrind` with
# instrumentation off, sets up one client_credentials client and an API per algorithm through
# the Management API, then for each of `/health/live` and the client_credentials grant (ES256,
# RS256) turns instrumentation on, makes COUNT sequential requests, dumps and prints the
# instructions per request (total Ir / COUNT) and the top functions (inclusive).
#
#   cargo build --release --workspace --bins && bench/callgrind-token.sh
#
# With REFRESH=1 (the default; needs sqlite3) it also counts refresh grants with rotation on
# SQLite: ES256 access token + RS256 ID token, and ES256 alone (one family, COUNT rotations).
#
# Environment: COUNT=300, WRIT_BIN (default target/release/writ or $CARGO_TARGET_DIR's),
# WRIT_PORT=3310, TOP=25 (functions listed per profile), OUT (default a fresh temp dir; the
# callgrind.out.* files stay there for callgrind_annotate / kcachegrind).

set -Eeuo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
COUNT=${COUNT:-300}
WRIT_PORT=${WRIT_PORT:-3310}
TOP=${TOP:-25}
if [[ -z ${WRIT_BIN:-} ]]; then
  WRIT_BIN=$ROOT/target/release/writ
  [[ -n ${CARGO_TARGET_DIR:-} && -x $CARGO_TARGET_DIR/release/writ ]] && WRIT_BIN=$CARGO_TARGET_DIR/release/writ
fi
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/writ-callgrind.XXXXXX")}
die() { printf '[callgrind] ERROR: %s\n' "$*" >&2; exit 2; }
for c in valgrind callgrind_control callgrind_annotate curl jq; do command -v $c >/dev/null || die "$c is missing"; done
[[ -x $WRIT_BIN ]] || die "$WRIT_BIN not found"
mkdir -p "$OUT"

WRIT=http://127.0.0.1:$WRIT_PORT
ADMIN_SECRET=$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
WRIT_DATABASE_URL="sqlite://$OUT/writ.db" WRIT_LISTEN="127.0.0.1:$WRIT_PORT" WRIT_ISSUER="$WRIT/" \
  WRIT_BOOTSTRAP_CLIENT_ID=bench-admin WRIT_BOOTSTRAP_CLIENT_SECRET="$ADMIN_SECRET" \
  WRIT_JWKS_WARMUP_SECS=0 valgrind --tool=callgrind --instr-atstart=no \
  --callgrind-out-file="$OUT/callgrind.out.%p" "$WRIT_BIN" serve >"$OUT/writ.log" 2>&1 &
VG=$!
trap 'kill -TERM $VG 2>/dev/null || true; wait $VG 2>/dev/null || true' EXIT
for _ in $(seq 600); do
  [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$WRIT/health/live" || true) == 200 ]] && break
  sleep 0.5
done

MGMT=
api() {
  local auth=()
  [[ -n $MGMT ]] && auth=(-H "Authorization: Bearer $MGMT")
  curl -sf --max-time 60 -X "$1" "$WRIT$2" -H 'Content-Type: application/json' "${auth[@]}" --data-binary "$3"
}
MGMT=$(api POST /oauth/token "$(jq -nc --arg s "$ADMIN_SECRET" --arg a "$WRIT/api/v2/" \
  '{grant_type:"client_credentials",client_id:"bench-admin",client_secret:$s,audience:$a}')" | jq -r .access_token)
CLIENT=$(api POST /api/v2/clients '{"name":"bench","app_type":"non_interactive","grant_types":["client_credentials"]}')
CID=$(jq -r .client_id <<<"$CLIENT"); CSECRET=$(jq -r .client_secret <<<"$CLIENT")
for alg in ES256 RS256; do
  api POST /api/v2/resource-servers "$(jq -nc --arg a "https://bench.example/api-$alg" --arg alg "$alg" \
    '{name:("Bench " + $alg),identifier:$a,signing_alg:$alg,scopes:[{value:"read:things",description:"r"}]}')" >/dev/null
  api POST /api/v2/client-grants "$(jq -nc --arg c "$CID" --arg a "https://bench.example/api-$alg" \
    '{client_id:$c,audience:$a,scope:["read:things"]}')" >/dev/null
done

# measure_start: zeroes the counters and starts counting. measure_end NAME: stops, dumps the
# profile as NAME, and sets PROFILE (its file) and IR (its total instructions).
measure_start() {
  callgrind_control -z "$VG" >/dev/null
  callgrind_control -i on "$VG" >/dev/null
}
measure_end() {
  callgrind_control -i off "$VG" >/dev/null
  callgrind_control -d "$1" "$VG" >/dev/null
  sleep 1
  PROFILE=$(ls "$OUT"/callgrind.out."$VG".* | sort -t. -k4 -n | tail -n1)
  IR=$(awk '/^totals:/ {print $2}' "$PROFILE")
}

# One curl process makes all COUNT requests over one kept-alive connection (`next` keeps
# each request's options its own).
requests() { # name url [body]
  local cfg=$OUT/$1.curl
  : >"$cfg"
  for _ in $(seq "$COUNT"); do
    if [[ -n ${3:-} ]]; then
      printf 'url = "%s"\ndata = "%s"\noutput = /dev/null\nheader = "Content-Type: application/x-www-form-urlencoded"\nwrite-out = "%%{http_code}\\n"\nnext\n' "$2" "$3" >>"$cfg"
    else
      printf 'url = "%s"\noutput = /dev/null\nwrite-out = "%%{http_code}\\n"\nnext\n' "$2" >>"$cfg"
    fi
  done
  sed -i '$d' "$cfg"  # no `next` after the last one
  # One warm-up request outside the measurement.
  curl -s -o /dev/null ${3:+--data "$3"} "$2"
  measure_start
  curl -s -K "$cfg" | sort | uniq -c >"$OUT/$1.codes"
  measure_end "$1"
  printf '%-12s %10.0f instructions/request  (%s requests: %s)\n' "$1" "$(awk -v a="$IR" -v n="$COUNT" 'BEGIN {print a / n}')" \
    "$COUNT" "$(tr -s ' \n' ' ' <"$OUT/$1.codes")"
  callgrind_annotate --inclusive=yes "$PROFILE" 2>/dev/null | grep -E '^ *[0-9,]+ ' | head -n "$TOP" >"$OUT/$1.top" || true
}

body() { printf 'grant_type=client_credentials&client_id=%s&client_secret=%s&audience=%s&scope=read%%3Athings' \
  "$CID" "$CSECRET" "$(jq -rn --arg v "https://bench.example/api-$1" '$v|@uri')"; }
# refresh_grant NAME AUDIENCE SCOPE: COUNT rotations of one family, each presenting the token
# the previous answer carried (one curl per request; the family is inserted into SQLite).
refresh_grant() {
  local t id now out n=0
  command -v sqlite3 >/dev/null || { echo "$1: sqlite3 is missing, skipped"; return; }
  t=$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
  id=$(printf '%s' "$t" | sha256sum | cut -d' ' -f1); now=$(date +%s)
  sqlite3 -cmd '.timeout 10000' "$OUT/writ.db" "INSERT INTO refresh_tokens (id, family_id, client_id, user_id, audience, scope, auth_time, created_at, idle_expires_at, family_expires_at, revoked) VALUES ('$id', '$id', '$RCID', '$RUSER', '$2', '$3', $now, $now, $((now + 86400)), $((now + 864000)), 0)"
  rotate() { curl -s --max-time 60 "$WRIT/oauth/token" --data-urlencode grant_type=refresh_token \
    --data-urlencode "client_id=$RCID" --data-urlencode "client_secret=$RCSECRET" --data-urlencode "refresh_token=$t" | jq -r '.refresh_token // empty'; }
  t=$(rotate)  # warm-up, outside the measurement
  measure_start
  for _ in $(seq "$COUNT"); do
    t=$(rotate)
    [[ -n $t ]] || break
    n=$((n + 1))
  done
  measure_end "$1"
  printf '%-12s %10.0f instructions/request  (%s rotations of %s answered 200)\n' "$1" \
    "$(awk -v a="$IR" -v n="$n" 'BEGIN {print (n > 0 ? a / n : 0)}')" "$n" "$COUNT"
}

requests live "$WRIT/health/live"
requests cc-ES256 "$WRIT/oauth/token" "$(body ES256)"
requests cc-RS256 "$WRIT/oauth/token" "$(body RS256)"
if [[ ${REFRESH:-1} == 1 ]]; then
  RCLIENT=$(api POST /api/v2/clients '{"name":"bench-web","app_type":"regular_web","grant_types":["authorization_code","refresh_token"],"callbacks":["https://bench.example/cb"]}')
  RCID=$(jq -r .client_id <<<"$RCLIENT"); RCSECRET=$(jq -r .client_secret <<<"$RCLIENT")
  RUSER=$(api POST /api/v2/users '{"email":"bench@example.com","password":"Aa1!bench-password-long","connection":"Username-Password-Authentication"}' | jq -r .user_id)
  refresh_grant rf-ES256-id https://bench.example/api-ES256 "openid offline_access read:things"
  refresh_grant rf-ES256 https://bench.example/api-ES256 "offline_access read:things"
fi
echo "profiles and top-$TOP inclusive lists (*.top) in $OUT"
