#!/usr/bin/env bash
# The accuracy benchmark: every test-bed scenario, chrony beside timesync.
#
#   sudo ./scripts/bench-testbed.sh [OUT_DIR] [seconds per scenario]
#
# Installs what is missing (chrony, stress-ng, iperf3 on top of the build
# dependencies), builds, and runs lab/testbed/timesync-testbed bench:
# bench.json, bench.md and one SVG per scenario land in OUT_DIR (default
# build/bench); per-scenario logs and traces in OUT_DIR/work. About 13 minutes
# at the default 70 s per scenario. chronyd only runs inside the test bed's
# namespaces with -x: it never touches this machine's clock.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/bench}
seconds=${2:-70}
bash scripts/deps.sh
missing=()
for p in chrony stress-ng iperf3; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
bash scripts/build.sh default >/dev/null
exec python3 lab/testbed/timesync-testbed --build-dir build/default --out "$out" \
  bench --duration "$seconds"
