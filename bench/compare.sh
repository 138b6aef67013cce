#!/usr/bin/env bash
# Side-by-side comparison of two revisions on writ-server's benches, in one run, alternated
# (old, new, new, old, …) so that a shared, noisy machine weighs on both alike.
#
#   bench/compare.sh OLD_REV [NEW_REV]        NEW_REV defaults to the working tree (".")
#
# Environment (all optional):
#   BENCHES="tokens rbac login backends"   which benches of crates/writ-server/benches
#   ROUNDS=2                               runs of each bench per side
#   BENCH_SECS=6                           seconds per phase of the HTTP benches
#   WORK=$TMPDIR/writ-compare              worktrees and target dirs per revision (kept, so a
#                                          second run rebuilds only what changed)
#   RESULTS_DIR=bench/results
#
# Each revision is checked out in a worktree of its own and built with its own target dir
# (`cargo bench -p writ-server --no-run`); "." uses this checkout and $CARGO_TARGET_DIR.
# Criterion benches report their median time, the HTTP benches their rates; the table gives
# each metric's best-of-rounds per side and new/old (for times, < 1 is faster; for rates,
# > 1 is faster). PostgreSQL phases read WRIT_TEST_POSTGRES_URL.
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OLD=${1:?usage: bench/compare.sh OLD_REV [NEW_REV]}
NEW=${2:-.}
BENCHES=${BENCHES:-"tokens rbac login backends"}
ROUNDS=${ROUNDS:-2}
WORK=${WORK:-${TMPDIR:-/tmp}/writ-compare}
RESULTS_DIR=${RESULTS_DIR:-$ROOT/bench/results}
export BENCH_SECS=${BENCH_SECS:-6}
export WRIT_TEST_POSTGRES_URL=${WRIT_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}

stamp=$(date -u +%Y%m%dT%H%MZ)
logs="$RESULTS_DIR/compare-$stamp.logs"
mkdir -p "$logs" "$WORK"

# Prints "bench<TAB>executable" for every bench of writ-server built from checkout $1 into $2.
build() {
  local src=$1 target=$2
  (cd "$src" && CARGO_TARGET_DIR=$target cargo bench -p writ-server --no-run \
    --message-format=json 2>"$logs/build-$(basename "$target").err") |
    python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and "bench" in m["target"]["kind"]:
        print(m["target"]["name"] + "\t" + m["executable"])
'
}

# checkout dir and target dir of revision $1
checkout() {
  local rev=$1
  if [ "$rev" = "." ]; then
    echo "$ROOT" "${CARGO_TARGET_DIR:-$ROOT/target}"
    return
  fi
  local sha
  sha=$(git -C "$ROOT" rev-parse --short "$rev^{commit}")
  if [ ! -d "$WORK/$sha/src" ]; then
    git -C "$ROOT" worktree add --detach "$WORK/$sha/src" "$sha" >/dev/null
  fi
  echo "$WORK/$sha/src" "$WORK/$sha/target"
}

declare -A exe
for side in old new; do
  rev=$OLD
  [ "$side" = new ] && rev=$NEW
  read -r src target < <(checkout "$rev")
  echo "==> building $side ($rev) in $src"
  while IFS=$'\t' read -r name path; do exe[$side/$name]=$path; done < <(build "$src" "$target")
done

for b in $BENCHES; do
  for side in old new; do
    [ -n "${exe[$side/$b]:-}" ] || { echo "bench $b missing on the $side side" >&2; exit 2; }
  done
done

for round in $(seq 1 "$ROUNDS"); do
  order="old new"
  [ $((round % 2)) -eq 0 ] && order="new old"
  for b in $BENCHES; do
    for side in $order; do
      echo "==> round $round: $b ($side)"
      "${exe[$side/$b]}" --bench >"$logs/$b-$side-$round.txt" 2>&1 ||
        { echo "bench $b ($side) failed: $logs/$b-$side-$round.txt" >&2; exit 1; }
    done
  done
done

python3 - "$logs" "$OLD" "$NEW" <<'EOF' | tee "$RESULTS_DIR/compare-$stamp.txt"
import pathlib, re, sys
logs, old, new = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
unit = {"ps": 1e-12, "ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}
# metric -> side -> values (seconds for times, per second for rates)
seen = {}
for f in sorted(logs.glob("*-*-*.txt")):
    bench, side, _ = f.stem.rsplit("-", 2)
    last_id = None
    prev_label = ""
    for line in f.read_text(errors="replace").splitlines():
        m = re.match(r"^(\S.*?)\s+time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", line)
        if m or re.match(r"^\s+time:\s+\[", line):
            if m:
                name, v, u = m.group(1), m.group(2), m.group(3)
            else:
                parts = line.split("[")[1].split()
                name, v, u = last_id, parts[2], parts[3]
            seen.setdefault(f"{bench}: {name}", {}).setdefault(side, []).append(float(v) * unit[u])
            continue
        if line and not line[0].isspace() and "/s" not in line and ":" not in line:
            last_id = line.strip()
        r = re.match(r"^(.*?):\s+([0-9.]+)/s", line)
        if r:
            seen.setdefault(f"{bench}: {r.group(1)} (/s)", {}).setdefault(side, []).append(float(r.group(2)))
            continue
        # backends: "<label> client_credentials N/s (…)   refresh N/s (…)", "… p50 X ms, p99 Y ms"
        rates = re.findall(r"(client_credentials|refresh)\s+([0-9.]+)/s", line)
        if rates:
            prev_label = line[:22].strip()
        for what, v in rates:
            seen.setdefault(f"{bench}: {prev_label} {what} (/s)", {}).setdefault(side, []).append(float(v))
        for what, v in re.findall(r"(p50|p99) ([0-9.]+) ms", line):
            seen.setdefault(f"{bench}: {prev_label} propagation {what}", {}).setdefault(side, []).append(float(v) / 1e3)
print(f"old = {old}, new = {new}; best of each side's rounds; ratio = new/old")
print(f"{'metric':<78} {'old':>12} {'new':>12} {'ratio':>7}")
for k, sides in seen.items():
    if "old" not in sides or "new" not in sides:
        continue
    rate = k.endswith("(/s)")
    pick = max if rate else min
    o, n = pick(sides["old"]), pick(sides["new"])
    fmt = (lambda x: f"{x:,.1f}") if rate else (lambda x: f"{x * 1e6:,.2f} µs")
    print(f"{k:<78} {fmt(o):>12} {fmt(n):>12} {n / o:>7.3f}")
EOF
