#!/usr/bin/env bash
# The README's demo command: installs what is missing for the demo only (no test
# tools, nothing that starts a service), builds the four programs it runs in a
# build directory of its own (build/demo: no tests, no benchmarks), and runs it.
#
#   ./scripts/demo.sh [seconds]      (default 40; Ctrl-C ends it early)
#
# One master and two agents on loopback, as real processes talking gRPC, each
# agent on a simulated crystal: "camera" runs 35 ppm fast and starts 250 ms
# off, "sensor" runs 20 ppm slow and starts 1.5 s off. The truth monitor
# (lab/truth-monitor, built but not installed) prints a live table per agent (offset, frequency estimate, bound, status and
# the TRUE error of the time applications read from the agent's shared segment)
# and counts readings, sampled every millisecond, whose truth left the bound.
# At 40% of the run the master is killed for 8 s: holdover, then the
# out-of-sync alarm (timestamps refused), then resync when it comes back.
# At the end, `timesyncctl status` of each agent and of the master, and a few
# of the Prometheus series each daemon exports.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-40}
[[ "$seconds" =~ ^[0-9]+$ ]] && (( seconds >= 10 )) || { echo "usage: $0 [seconds >= 10]" >&2; exit 64; }
bash scripts/deps.sh demo
bin=build/demo
echo "building the master, the agent, timesyncctl and the truth monitor in $bin (the first time takes minutes)"
cmake -S . -B "$bin" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DTIMESYNC_BUILD_TESTS=OFF -DTIMESYNC_BUILD_BENCH=OFF >/dev/null
cmake --build "$bin" --target timesync-master timesync-agent timesyncctl timesync-truth-monitor >/dev/null
cfg=config/demo
dir=$(mktemp -d /tmp/timesync-demo-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir" /dev/shm/timesync-demo-camera* /dev/shm/timesync-demo-sensor*
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Every simulated clock starts at the same CLOCK_MONOTONIC_RAW instant, so the
# monitor can compute the truth.
origin=$(python3 -c 'import time; print(time.clock_gettime_ns(time.CLOCK_MONOTONIC_RAW))')
"$bin/server/timesync-master" --config "$cfg/master.yaml" --check-config >/dev/null
for a in camera sensor; do
  "$bin/client/timesync-agent" --config "$cfg/$a.yaml" --check-config >/dev/null
done
# The master, and its outage: killed at 40% of the run, restarted 8 s later.
(
  "$bin/server/timesync-master" --config "$cfg/master.yaml" 2>"$dir/master.log" &
  master=$!
  trap 'kill "$master" 2>/dev/null' EXIT
  sleep $(( seconds * 2 / 5 ))
  echo "  --- master killed (SIGKILL) ---"
  kill -KILL "$master"
  wait "$master" 2>/dev/null || true
  sleep 8
  echo "  --- master restarted ---"
  exec "$bin/server/timesync-master" --config "$cfg/master.yaml" 2>>"$dir/master.log"
) &
pids+=("$!")
for a in camera sensor; do
  "$bin/client/timesync-agent" --config "$cfg/$a.yaml" --sim-origin-ns "$origin" 2>"$dir/$a.log" &
  pids+=("$!")
done
# Wait until both SoMs serve timestamps, as a unit that must not start before
# would (timesyncctl waitsync: reads the segment like an application, exit 0
# once synchronized), so the table starts full.
for a in camera sensor; do
  "$bin/tools/timesyncctl" waitsync --segment "/dev/shm/timesync-demo-$a" --timeout 30 |
    sed "s/^/  [$a] /" || true
done
# Alarms as the agents stream them (WatchAlarms), prefixed with the agent.
for a in camera:17451 sensor:17452; do
  ( "$bin/tools/timesyncctl" alarms --target "127.0.0.1:${a#*:}" 2>/dev/null |
      sed -u "s/^/  [alarm ${a%%:*}] /" ) &
  pids+=("$!")
done
pids+=("$!")

echo "timesync demo: master 127.0.0.1:17450, agents camera (+35 ppm) and sensor (-20 ppm), ${seconds} s"
rc=0
"$bin/lab/truth-monitor/timesync-truth-monitor" --target 127.0.0.1:17451 --target 127.0.0.1:17452 \
  --duration-s "$seconds" --interval-ms 2000 --settle-s 5 \
  --truth-master-config "$cfg/master.yaml" --sim-origin-ns "$origin" || rc=$?
echo
# What an operator sees on each SoM at the end of the run (chronyc-style), and
# the Prometheus series the alert rules in deploy/prometheus/ watch.
for a in camera:17451 sensor:17452; do
  echo "timesyncctl status ${a#*:}   # ${a%%:*}"
  "$bin/tools/timesyncctl" status "127.0.0.1:${a#*:}" | sed 's/^/  /' || true
done
echo "timesyncctl status 17450   # the master"
"$bin/tools/timesyncctl" status 127.0.0.1:17450 | sed 's/^/  /' || true
echo "metrics (camera, http://127.0.0.1:17461/metrics; master on 17460, sensor on 17462):"
curl -s http://127.0.0.1:17461/metrics |
  grep -E '^timesync_agent_(synchronized|error_bound_seconds|offset_seconds|frequency_ppm|alarms_raised_total|samples_total)' |
  sed 's/^/  /' || true
echo
echo "agent logs:"
grep -h -E "synchronized to|ALARM|timeline set|restarted" "$dir/camera.log" "$dir/sensor.log" | cut -c1-160 || true
exit "$rc"
