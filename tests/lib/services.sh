# Shared by the harnesses that start real services for a test run (tests/e2e/run.sh,
# tests/django/run.sh): start each in its own process group with its own log, wait until it
# answers HTTP, and stop them all. The caller defines `say`, `die`, `$LOGS` and `pids=()`.

# port_busy HOST:PORT: something listens there.
port_busy() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }

# ports_free HOST:PORT...: dies when any of them is in use (the tests need these fixed ports).
ports_free() {
  local addr
  for addr in "$@"; do
    if port_busy "$addr"; then
      die "$addr is already in use; stop whatever listens there (the tests need these fixed ports)"
    fi
  done
}

# on_exit FN: runs FN when the script exits, also after Ctrl-C (status 130) or SIGTERM (143).
on_exit() {
  trap "$1" EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# start NAME CMD...: runs CMD in its own session and process group, logging to $LOGS/NAME.log.
start() {
  local name=$1
  shift
  setsid "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
  pids+=("$!")
  eval "PID_${name//-/_}=$!"
}

# wait_http NAME URL PID: until URL answers with any HTTP status (a 401 is an answer too).
wait_http() {
  local name=$1 url=$2 pid=$3 code
  for _ in $(seq 1 300); do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 40 "$LOGS/$name.log" >&2 || true
      die "$name exited before it was ready (log: $LOGS/$name.log)"
    fi
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)
    if [ -n "$code" ] && [ "$code" != 000 ]; then
      say "$name is ready ($url → $code)"
      return 0
    fi
    sleep 0.2
  done
  tail -n 40 "$LOGS/$name.log" >&2 || true
  die "$name did not answer at $url within 60 s (log: $LOGS/$name.log)"
}

# stop_services: stops every started service. Each runs in its own process group (setsid), led
# by the PID recorded: stopping the group also stops what it spawned (npm → sh → vite,
# gunicorn's workers, nginx's worker). Newest first.
stop_services() {
  local i pid
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    pid=${pids[$i]}
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}

# secret: a random hex string for a test client's secret.
secret() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
