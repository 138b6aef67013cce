#!/usr/bin/env bash
# Writ's test command: formatting, lints, and every test of the workspace (unit, integration
# against real SQLite files and the real PostgreSQL, the `writ` binary, interop with PyJWT and
# auth0-python), the browser end-to-end tests in Chromium (Writ on SQLite, then on PostgreSQL)
# and the Django example behind nginx. Installs what the tests need.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each phase's heading, with the seconds since the start (where CI's time goes).
phase() { echo "==> $* (at ${SECONDS}s)"; }

# Python packages for the interop tests (PyJWT, auth0-python), in a project-local virtualenv,
# reinstalled whenever tests/interop/requirements.txt changes.
want=$(sha256sum tests/interop/requirements.txt | cut -d' ' -f1)
if [ "$(cat .venv/.requirements.sha 2>/dev/null)" != "$want" ]; then
  phase "installing the Python interop packages into .venv"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/interop/requirements.txt
  echo "$want" > .venv/.requirements.sha
fi

# PostgreSQL: the store's conformance suite, the multi-node tests and a second run of the
# server's integration suite use the server at WRIT_TEST_POSTGRES_URL (a fresh database per
# test, dropped after it).
export WRIT_TEST_POSTGRES_URL="${WRIT_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
if ! psql "$WRIT_TEST_POSTGRES_URL" -qAtc 'select 1' >/dev/null 2>&1; then
  echo "test.sh: PostgreSQL at $WRIT_TEST_POSTGRES_URL is not reachable (set WRIT_TEST_POSTGRES_URL)" >&2
  exit 1
fi

phase "cargo fmt --check"
cargo fmt --all --check
phase "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
phase "cargo test"
log=$(mktemp)
e2e_log=$(mktemp)
django_log=$(mktemp)
trap 'rm -f "$log" "$e2e_log" "$django_log"' EXIT
set +e
cargo test --workspace 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# The server's whole integration suite again, every TestApp on its own PostgreSQL database:
# the binary `cargo test --workspace` built (`cargo test -p writ-server` would build the
# dependencies again with other features), run from the crate's folder as cargo runs it.
phase "writ-server integration tests on PostgreSQL"
server_it=$(cargo test --workspace --no-run --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") \
            and m["target"]["name"] == "it" and "/writ-server#" in m["package_id"]:
        print(m["executable"])')
if [ -x "$server_it" ]; then
  (cd crates/writ-server && WRIT_TEST_BACKEND=postgres "$server_it") 2>&1 | tee -a "$log"
  pg_status=${PIPESTATUS[0]}
else
  echo "test.sh: the writ-server integration-test binary was not found" >&2
  pg_status=1
fi
[ "$status" -ne 0 ] || status=$pg_status

# Browser end-to-end tests: Chromium (Debian's) + playwright-core against Writ, the example
# API and the example SPA (see tests/e2e/README.md).
phase "browser end-to-end tests"
E2E_PROFILE=debug tests/e2e/run.sh 2>&1 | tee "$e2e_log"
e2e_status=${PIPESTATUS[0]}
# The same browser tests with Writ on PostgreSQL (a fresh database, dropped afterwards).
phase "browser end-to-end tests on PostgreSQL"
E2E_PROFILE=debug E2E_BACKEND=postgres E2E_SKIP_INSTALL=1 E2E_SKIP_BUILD=1 tests/e2e/run.sh 2>&1 \
  | tee -a "$e2e_log"
pg_e2e_status=${PIPESTATUS[0]}
[ "$e2e_status" -ne 0 ] || e2e_status=$pg_e2e_status

# The writ-live helper's unit tests (its SSE parser and client; packages/writ-live), Node alone.
phase "writ-live JavaScript unit tests"
node --test --test-reporter=spec packages/writ-live/test/*.test.mjs 2>&1 | tee -a "$e2e_log"
js_status=${PIPESTATUS[0]}
[ "$e2e_status" -ne 0 ] || e2e_status=$js_status

# The Django example behind nginx (auth_request) and `writ gate`, and Django verifying tokens
# with PyJWT (see tests/django/run.sh).
phase "Django API behind nginx"
tests/django/run.sh 2>&1 | tee "$django_log"
django_status=${PIPESTATUS[0]}
set -e

# One summary line over every test binary (unit, integration, doc tests) and the browser tests.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     /^ℹ pass [0-9]+$/ { p += $3 } /^ℹ fail [0-9]+$/ { f += $3 }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log" "$e2e_log" "$django_log"
phase "done"
[ "$status" -eq 0 ] || exit "$status"
[ "$e2e_status" -eq 0 ] || exit "$e2e_status"
exit "$django_status"
