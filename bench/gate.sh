#!/usr/bin/env bash
# writ gate benchmarks, in one run on this machine:
#
#  1. Propagation: Management API 2xx → first 401 at the gate for the previous token, over
#     CHANGES permission changes (crates/writ-gate/examples/propagation.rs). Target p99 ≤ 100 ms.
#  2. auth_request load: wrk -c16 against nginx proxying a static upstream, without and with
#     `auth_request` to `writ gate` (which follows the authz event feed), same token, same
#     upstream: req/s and p99 of each, and the gate's overhead.
#
#   cargo build --release -p writ && bench/gate.sh
#
# Knobs: CHANGES (1000), DURATION (10 s), CONNECTIONS (16), THREADS (2), ALG (ES256: the
# demo API's; RS256 re-signs nothing, it changes the demo API's signing_alg first).
# Servers listen on 127.0.0.1 only: Writ 3400, gate 4400, nginx 8400-8402.
set -euo pipefail
cd "$(dirname "$0")/.."
CHANGES=${CHANGES:-1000}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-2}
ALG=${ALG:-ES256}
WRIT_BIN=${WRIT_BIN:-target/release/writ}
RESULTS_DIR=${RESULTS_DIR:-bench/results}

log() { printf '[gate-bench] %s\n' "$*" >&2; }
die() { printf '[gate-bench] ERROR: %s\n' "$*" >&2; exit 2; }
[ -x "$WRIT_BIN" ] || die "$WRIT_BIN is missing: cargo build --release -p writ"
command -v nginx >/dev/null || { apt-get update -qq && apt-get install -y -qq nginx >/dev/null; }
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v jq >/dev/null || { apt-get update -qq && apt-get install -y -qq jq >/dev/null; }

work=$(mktemp -d "${TMPDIR:-/tmp}/writ-gate-bench.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

wait_http() { # url
  for _ in $(seq 1 300); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" || true)
    [ -n "$code" ] && [ "$code" != 000 ] && return 0
    sleep 0.1
  done
  die "$1 did not answer"
}

ISSUER=http://127.0.0.1:3400/
ADMIN_ID=bench-admin
ADMIN_SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
log "starting writ demo on 127.0.0.1:3400"
WRIT_ISSUER=$ISSUER WRIT_LISTEN=127.0.0.1:3400 WRIT_DATABASE_URL="sqlite://$work/writ.db" \
  WRIT_BOOTSTRAP_CLIENT_ID=$ADMIN_ID WRIT_BOOTSTRAP_CLIENT_SECRET=$ADMIN_SECRET RUST_LOG=warn \
  "$WRIT_BIN" demo >"$work/writ.log" 2>&1 &
pids+=($!)
wait_http "${ISSUER}.well-known/openid-configuration"

admin=$(curl -s "${ISSUER}oauth/token" -d grant_type=client_credentials -d client_id=$ADMIN_ID \
  -d client_secret="$ADMIN_SECRET" -d audience="${ISSUER}api/v2/" | jq -r .access_token)
if [ "$ALG" != ES256 ]; then
  api_id=$(curl -s -H "authorization: Bearer $admin" "${ISSUER}api/v2/resource-servers/https%3A%2F%2Ftodos.example%2Fapi" | jq -r .id)
  curl -s -o /dev/null -X PATCH -H "authorization: Bearer $admin" -H 'content-type: application/json' \
    -d "{\"signing_alg\":\"$ALG\"}" "${ISSUER}api/v2/resource-servers/$api_id"
fi

cat >"$work/gate.rules" <<'EOF'
GET /api/todos/* => read:todos
EOF
log "starting writ gate on 127.0.0.1:4400 (following the event feed)"
RUST_LOG=warn WRIT_GATE_EVENTS_CLIENT_ID=demo-todos-api \
  WRIT_GATE_EVENTS_CLIENT_SECRET=demo-todos-api-secret-change-me \
  "$WRIT_BIN" gate --issuer $ISSUER --audience https://todos.example/api \
  --listen 127.0.0.1:4400 --rules "$work/gate.rules" >"$work/gate.log" 2>&1 &
pids+=($!)
wait_http http://127.0.0.1:4400/healthz

log "propagation over $CHANGES changes"
cargo build --release --quiet -p writ-gate --example propagation
propagation=$(target/release/examples/propagation "$ISSUER" http://127.0.0.1:4400 "$ADMIN_ID" "$ADMIN_SECRET" "$CHANGES")
log "$propagation"

mkdir -p "$work/nginx/logs"
cat >"$work/nginx/nginx.conf" <<EOF
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  upstream api { server 127.0.0.1:8400; keepalive 32; }
  upstream gate { server 127.0.0.1:4400; keepalive 32; }
  # The API: a static answer, so that the measurement is nginx + gate, not an application.
  server {
    listen 127.0.0.1:8400;
    location / { default_type application/json; return 200 '{"todos":[]}'; }
  }
  # Without auth_request.
  server {
    listen 127.0.0.1:8401;
    location / {
      proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_pass http://api;
    }
  }
  # With auth_request to writ gate.
  server {
    listen 127.0.0.1:8402;
    location = /_writ_auth {
      internal;
      proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_pass http://gate/auth;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-Method \$request_method;
      proxy_set_header X-Original-URI \$request_uri;
    }
    location / {
      auth_request /_writ_auth;
      auth_request_set \$writ_sub \$upstream_http_x_writ_sub;
      auth_request_set \$writ_permissions \$upstream_http_x_writ_permissions;
      proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header X-Writ-Sub \$writ_sub;
      proxy_set_header X-Writ-Permissions \$writ_permissions;
      proxy_pass http://api;
    }
  }
}
EOF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)
wait_http http://127.0.0.1:8401/

token=$(curl -s "${ISSUER}oauth/token" -d grant_type=password -d client_id=demo-cli \
  -d client_secret=demo-cli-secret-change-me -d username=alice@example.com \
  -d password=alice-password-1 -d audience=https://todos.example/api | jq -r .access_token)
alg=$(printf '%s' "${token%%.*}" | tr '_-' '/+' | base64 -d 2>/dev/null | jq -r .alg || true)
code=$(curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $token" http://127.0.0.1:8402/api/todos)
[ "$code" = 200 ] || die "the gated route answered $code"
code=$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8402/api/todos)
[ "$code" = 401 ] || die "the gated route without a token answered $code"

run_wrk() { # port -> "req/s p99_ms non2xx"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d1s -H "authorization: Bearer $token" "http://127.0.0.1:$1/api/todos" >/dev/null
  local out
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "authorization: Bearer $token" "http://127.0.0.1:$1/api/todos")
  local rps p99 non2xx
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; printf "%.2f", v}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  echo "$rps $p99 ${non2xx:-0}"
}
log "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s: nginx → static upstream"
read -r plain_rps plain_p99 plain_err < <(run_wrk 8401)
log "wrk: nginx + auth_request → writ gate → static upstream"
read -r gated_rps gated_p99 gated_err < <(run_wrk 8402)
read -r plain2_rps plain2_p99 plain2_err < <(run_wrk 8401)

mkdir -p "$RESULTS_DIR"
out="$RESULTS_DIR/gate-$(date -u +%Y%m%dT%H%M%SZ).txt"
{
  echo "writ gate benchmarks, $(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "token alg: $alg"
  echo
  echo "$propagation"
  echo
  printf '%-44s %10s %9s %8s\n' "wrk -t$THREADS -c$CONNECTIONS ${DURATION}s" "req/s" "p99 ms" "non-2xx"
  printf '%-44s %10s %9s %8s\n' "nginx → upstream (no auth)" "$plain_rps" "$plain_p99" "$plain_err"
  printf '%-44s %10s %9s %8s\n' "nginx + auth_request → writ gate → upstream" "$gated_rps" "$gated_p99" "$gated_err"
  printf '%-44s %10s %9s %8s\n' "nginx → upstream (no auth), again" "$plain2_rps" "$plain2_p99" "$plain2_err"
  awk -v a="$plain_rps" -v b="$plain2_rps" -v g="$gated_rps" 'BEGIN { m = (a + b) / 2; printf "\nwith auth_request: %.0f%% of the plain rate; machine time per request +%.1f µs (1/gated − 1/plain)\n", 100 * g / m, 1e6 * (1 / g - 1 / m) }'
} | tee "$out"
log "written to $out"
