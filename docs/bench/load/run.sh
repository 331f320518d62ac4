#!/bin/bash
set -u
B=${1:-build/default}
ulimit -n 20000  # above the agent count (the master inherits it)
$B/server/timesync-master --config docs/bench/load/master.yaml > /tmp/load-master.log 2>&1 &
M=$!
sleep 1
echo "=== grpc 100 agents"; $B/bench/timesync-load --target 127.0.0.1:27450 --transport grpc --agents 100 --rates 2000,5000,10000,20000 --step-s 10 --master-pid $M
echo "=== grpc 1000 agents"; $B/bench/timesync-load --target 127.0.0.1:27450 --transport grpc --agents 1000 --rates 2000,5000,10000,20000 --step-s 10 --master-pid $M
echo "=== grpc 10000 agents"; $B/bench/timesync-load --target 127.0.0.1:27450 --transport grpc --agents 10000 --rates 2000,5000,10000 --step-s 10 --master-pid $M
echo "=== udp 1000 agents"; $B/bench/timesync-load --target 127.0.0.1:27452 --transport udp --agents 1000 --rates 5000,10000,20000,40000 --step-s 10 --master-pid $M
kill $M; wait
