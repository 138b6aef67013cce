#!/usr/bin/env bash
# End-to-end tests of examples/django-api: Writ (demo data), `writ gate` following Writ's authz
# event feed, the Django todos API under gunicorn and nginx in front (auth_request), plus a
# second Django that verifies tokens itself with PyJWT (WRIT_AUTH_MODE=jwt). Runs
# tests/django/test_django_api.py against them and stops everything it started on exit.
#
#   tests/django/run.sh
#
#   DJANGO_SKIP_BUILD=1   skip building the writ binary (it is already current)
#   DJANGO_SERVE_FOR=URL  no Writ of its own and no tests: serve the gate (its feed client is the
#                         demo's demo-todos-api), Django and nginx for the Writ at issuer URL
#                         until stopped — tests/e2e/run.sh uses it so that the browser tests'
#                         revocation is checked at the Django API too
#   DJANGO_KEEP=1         keep the temporary folder (databases, nginx.conf)
#   WRIT_BIN              another binary than target/debug/writ
#
# Ports (loopback only): Writ 3100, gate 4180, Django 8000 (behind nginx) and 8001 (jwt mode),
# nginx 8080. Logs: target/django/logs/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

WRIT_ADDR=127.0.0.1:3100
GATE_ADDR=127.0.0.1:4180
DJANGO_ADDR=127.0.0.1:8000
DJANGO_JWT_ADDR=127.0.0.1:8001
NGINX_ADDR=127.0.0.1:8080
APP_DIR=examples/django-api
SERVE_FOR=${DJANGO_SERVE_FOR:-}
LOGS="$ROOT/target/django/logs${SERVE_FOR:+-served}"
WRIT_BIN=${WRIT_BIN:-${CARGO_TARGET_DIR:-target}/debug/writ}
NGINX=/usr/sbin/nginx
PY=.venv/bin/python

say() { printf '==> %s\n' "$*"; }
die() { printf 'django: %s\n' "$*" >&2; exit 1; }
# port_busy, ports_free, on_exit, start, wait_http, stop_services, secret
source "$ROOT/tests/lib/services.sh"

# --- what the tests need on this machine ---------------------------------------------------
command -v curl >/dev/null || die "curl is required"

# Django, DRF, gunicorn and PyJWT in the project's virtualenv, reinstalled whenever the
# example's requirements change (the interop packages of scripts/test.sh live there too).
want=$(sha256sum "$APP_DIR/requirements.txt" | cut -d' ' -f1)
if [ ! -x "$PY" ] || [ "$(cat .venv/.django-requirements.sha 2>/dev/null)" != "$want" ]; then
  say "installing the Django example's packages into .venv"
  [ -x "$PY" ] || python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r "$APP_DIR/requirements.txt"
  echo "$want" > .venv/.django-requirements.sha
fi

if [ ! -x "$NGINX" ]; then
  say "installing nginx (Debian package)"
  # Another apt-get may hold the lock: wait for it rather than fail.
  for _ in $(seq 1 60); do apt-get -o DPkg::Lock::Timeout=600 update -qq && break; sleep 5; done
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq nginx >/dev/null
  # The package may start a system-wide nginx on port 80; these tests run their own.
  if [ -f /run/nginx.pid ]; then "$NGINX" -s quit 2>/dev/null || true; fi
fi

if [ "${DJANGO_SKIP_BUILD:-0}" != 1 ]; then
  # The binary `cargo test --workspace` builds, with its features, so that after the test
  # command's own run nothing is compiled again (`cargo build -p writ` would resolve features
  # for writ alone and build writ-server and its dependents a second time).
  say "cargo test --workspace --no-run (the writ binary)"
  cargo test --workspace --no-run --quiet
fi
[ -x "$WRIT_BIN" ] || die "$WRIT_BIN is missing: cargo test --workspace --no-run"
"$WRIT_BIN" gate --help >/dev/null 2>&1 || die "$WRIT_BIN has no working 'gate' subcommand"

# --- services ---------------------------------------------------------------------------------
mkdir -p "$LOGS"
rm -f "$LOGS"/*.log
work=$(mktemp -d "${TMPDIR:-/tmp}/writ-django.XXXXXX")
pids=()

stop_all() {
  local status=$?
  trap - EXIT INT TERM
  stop_services
  if [ "${DJANGO_KEEP:-0}" = 1 ]; then echo "django: kept $work"; else rm -rf "$work"; fi
  exit "$status"
}
on_exit stop_all

addrs=("$GATE_ADDR" "$DJANGO_ADDR" "$DJANGO_JWT_ADDR" "$NGINX_ADDR")
[ -n "$SERVE_FOR" ] || addrs+=("$WRIT_ADDR")
ports_free "${addrs[@]}"

MGMT_CLIENT_ID=django-test-admin
MGMT_CLIENT_SECRET=$(secret)
ISSUER=${SERVE_FOR:-"http://$WRIT_ADDR/"}
AUDIENCE=https://todos.example/api

if [ -z "$SERVE_FOR" ]; then
  say "starting Writ on $WRIT_ADDR"
  start writ env \
    WRIT_DATABASE_URL="sqlite://$work/writ.db" \
    WRIT_LISTEN="$WRIT_ADDR" \
    WRIT_ISSUER="$ISSUER" \
    WRIT_BOOTSTRAP_CLIENT_ID="$MGMT_CLIENT_ID" \
    WRIT_BOOTSTRAP_CLIENT_SECRET="$MGMT_CLIENT_SECRET" \
    RUST_LOG="${RUST_LOG:-info}" NO_COLOR=1 \
    "$WRIT_BIN" demo
  wait_http writ "http://$WRIT_ADDR/healthz" "$PID_writ"
fi

say "starting writ gate on $GATE_ADDR"
start gate env \
  WRIT_GATE_EVENTS_CLIENT_ID=demo-todos-api \
  WRIT_GATE_EVENTS_CLIENT_SECRET=demo-todos-api-secret-change-me \
  RUST_LOG="${RUST_LOG:-info}" NO_COLOR=1 \
  "$WRIT_BIN" gate --issuer "$ISSUER" --audience "$AUDIENCE" \
  --listen "$GATE_ADDR" --rules "$APP_DIR/gate.rules"
wait_http gate "http://$GATE_ADDR/healthz" "$PID_gate"

# A machine client holding only read:users on the Management API, with which the jwt-mode
# Django reads callers' app_metadata.authorization (its /api/reports and /api/team).
USER_READER_ID=
USER_READER_SECRET=
if [ -z "$SERVE_FOR" ]; then
  json_field() { "$PY" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
  mgmt_token=$(curl -sf "${ISSUER}oauth/token" -H 'content-type: application/json' \
    -d "{\"grant_type\":\"client_credentials\",\"client_id\":\"$MGMT_CLIENT_ID\",\"client_secret\":\"$MGMT_CLIENT_SECRET\",\"audience\":\"${ISSUER}api/v2/\"}" \
    | json_field access_token) || die "no Management API token for the bootstrap client"
  reader=$(curl -sf "${ISSUER}api/v2/clients" -H "authorization: Bearer $mgmt_token" \
    -H 'content-type: application/json' \
    -d '{"name":"django-user-reader","app_type":"non_interactive","grant_types":["client_credentials"]}') \
    || die "could not create the Django example's machine client"
  USER_READER_ID=$(echo "$reader" | json_field client_id)
  USER_READER_SECRET=$(echo "$reader" | json_field client_secret)
  curl -sf -o /dev/null "${ISSUER}api/v2/client-grants" -H "authorization: Bearer $mgmt_token" \
    -H 'content-type: application/json' \
    -d "{\"client_id\":\"$USER_READER_ID\",\"audience\":\"${ISSUER}api/v2/\",\"scope\":[\"read:users\"]}" \
    || die "could not grant read:users to the Django example's machine client"
fi

# start_django NAME ADDR MODE: migrate a database of its own, then gunicorn on ADDR.
start_django() {
  local name=$1 addr=$2 mode=$3
  (cd "$APP_DIR" && DJANGO_DB_PATH="$work/$name.sqlite3" WRIT_AUTH_MODE=$mode \
    "$ROOT/$PY" manage.py migrate --verbosity 0)
  start "$name" env \
    DJANGO_DB_PATH="$work/$name.sqlite3" \
    WRIT_AUTH_MODE="$mode" WRIT_ISSUER="$ISSUER" WRIT_AUDIENCE="$AUDIENCE" \
    WRIT_MGMT_CLIENT_ID="$USER_READER_ID" WRIT_MGMT_CLIENT_SECRET="$USER_READER_SECRET" \
    "$ROOT/.venv/bin/gunicorn" --chdir "$APP_DIR" --bind "$addr" --workers 2 \
    --access-logfile - todoproject.wsgi
}

say "starting Django (gate mode) on $DJANGO_ADDR"
start_django django "$DJANGO_ADDR" gate
wait_http django "http://$DJANGO_ADDR/api/health" "$PID_django"
if [ -z "$SERVE_FOR" ]; then
  say "starting Django (jwt mode) on $DJANGO_JWT_ADDR"
  start_django django-jwt "$DJANGO_JWT_ADDR" jwt
  wait_http django-jwt "http://$DJANGO_JWT_ADDR/api/health" "$PID_django_jwt"
fi

say "starting nginx on $NGINX_ADDR"
# Started as root, nginx runs its worker as nobody, which must reach its temp folders.
mkdir -p "$work/nginx"
chmod 711 "$work"
chmod 755 "$work/nginx"
sed -e "s#@PREFIX@#$work/nginx#g" -e "s#@LISTEN@#$NGINX_ADDR#g" \
  -e "s#@GATE@#$GATE_ADDR#g" -e "s#@DJANGO@#$DJANGO_ADDR#g" \
  "$APP_DIR/nginx.conf.template" >"$work/nginx/nginx.conf"
"$NGINX" -t -q -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' \
  || die "nginx refused $work/nginx/nginx.conf"
start nginx "$NGINX" -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;'
wait_http nginx "http://$NGINX_ADDR/api/health" "$PID_nginx"

if [ -n "$SERVE_FOR" ]; then
  say "serving the Django API for $ISSUER at http://$NGINX_ADDR/api/ until stopped"
  sleep infinity &
  pids+=("$!")
  wait "$!"
fi

# --- tests ------------------------------------------------------------------------------------
say "python tests/django/test_django_api.py"
export WRIT_URL="$ISSUER" API_URL="http://$NGINX_ADDR" JWT_API_URL="http://$DJANGO_JWT_ADDR"
export MGMT_CLIENT_ID MGMT_CLIENT_SECRET
# In the background and in its own group, so that an interrupt reaches the trap at once.
setsid "$PY" tests/django/test_django_api.py </dev/null &
pids+=("$!")
set +e
wait "$!"
status=$?
set -e

# Last, since it stops the gate: with no gate to ask, nginx answers 503 + Retry-After (JSON),
# never passes the request on.
if [ "$status" = 0 ]; then
  say "gate stopped: nginx answers 503"
  kill "$PID_gate"
  while kill -0 "$PID_gate" 2>/dev/null; do sleep 0.1; done
  down=$(curl -s -D "$work/down.headers" -o "$work/down.json" -w '%{http_code}' \
    -H 'Authorization: Bearer not-checked' "http://$NGINX_ADDR/api/todos")
  if [ "$down" = 503 ] && grep -qi '^retry-after: 5' "$work/down.headers" \
    && grep -q '"error":"temporarily_unavailable"' "$work/down.json"; then
    say "ok: 503 temporarily_unavailable with Retry-After"
  else
    say "FAILED: with the gate down nginx answered $down: $(cat "$work/down.json")"
    status=1
  fi
fi
if [ "$status" != 0 ]; then
  cp "$work/nginx/error.log" "$LOGS/nginx-error.log" 2>/dev/null || true
  say "service logs: $LOGS"
fi
exit "$status"
