#!/usr/bin/env bash
# Runs reader_bench with repetitions and prints the median cost of each read and
# the median ratio to clock_gettime(CLOCK_MONOTONIC_RAW) measured in the same run;
# then reader_interleaved, which alternates the kinds round by round.
# Usage: bench/run_reader_bench.sh [BUILD_DIR] [REPETITIONS]
set -euo pipefail
build=${1:-build/default}
reps=${2:-15}
out=$(mktemp /tmp/reader_bench-XXXXXX.json)
trap 'rm -f "$out"' EXIT
"$build/bench/reader_bench" --benchmark_repetitions="$reps" \
  --benchmark_min_time=0.2 --benchmark_format=json --benchmark_out="$out" \
  --benchmark_out_format=json >/dev/null
python3 - "$out" <<'PY'
import json, statistics, sys, collections
data = json.load(open(sys.argv[1]))
runs = collections.defaultdict(list)
for b in data["benchmarks"]:
    if b.get("run_type") != "iteration":
        continue
    name, _, threads = b["run_name"].rpartition("/threads:")
    runs[(name.split("/")[0], int(threads))].append(b["real_time"] / b["iterations"] * b["threads"]
                                                     if False else b["cpu_time"])
ctx = data["context"]
print(f"host: {ctx.get('num_cpus')} CPUs, {ctx.get('mhz_per_cpu')} MHz; {ctx.get('writer', '')}; "
      f"counter map {ctx.get('counter map', '')}")
print("| read | threads | median ns/read | ratio to clock_gettime |")
print("|---|---|---|---|")
for threads in (1, 2):
    base = statistics.median(runs[("BM_ClockGettimeMonotonicRaw", threads)])
    for name, label in (("BM_ClockGettimeMonotonicRaw", "clock_gettime(CLOCK_MONOTONIC_RAW)"),
                        ("BM_GetTimestampWithError", "Clock::get_timestamp_with_error()"),
                        ("BM_CApiGetTimestampWithError", "ts_get_timestamp_with_error()"),
                        ("BM_ReadCounter", "the counter alone (lfence; rdtsc)"),
                        ("BM_CounterGetTimestampWithError", "Clock::get_timestamp_with_error(), counter map"),
                        ("BM_CounterCApiGetTimestampWithError", "ts_get_timestamp_with_error(), counter map")):
        m = statistics.median(runs[(name, threads)])
        print(f"| {label} | {threads} | {m:.1f} | {m / base:.2f} |")
PY
# The same reads interleaved round by round: the ratios BENCHMARKS quotes.
"$build/bench/reader_interleaved" 40
