#!/usr/bin/env bash
# The README's demo command: installs what is missing, builds, and runs the demo.
#
# A simulated agent publishes a transform (its master runs 35 ppm fast of this
# host) into a shared-memory segment; an application reads it through
# libtimesync and prints time, bound, status and epoch. Halfway through the
# publisher loses its master: holdover, then out of sync when the bound passes
# 100 us, then back in sync.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/build.sh default >/dev/null
bin=build/default/tools
dir=$(mktemp -d /tmp/timesync-demo-XXXXXX)
seg=$dir/segment
pub=""
cleanup() {
  [ -n "$pub" ] && kill "$pub" 2>/dev/null && wait "$pub" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$bin/timesync-sim-publisher" --path "$seg" --drift-ppm 35 --offset-s 1.5 --rate-hz 10 \
  --acquire-s 1 --outage-at-s 4 --outage-for-s 5 --max-error-us 100 --duration-s 12 &
pub=$!
# Bounded wait for the publisher's first write; fail loudly if it died instead.
for _ in $(seq 100); do
  [ -e "$seg" ] && break
  kill -0 "$pub" 2>/dev/null || { echo "demo: the publisher exited before creating $seg" >&2; exit 1; }
  sleep 0.05
done
[ -e "$seg" ] || { echo "demo: no segment at $seg after 5 s" >&2; exit 1; }
echo "reading $seg through libtimesync every 400 ms:"
"$bin/timesync-now" --path "$seg" --watch --interval-ms 400 --count 28 || true
