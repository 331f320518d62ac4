"""timesync-testbed: several "SoMs" on one machine, and the accuracy benchmark.

Each SoM is a network namespace with its own address on a veth pair; the
pairs meet on a bridge inside a hub namespace, so nothing touches the host's
own network. The master runs in `tsb-master` (10.213.0.1), agent i in
`tsb-somI` (10.213.0.{10+I}). Every agent runs a simulated oscillator derived
from the host's CLOCK_MONOTONIC_RAW and the master serves that raw clock, so
the exact true error of what each agent's segment serves is computable:
`timesync-truth-monitor` (lab/truth-monitor) samples it about once per
millisecond with the bound.

    timesync-testbed run [--scenario NAME] [--duration S] [--chrony]
                         [--probe PERIOD_MS] [--calibrate]
    timesync-testbed bench [--scenarios A,B] [--duration S]
    timesync-testbed transports [--scenarios A,B] [--duration S] [--grpc-agents N] [--udp-agents N]
                                gRPC agents, UDP agents and chrony at once through the
                                same impairment; the master's CPU per request of each
    timesync-testbed failover [--scenarios failover,failback,partition] [--hold-down S]
                                a hot-standby master: the primary killed, killed and
                                back, or cut off; switch times, error before/after
    timesync-testbed compare [--scenarios idle,jitter] [--duration S]
                         [--modes polling,polling-fast,beacon] [--beacon-rate-hz R] [--repeat N]
                                polling vs beacon mode with the same agents and
                                scenario: accuracy, outside-bound count, master CPU
    timesync-testbed legs [--count N]   where a GetTime round trip's time goes
    timesync-testbed check              short functional run for CI (exit 1 on failure)
    timesync-testbed start-error [...]  how close to a synchronized instant commands start
    timesync-testbed servo-compare [...]  the PLL and the Kalman servo side by side
    timesync-testbed honesty [...]      every served reading against the truth, over
                                        seeds x modes x impairments
    timesync-testbed cleanup            removes whatever a killed run left behind
    timesync-testbed list               the scenarios
  options before or after the command: --build-dir DIR --out DIR --agents N;
  before it: --set KEY=VALUE (agents), --master-set KEY=VALUE (master).

--probe adds GPIO pulse probes on a simulated wire (/dev/shm/timesync-wire-tsb):
`timesync-probe emit` in every namespace (the master's on its raw clock, each
agent's on its segment) and one observer, whose report (each agent against the
master) is set beside the truth at the same instants. --calibrate runs the
scenario twice: the second run sets each agent's calibration.offset_ns to the
mean pulse offset the first run measured.

Up to 24 agents in scenarios: the first six have fixed crystals and names
(configs.CRYSTALS), the rest get generated ones (a fixed pseudo-random
frequency in +-50 ppm and offset in +-5 s, named somN). Every run also records
the master's CPU time (utime + stime from /proc/PID/stat, from when the agents
start to the end of the monitor) and the requests and beacons it served (its
exit log line).

Needs root (network namespaces). Everything it creates is named tsb-* and is
removed on exit, on SIGINT/SIGTERM, and at the start of the next run.

Modules: network (namespaces), processes (processes, signals, lock, cgroups,
binaries), configs (agent and master YAML), scenarios (definitions and the
runner), truth (the truth monitor and its output), chrony, probes, report
(tables, SVG), cli; one per command family: bench (run, bench, check),
transports, failover, compare, legs, start_error, servo_compare, honesty.
"""
