#!/usr/bin/env bash
# Builds the libFuzzer harnesses (fuzz/) with clang-14 in a build directory of
# their own and runs each for SECONDS (default 60), from its seed corpus
# (fuzz/corpus/<harness>/) plus what earlier runs in the same build directory
# found. Fails if any harness reports a crash, leak, timeout or out-of-memory.
#
#   scripts/fuzz.sh [SECONDS]
#
# Environment:
#   TIMESYNC_FUZZ_BUILD   build directory (default build/fuzz)
#   TIMESYNC_FUZZ_ONLY    harnesses to run, space-separated (default: all four)
#   TIMESYNC_FUZZ_JOBS    parallel compile jobs (default 2)
#   TIMESYNC_FUZZ_ARGS    extra libFuzzer flags for every run
# Logs: $TIMESYNC_FUZZ_BUILD/logs/<harness>.log; a failing input is saved as
# $TIMESYNC_FUZZ_BUILD/artifacts/<harness>/crash-* (leak-*, timeout-*, oom-*).
# Reproduce: $TIMESYNC_FUZZ_BUILD/fuzz/<harness> <that file>.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)
seconds=${1:-60}
build=${TIMESYNC_FUZZ_BUILD:-$src/build/fuzz}
harnesses=(${TIMESYNC_FUZZ_ONLY:-fuzz_config fuzz_segment fuzz_time_service fuzz_wire})
jobs=${TIMESYNC_FUZZ_JOBS:-2}

cc=$(command -v clang-14 || command -v clang || true)
cxx=$(command -v clang++-14 || command -v clang++ || true)
if [ -z "$cc" ] || [ -z "$cxx" ]; then
  echo "fuzz.sh: clang-14 is missing (apt-get install clang-14 libclang-rt-14-dev)" >&2
  exit 1
fi

cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" \
  -DTIMESYNC_SANITIZE=address -DTIMESYNC_BUILD_FUZZ=ON \
  -DTIMESYNC_BUILD_TESTS=OFF -DTIMESYNC_BUILD_BENCH=OFF >"$build.configure.log" 2>&1 ||
  { cat "$build.configure.log" >&2; exit 1; }
cmake --build "$build" -j "$jobs" --target "${harnesses[@]}"

mkdir -p "$build/logs"
failed=()
for h in "${harnesses[@]}"; do
  corpus=$build/corpus/$h
  artifacts=$build/artifacts/$h
  mkdir -p "$corpus" "$artifacts"
  log=$build/logs/$h.log
  echo "== $h: ${seconds} s (log $log)"
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb: ASan's shadow
  # included. New inputs go to the first corpus dir, never into the tree's seeds.
  rc=0
  # shellcheck disable=SC2086
  "$build/fuzz/$h" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2560 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" ${TIMESYNC_FUZZ_ARGS:-} \
    "$corpus" "$src/fuzz/corpus/$h" >"$log" 2>&1 || rc=$?
  if [ "$rc" -eq 0 ]; then
    grep -E '^#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb' "$log" | sed 's/^/   /'
  else
    failed+=("$h")
    echo "   FAILED: $h (exit $rc); last lines of $log:"
    tail -n 40 "$log" | sed 's/^/   /'
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: ${#failed[@]} of ${#harnesses[@]} harnesses failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz.sh: ${#harnesses[@]} harnesses ran ${seconds} s each without a finding"
