#!/usr/bin/env bash
# Browser end-to-end tests: builds the React SPA and the Rust binaries, starts Writ (demo data),
# the todos API and the SPA's preview server on loopback, runs `node --test` with Chromium
# driven by playwright-core, and stops everything it started when it exits.
#
#   tests/e2e/run.sh                              # everything
#   tests/e2e/run.sh tests/e2e/smoke.test.mjs     # only some test files
#
#   E2E_SKIP_INSTALL=1  skip `npm ci` (node_modules already current)
#   E2E_SKIP_BUILD=1    skip the SPA and cargo builds (artefacts already current)
#   E2E_KEEP=1          keep the temporary databases
#   E2E_BACKEND=postgres  Writ on a fresh database (dropped afterwards) on the PostgreSQL server
#                       at WRIT_TEST_POSTGRES_URL (…/DBNAME; default postgres://postgres@127.0.0.1:5432/test)
#                       instead of a SQLite file; screenshots then go to target/screenshots/postgres/
#   WRIT_BIN, TODOS_API_BIN  other binaries than target/release/{writ,todos-api}
#
# Ports are fixed: Writ's demo SPA client allows only http://127.0.0.1:5173/ as callback, the
# issuer is http://127.0.0.1:3000/, and oidc-client.test.mjs serves its page on 127.0.0.1:5174.
# Logs: target/e2e/logs/; screenshots: target/screenshots/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

WRIT_ADDR=127.0.0.1:3000
API_ADDR=127.0.0.1:4000
SPA_ADDR=127.0.0.1:5173
OIDC_SITE_ADDR=127.0.0.1:5174   # oidc-client.test.mjs serves its page here itself
DJANGO_ADDR=127.0.0.1:8080      # nginx in front of the Django example (tests/django/run.sh)
SPA_DIR=examples/spa-react
E2E_DIR=tests/e2e
E2E_BACKEND=${E2E_BACKEND:-sqlite}
case "$E2E_BACKEND" in
  sqlite) LOGS="$ROOT/target/e2e/logs" SHOTS="$ROOT/target/screenshots" ;;
  postgres) LOGS="$ROOT/target/e2e/logs-postgres" SHOTS="$ROOT/target/screenshots/postgres" ;;
  *) echo "e2e: E2E_BACKEND must be sqlite or postgres" >&2; exit 2 ;;
esac
# E2E_PROFILE=debug uses the dev-profile binaries (already built by `cargo test --workspace`,
# which saves the test command a release build); the default is release.
E2E_PROFILE=${E2E_PROFILE:-release}
case "$E2E_PROFILE" in
  release) CARGO_PROFILE_FLAG=--release ;;
  debug) CARGO_PROFILE_FLAG= ;;
  *) echo "e2e: E2E_PROFILE must be release or debug" >&2; exit 2 ;;
esac
WRIT_BIN=${WRIT_BIN:-${CARGO_TARGET_DIR:-target}/$E2E_PROFILE/writ}
TODOS_API_BIN=${TODOS_API_BIN:-${CARGO_TARGET_DIR:-target}/$E2E_PROFILE/todos-api}

say() { printf '==> %s\n' "$*"; }
die() { printf 'e2e: %s\n' "$*" >&2; exit 1; }
# port_busy, ports_free, on_exit, start, wait_http, stop_services, secret
source "$ROOT/tests/lib/services.sh"

# --- what the tests need on this machine ---------------------------------------------------
command -v node >/dev/null || die "node is required (Node 20.19 or newer)"
command -v curl >/dev/null || die "curl is required"
if [ ! -x /usr/bin/chromium ]; then
  say "installing Chromium (Debian package)"
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi

if [ "${E2E_SKIP_INSTALL:-0}" != 1 ]; then
  say "npm ci ($SPA_DIR, $E2E_DIR)"
  (cd "$SPA_DIR" && npm ci --no-audit --no-fund --loglevel=error)
  (cd "$E2E_DIR" && npm ci --no-audit --no-fund --loglevel=error)
fi

if [ "${E2E_SKIP_BUILD:-0}" != 1 ]; then
  say "building the SPA"
  # No timed reloads: the tests decide when the page reloads its list (a focus event).
  (cd "$SPA_DIR" && \
    VITE_WRIT_DOMAIN="http://$WRIT_ADDR" VITE_WRIT_CLIENT_ID=demo-spa \
    VITE_TODOS_API_URL="http://$API_ADDR" VITE_TODOS_REFRESH_SECONDS=0 npm run build --silent)
  if [ "$E2E_PROFILE" = debug ]; then
    # The binaries `cargo test --workspace` builds, with its features: after the test command's
    # own `cargo test --workspace` nothing is rebuilt (`cargo build -p writ` resolves features
    # for those packages alone and would compile writ-server and its dependents again).
    say "cargo test --workspace --no-run (the writ and todos-api binaries)"
    cargo test --workspace --no-run --quiet
  else
    say "cargo build --release -p writ -p todos-api"
    cargo build --release --quiet -p writ -p todos-api
  fi
fi
[ -f "$SPA_DIR/dist/index.html" ] || die "$SPA_DIR/dist is missing: build the SPA first"
for bin in "$WRIT_BIN" "$TODOS_API_BIN"; do
  [ -x "$bin" ] || die "$bin is missing: cargo build $CARGO_PROFILE_FLAG -p writ -p todos-api"
done

# --- services ---------------------------------------------------------------------------------
mkdir -p "$LOGS" "$SHOTS"
# The folder shows the last run only: no screenshot of an earlier failure lingers.
find "$SHOTS" -maxdepth 1 -type f \( -name '*.png' -o -name '*.log' \) -delete
work=$(mktemp -d "${TMPDIR:-/tmp}/writ-e2e.XXXXXX")
pids=()

stop_all() {
  local status=$?
  trap - EXIT INT TERM
  stop_services
  if [ "${E2E_KEEP:-0}" = 1 ]; then
    echo "e2e: kept $work${PG_DB:+ and the database $PG_DB}"
  else
    rm -rf "$work"
    if [ -n "${PG_DB:-}" ]; then
      psql "$PG_URL" -qAtc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null || true
    fi
  fi
  exit "$status"
}
on_exit stop_all

ports_free "$WRIT_ADDR" "$API_ADDR" "$SPA_ADDR" "$OIDC_SITE_ADDR"

export WRIT_BOOTSTRAP_CLIENT_ID=e2e-admin
export WRIT_BOOTSTRAP_CLIENT_SECRET=$(secret)

writ_db="sqlite://$work/writ.db"
writ_kek=()
if [ "$E2E_BACKEND" = postgres ]; then
  PG_URL=${WRIT_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
  PG_DB="writ_e2e_$$"
  psql "$PG_URL" -qAtc "CREATE DATABASE $PG_DB" >/dev/null \
    || die "cannot create the database $PG_DB at $PG_URL (set WRIT_TEST_POSTGRES_URL)"
  writ_db="${PG_URL%/*}/$PG_DB"
  # Every node must open the signing keys: PostgreSQL needs the key-encryption key given.
  writ_kek=(WRIT_KEY_ENCRYPTION_KEY="$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')")
fi

# --- email (account-mail.test.mjs) -------------------------------------------------------------
# A real SMTP server on loopback (tests/interop/smtp_sink.py, aiosmtpd from .venv) writing each
# message into $MAIL_SINK_DIR; Writ sends through it, with sign-up and its verification email
# on. Without aiosmtpd the mail tests are skipped and Writ runs without SMTP.
writ_mail=()
sink_py="$ROOT/.venv/bin/python"
if [ -x "$sink_py" ] && "$sink_py" -c 'import aiosmtpd' 2>/dev/null; then
  export MAIL_SINK_DIR="$work/mail"
  start smtp-sink "$sink_py" tests/interop/smtp_sink.py "$MAIL_SINK_DIR" 0 --forever
  for _ in $(seq 1 100); do grep -q '^PORT ' "$LOGS/smtp-sink.log" 2>/dev/null && break; sleep 0.1; done
  sink_port=$(sed -n 's/^PORT //p' "$LOGS/smtp-sink.log")
  [ -n "$sink_port" ] || die "the SMTP sink did not start (log: $LOGS/smtp-sink.log)"
  say "SMTP sink on 127.0.0.1:$sink_port ($MAIL_SINK_DIR)"
  writ_mail=(WRIT_SMTP_URL="smtp://127.0.0.1:$sink_port" WRIT_SMTP_FROM="Writ <no-reply@writ.test>"
    WRIT_SIGNUP_ENABLED=true WRIT_SIGNUP_VERIFY_EMAIL=true)
else
  say "no aiosmtpd in .venv: account-mail tests skipped (pip install -r tests/interop/requirements.txt)"
fi

say "starting Writ on $WRIT_ADDR ($E2E_BACKEND)"
start writ env \
  WRIT_DATABASE_URL="$writ_db" "${writ_kek[@]}" "${writ_mail[@]}" \
  WRIT_LISTEN="$WRIT_ADDR" \
  WRIT_ISSUER="http://$WRIT_ADDR/" \
  WRIT_MFA_ROLES=mfa-admin \
  WRIT_BOOTSTRAP_CLIENT_ID="$WRIT_BOOTSTRAP_CLIENT_ID" \
  WRIT_BOOTSTRAP_CLIENT_SECRET="$WRIT_BOOTSTRAP_CLIENT_SECRET" \
  RUST_LOG="${RUST_LOG:-info}" NO_COLOR=1 \
  "$WRIT_BIN" demo
wait_http writ "http://$WRIT_ADDR/healthz" "$PID_writ"

# The Django example behind nginx and `writ gate`, following this Writ: the freshness test
# checks that a revocation it makes reaches that API too.
say "starting the Django API behind nginx (tests/django/run.sh, serving for this Writ)"
start django env DJANGO_SERVE_FOR="http://$WRIT_ADDR/" DJANGO_SKIP_BUILD=1 WRIT_BIN="$WRIT_BIN" \
  tests/django/run.sh
wait_http django "http://$DJANGO_ADDR/api/health" "$PID_django"

say "starting the todos API on $API_ADDR"
start todos-api env \
  WRIT_ISSUER="http://$WRIT_ADDR/" \
  TODOS_LISTEN="$API_ADDR" \
  TODOS_DATABASE_URL="sqlite://$work/todos.db" \
  WRIT_EVENTS_CLIENT_ID=demo-todos-api WRIT_EVENTS_CLIENT_SECRET=demo-todos-api-secret-change-me \
  RUST_LOG="${RUST_LOG:-info}" NO_COLOR=1 \
  "$TODOS_API_BIN"
wait_http todos-api "http://$API_ADDR/todos" "$PID_todos_api"

say "starting the SPA preview on $SPA_ADDR"
start spa bash -c "cd '$SPA_DIR' && exec npm run preview -- --host ${SPA_ADDR%:*} --port ${SPA_ADDR##*:} --strictPort"
wait_http spa "http://$SPA_ADDR/" "$PID_spa"

# --- tests ------------------------------------------------------------------------------------
export WRIT_URL="http://$WRIT_ADDR" TODOS_API_URL="http://$API_ADDR" SPA_URL="http://$SPA_ADDR"
export DJANGO_API_URL="http://$DJANGO_ADDR"
# passkeys.test.mjs starts a Writ of its own (issuer http://localhost:<port>/: browsers refuse
# an IP address as a passkey's relying party) with this binary, logging beside the others, on
# this run's backend.
export WRIT_BIN E2E_LOGS="$LOGS" E2E_BACKEND E2E_PG_URL="${PG_URL:-}"
export SCREENSHOT_DIR="$SHOTS"
if [ $# -gt 0 ]; then files=("$@"); else files=("$E2E_DIR"/*.test.mjs); fi
say "node --test ${files[*]}"
# In the background, so that an interrupt reaches the trap at once (bash runs traps only
# between commands, and `wait` is one that a signal cuts short); its own group, so that the
# trap also stops the test processes and their browsers.
setsid node --test --test-concurrency=1 --test-reporter=spec "${files[@]}" </dev/null &
pids+=("$!")
set +e
wait "$!"
status=$?
set -e
say "screenshots: $SHOTS"
[ "$status" = 0 ] || say "service logs: $LOGS"
exit "$status"
