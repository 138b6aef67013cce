#!/usr/bin/env bash
# Writ's test command: formatting, lints, and every test of the workspace (unit, integration
# against real SQLite files, the `writ` binary, and PyJWT interop). Installs what the tests need.
set -euo pipefail
cd "$(dirname "$0")/.."

# PyJWT for the interop test, in a project-local virtualenv.
if ! .venv/bin/python -c 'import jwt' 2>/dev/null; then
  echo "==> installing PyJWT into .venv"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/interop/requirements.txt
fi

echo "==> cargo fmt --check"
cargo fmt --all --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "==> cargo test"
cargo test --workspace
