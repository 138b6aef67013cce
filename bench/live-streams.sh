#!/usr/bin/env bash
# Live streams at scale (not in CI): STREAMS (10,000) users' live streams
# (`GET /me/authz-events`) open at once against one release `writ serve` on SQLite, tokens
# minted for USERS (1,000) users; measures the server's RSS and CPU while they sit idle, and
# the delivery time of a role change to its user's streams with all of them open
# (crates/writ-server/examples/live_streams.rs). Bounded: TIMEOUT (900 s) for the whole run.
#
#   bench/live-streams.sh        # builds the release writ and the client, in one cargo run
#
# Knobs: STREAMS, USERS, IDLE_SECS (20), CHANGES (20), TIMEOUT; SKIP_BUILD=1 with WRIT_BIN and
# CLIENT to measure other builds (the JSON names the binary). Writ listens on 127.0.0.1:3500
# only. Results: bench/results/live-streams-<time>.json. The machine is shared: CPU and latency
# figures include other processes' noise (the load average is recorded beside them).
set -euo pipefail
cd "$(dirname "$0")/.."
STREAMS=${STREAMS:-10000}
USERS=${USERS:-1000}
IDLE_SECS=${IDLE_SECS:-20}
CHANGES=${CHANGES:-20}
TIMEOUT=${TIMEOUT:-900}
WRIT_BIN=${WRIT_BIN:-${CARGO_TARGET_DIR:-target}/release/writ}
RESULTS_DIR=${RESULTS_DIR:-bench/results}

log() { printf '[live-bench] %s\n' "$*" >&2; }
die() { printf '[live-bench] ERROR: %s\n' "$*" >&2; exit 2; }
command -v jq >/dev/null || { apt-get update -qq && apt-get install -y -qq jq >/dev/null; }
per_user=$(( (STREAMS + USERS - 1) / USERS ))
# One connection per stream, on both sides.
need=$(( STREAMS + 1024 ))
[ "$(ulimit -n)" -ge "$need" ] || ulimit -n "$need" 2>/dev/null || die "ulimit -n must be at least $need"

CLIENT=${CLIENT:-${CARGO_TARGET_DIR:-target}/release/examples/live_streams}
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  log "building the release writ and the client (crates/writ-server/examples/live_streams.rs)"
  cargo build --release --quiet -p writ -p writ-server --bin writ --example live_streams
fi
[ -x "$WRIT_BIN" ] || die "$WRIT_BIN is missing"
[ -x "$CLIENT" ] || die "$CLIENT is missing"

work=$(mktemp -d "${TMPDIR:-/tmp}/writ-live-bench.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

ISSUER=http://127.0.0.1:3500/
ADMIN_ID=bench-admin
ADMIN_SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
log "starting writ serve on 127.0.0.1:3500 (SQLite)"
WRIT_ISSUER=$ISSUER WRIT_LISTEN=127.0.0.1:3500 WRIT_DATABASE_URL="sqlite://$work/writ.db" \
  WRIT_BOOTSTRAP_CLIENT_ID=$ADMIN_ID WRIT_BOOTSTRAP_CLIENT_SECRET=$ADMIN_SECRET \
  WRIT_LIVE_STREAMS_PER_USER=$per_user WRIT_LIVE_STREAMS_MAX=$(( STREAMS + 100 )) RUST_LOG=warn \
  "$WRIT_BIN" serve >"$work/writ.log" 2>&1 &
server=$!
pids+=("$server")
for _ in $(seq 1 300); do
  curl -sf -o /dev/null --max-time 2 "${ISSUER}.well-known/openid-configuration" && break
  sleep 0.1
done
curl -sf -o /dev/null "${ISSUER}.well-known/openid-configuration" || die "Writ did not start: $(tail -5 "$work/writ.log")"

log "$STREAMS streams over $USERS users ($per_user each at most)"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
result=$(USERS=$USERS STREAMS=$STREAMS IDLE_SECS=$IDLE_SECS CHANGES=$CHANGES \
  timeout "$TIMEOUT" "$CLIENT" "$ISSUER" "$ADMIN_ID" "$ADMIN_SECRET" "$server") \
  || die "the client failed (writ log: $(tail -5 "$work/writ.log"))"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

mkdir -p "$RESULTS_DIR"
out="$RESULTS_DIR/live-streams-$(date -u +%Y%m%dT%H%M%SZ).json"
echo "$result" | jq --arg at "$(date -u +%FT%TZ)" --arg cores "$(nproc)" \
  --arg before "$load_before" --arg after "$load_after" --arg bin "$WRIT_BIN" --arg client "$CLIENT" \
  '{at: $at, machine: {cores: ($cores|tonumber), load_before: $before, load_after: $after,
    note: "shared, noisy machine: other builds and tests ran at the same time"},
    writ: $bin, client: $client} + .' | tee "$out"
log "written to $out"
