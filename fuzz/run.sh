#!/usr/bin/env bash
# Builds Writ's fuzz targets (cargo-fuzz, libFuzzer) and runs each for a fixed time, then
# prints per target the executions, the corpus (libFuzzer's units/bytes, and the files kept)
# and the crashes. Not part of scripts/test.sh: run it by hand or on a schedule.
#
#   fuzz/run.sh                  every target listed in fuzz/Cargo.toml
#   fuzz/run.sh gate_path ...    only these
#
# FUZZ_SECONDS     seconds per target (default 60)
# FUZZ_SANITIZER   address (default: cargo-fuzz's) or none (faster; safe Rust rarely needs ASan)
# FUZZ_ARGS        more libFuzzer flags, e.g. "-max_len=8192"
#
# The corpus grows in fuzz/corpus/<target> (kept between runs, not in git), seeded from
# fuzz/seeds/<target> when that exists; crash inputs land in fuzz/artifacts/<target>. Exits
# non-zero when a target crashed. Reproduce a crash with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run <target> fuzz/artifacts/<target>/crash-…   (from fuzz/)
set -euo pipefail
cd "$(dirname "$0")"

# cargo-fuzz passes nightly-only flags to rustc (-Zsanitizer, sanitizer-coverage options); the
# stable toolchain accepts them under RUSTC_BOOTSTRAP=1 and ships the sanitizer runtimes.
export RUSTC_BOOTSTRAP=1
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

seconds=${FUZZ_SECONDS:-60}
sanitizer=${FUZZ_SANITIZER:-address}
read -r -a extra <<< "${FUZZ_ARGS:-}"
if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

# Release optimizations with debug assertions and overflow checks (cargo-fuzz's default).
echo "==> building ${targets[*]} (sanitizer: $sanitizer)"
for t in "${targets[@]}"; do
  cargo fuzz build --sanitizer "$sanitizer" "$t"
done

summary=()
failed=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  corpora=("corpus/$t")
  [ -d "seeds/$t" ] && corpora+=("seeds/$t")
  before=$(find "artifacts/$t" -type f | wc -l)
  log=$(mktemp)
  echo "==> fuzzing $t for ${seconds}s"
  set +e
  cargo fuzz run --sanitizer "$sanitizer" "$t" "${corpora[@]}" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    "${extra[@]}" >"$log" 2>&1
  status=$?
  set -e
  grep -E '^(#[0-9]+.*(NEW|REDUCE|pulse|DONE)|INFO: (seed|Loaded))' "$log" | tail -n 5 || true
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  # After a crash libFuzzer prints no final stats: take the last status line's count.
  [ -n "$execs" ] || execs=$(grep -oE '^#[0-9]+' "$log" | tail -n1 | tr -d '#')
  secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n1)
  # libFuzzer's corpus (units and size) at the end; the folder also keeps superseded units.
  corpus=$(grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -n1 | sed 's/corp: //')
  files=$(find "corpus/$t" -type f | wc -l)
  crashes=$(( $(find "artifacts/$t" -type f | wc -l) - before ))
  if [ "$status" -ne 0 ] || [ "$crashes" -gt 0 ]; then
    failed=1
    grep -E 'panicked at|ERROR: libFuzzer|SUMMARY|Test unit written to' "$log" | head -n 8 || true
    [ "$crashes" -gt 0 ] || crashes="? (exit $status)"
  fi
  summary+=("$(printf '%-14s %8s %14s %14s %8s %8s' "$t" "${secs:-?}" "${execs:-?}" "${corpus:-?}" "$files" "$crashes")")
  rm -f "$log"
done

echo
printf '%-14s %8s %14s %14s %8s %8s\n' target seconds executions corpus files crashes
printf '%s\n' "${summary[@]}"
exit "$failed"
