#!/usr/bin/env bash
# Kuramoto mode benchmark: real timesync-kuramoto processes on the simulated
# wire, and the same peers in simulated time for comparison.
#
#   kuramoto/bench_kuramoto.sh BUILD_DIR [OUT_DIR]
#
# Env: LONG_CYCLES (default 20000: the 100 Hz run whose |delta| statistics are
# quoted, 200 s), REPEATS (default 5: short runs per setting, medians quoted),
# FIFO (a SCHED_FIFO priority for every peer, default none).
#
# Parts:
#   1. 100 Hz, K 0.5, peers +-25 ppm, 150 degrees apart: REPEATS short runs
#      (cycles to converge) and one LONG_CYCLES run (|delta| statistics, histogram).
#   2. Rates 1, 10, 100, 250, 400, 500 Hz, same set-up, about 6 s each (20 cycles at 1 Hz).
#   3. K sweep with the seed's tens of ppm (+-25 ppm): cycles to converge.
#   4. K sweep across the threshold: peers +-5000 ppm apart (1 %), where
#      K_c = 2 pi * 0.01 = 0.063, so the threshold falls inside 0.05..1.0.
#   5. Parts 3 and 4 in simulated time (timesync-kuramoto --simulate), 20 seeds each.
# Everything lands in OUT_DIR (JSON per peer per run) and summary.md.
set -euo pipefail

BUILD=${1:?usage: bench_kuramoto.sh BUILD_DIR [OUT_DIR]}
OUT=${2:-$(mktemp -d /tmp/kuramoto-bench-XXXXXX)}
BIN=$BUILD/kuramoto/timesync-kuramoto
LONG_CYCLES=${LONG_CYCLES:-20000}
REPEATS=${REPEATS:-5}
RT=()
[[ -n "${FIFO:-}" ]] && RT=(--fifo "$FIFO" --mlockall)
[[ -x $BIN ]] || { echo "no $BIN: build the timesync-kuramoto target first" >&2; exit 2; }
mkdir -p "$OUT"
WIRE=kbench-$$
trap 'rm -f /dev/shm/timesync-wire-$WIRE' EXIT

# pair TAG HZ K DRIFT_PPM CYCLES: two peers, +DRIFT and -DRIFT, 0 and 150 degrees.
pair() {
  local tag=$1 hz=$2 k=$3 drift=$4 cycles=$5
  "$BIN" --out "wire:$WIRE:0" --in "wire:$WIRE:1" --hz "$hz" --coupling "$k" \
    --drift-ppm "$drift" --start-phase 0 --cycles "$cycles" "${RT[@]}" \
    --json "$OUT/$tag.a.json" --report "$OUT/$tag.a.txt" >/dev/null &
  local a=$!
  "$BIN" --out "wire:$WIRE:1" --in "wire:$WIRE:0" --hz "$hz" --coupling "$k" \
    --drift-ppm "-$drift" --start-phase 150 --cycles "$cycles" "${RT[@]}" \
    --json "$OUT/$tag.b.json" --report "$OUT/$tag.b.txt" >/dev/null
  wait "$a"
}

# sim TAG HZ K DRIFT_PPM CYCLES SEED
sim() {
  "$BIN" --simulate --peers 2 --hz "$2" --coupling "$3" --drift-ppm "$4,-$4" \
    --start-phase 0,150 --cycles "$5" --wake-jitter-us 50 --stamp-jitter-us 5 \
    --visible-after-us 20 --seed "$6" --quiet --json "$OUT/$1.json" >/dev/null
}

echo "writing to $OUT"
echo "1. 100 Hz, K 0.5"
for r in $(seq 1 "$REPEATS"); do pair "p1-short-$r" 100 0.5 25 300; done
pair p1-long 100 0.5 25 "$LONG_CYCLES"

echo "2. rates"
for hz in 1 10 100 250 400 500; do
  cycles=$(( hz == 1 ? 20 : hz * 6 ))
  pair "p2-$hz" "$hz" 0.5 25 "$cycles"
done

echo "3. K sweep, +-25 ppm"
for k in 0.05 0.1 0.2 0.3 0.5 0.7 1.0 1.5; do
  for r in $(seq 1 "$REPEATS"); do pair "p3-$k-$r" 100 "$k" 25 300; done
done

echo "4. K sweep across the threshold, +-5000 ppm"
for k in 0.03 0.05 0.06 0.07 0.08 0.1 0.2 0.5 1.0; do pair "p4-$k" 100 "$k" 5000 1000; done

echo "5. simulated"
for k in 0.05 0.1 0.2 0.3 0.5 0.7 1.0 1.5; do
  for s in $(seq 1 20); do sim "s3-$k-$s" 100 "$k" 25 300 "$s"; done
done
for k in 0.03 0.05 0.06 0.07 0.08 0.1 0.2 0.5 1.0; do
  for s in $(seq 1 20); do sim "s4-$k-$s" 100 "$k" 5000 1000 "$s"; done
done

python3 - "$OUT" "$REPEATS" <<'EOF' | tee "$OUT/summary.md"
import glob, json, os, statistics, sys
out, repeats = sys.argv[1], int(sys.argv[2])

def load(path):
    with open(path) as f:
        d = json.load(f)
    return d if isinstance(d, list) else [d]

def peers(paths):
    """Every peer summary in the files (both sides of each pair)."""
    return [p | {"_run": r} for path in paths for r in load(path) for p in r["peers"]]

def run_cycles(paths):
    """Cycles to converge per run: the slower side, None if a side never converged."""
    by_run = {}
    for path in paths:
        key = path.rsplit(".", 2)[0] if path.endswith((".a.json", ".b.json")) else path
        for r in load(path):
            for p in r["peers"]:
                c = p["cycles_to_converge"]
                by_run.setdefault(key, []).append(c)
    return [None if None in v else max(v) for v in by_run.values()]

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None

def us(ns):
    return f"{ns / 1e3:.1f}"

def fmt_cycles(cs):
    ok = [c for c in cs if c is not None]
    s = f"{med(ok):g}" if ok else "-"
    return f"{s} (converged {len(ok)}/{len(cs)}, range {min(ok)}-{max(ok)})" if ok else f"- (converged 0/{len(cs)})"

print("## 1. 100 Hz, K 0.5, peers +25/-25 ppm, start 150 degrees apart\n")
print(f"Cycles to converge over {repeats} runs of 300 cycles (slower side of each pair): "
      + fmt_cycles(run_cycles(sorted(glob.glob(f"{out}/p1-short-*.json")))) + "\n")
for side in "ab":
    r = load(f"{out}/p1-long.{side}.json")[0]
    p = r["peers"][0]
    a, c = p["abs_delta_all"], p["abs_delta_converged"]
    print(f"Long run, peer {side} ({r['cycles']} cycles, {r['missed_wakeups']} missed wake-ups): "
          f"converged after {p['cycles_to_converge']} cycles, phase slips {p['slips']} "
          f"({p['slips_after_converge']} after converging), "
          f"|delta| after convergence n {c['count']}: mean {us(c['mean_ns'])} us, "
          f"p50 {us(c['p50_ns'])} us, p99 {us(c['p99_ns'])} us, max {us(c['max_ns'])} us; "
          f"signed mean {us(p['mean_delta_ns'])} us\n")
print("Histogram of delta (peer a's view, after convergence):\n\n```")
with open(f"{out}/p1-long.a.txt") as f:
    print("".join(l for l in f if l.startswith("  [")).rstrip())
print("```\n")

print("## 2. Rates (K 0.5, +-25 ppm, about 6 s each; 20 cycles at 1 Hz)\n")
print("abs delta: the worse of the two sides, after convergence.\n")
print("| Hz | cycles | converged after (a/b) | abs delta p50 us | p99 us | max us | slips (a/b) | missed wake-ups |")
print("|---|---|---|---|---|---|---|---|")
for hz in (1, 10, 100, 250, 400, 500):
    rs = [load(f"{out}/p2-{hz}.{s}.json")[0] for s in "ab"]
    ps = [r["peers"][0] for r in rs]
    cv = [p["abs_delta_converged"] for p in ps]
    conv = "/".join("no" if p["cycles_to_converge"] is None else str(p["cycles_to_converge"]) for p in ps)
    print(f"| {hz} | {rs[0]['cycles']} | {conv} | {us(max(c['p50_ns'] for c in cv))} | "
          f"{us(max(c['p99_ns'] for c in cv))} | {us(max(c['max_ns'] for c in cv))} | "
          f"{ps[0]['slips']}/{ps[1]['slips']} | {sum(r['missed_wakeups'] for r in rs)} |")
print()

def g(x, f="{:g}"):
    return "-" if x is None else f.format(x)

print("## 3. K sweep, peers +-25 ppm (the seed's tens of ppm), 300 cycles at 100 Hz\n")
print(f"Cycles to converge: real, {repeats} runs per K; simulated, 20 seeds per K.\n")
print("| K | real: cycles to converge, median | simulated: cycles to converge, median |")
print("|---|---|---|")
for k in ("0.05", "0.1", "0.2", "0.3", "0.5", "0.7", "1.0", "1.5"):
    rp = sorted(glob.glob(f"{out}/p3-{k}-*.json"))
    sp = sorted(glob.glob(f"{out}/s3-{k}-*.json"))
    print(f"| {k} | {fmt_cycles(run_cycles(rp))} | {fmt_cycles(run_cycles(sp))} |")
print()

import math
kc = 2 * math.pi * 0.01
print("## 4. K sweep across the threshold, peers +-5000 ppm, 1000 cycles at 100 Hz\n")
print(f"K_c = 2 pi |d_a - d_b| = 2 pi x 0.01 = {kc:.4f}. Locked pairs sit at delta = asin(K_c/K)/(2 pi f); "
      "a pair below K_c keeps slipping. Slips are full turns of the phase difference over the run "
      "(peer a's view); delta is peer a's signed mean over the second half of the run.\n")
print("| K | K/K_c | predicted lock delta us | real: slips | real: delta us | "
      "simulated: slips, median of 20 | simulated: delta us, median |")
print("|---|---|---|---|---|---|---|")
for k in ("0.03", "0.05", "0.06", "0.07", "0.08", "0.1", "0.2", "0.5", "1.0"):
    kf = float(k)
    pred = f"{math.asin(kc / kf) / (2 * math.pi * 100) * 1e6:.0f}" if kf >= kc else "no lock"
    ra = load(f"{out}/p4-{k}.a.json")[0]["peers"][0]
    sims = [load(p)[0]["peers"][0] for p in sorted(glob.glob(f"{out}/s4-{k}-*.json"))]
    print(f"| {k} | {kf / kc:.2f} | {pred} | {ra['slips']} | {us(ra['mean_delta_second_half_ns'])} | "
          f"{g(med([p['slips'] for p in sims]))} | "
          f"{us(med([p['mean_delta_second_half_ns'] for p in sims]))} |")
EOF
