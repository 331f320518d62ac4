"""The truth: timesync-truth-monitor (lab/truth-monitor) and what it writes.

The master serves this host's CLOCK_MONOTONIC_RAW and every agent's simulated
crystal is derived from that same clock, so the monitor knows the exact true
error of every reading a segment serves: the reading's own raw instant is its
true time. It reads each segment about once per --sample-us (1 ms) with the
bound; see lab/truth-monitor/truth_monitor.cc for its JSON and trace.
"""
import json

from .network import AGENT_PORT, Network


def targets_argv(bed, work, agents, duration, origin, settle_s=5, interval_ms=500):
    """The scenario runner's monitor: every agent through its AgentService
    (status lines, trace) and its segment, truth from the master's YAML."""
    targets = []
    for i in range(agents):
        targets += ["--target", f"{Network.agent_ip(i)}:{AGENT_PORT}"]
    return [bed.bin["monitor"], *targets, "--duration-s", str(duration),
            "--interval-ms", str(interval_ms), "--settle-s", str(settle_s),
            "--truth-master-config", f"{work}/master.yaml", "--sim-origin-ns", str(origin),
            "--json", f"{work}/monitor.json", "--trace", f"{work}/trace.jsonl"]


def load(path):
    with open(path) as f:
        return json.load(f)


def trace_errors_ns(trace_path, settle_after_s):
    """|true error| of every traced reading taken settle_after_s after that
    agent's first served reading: the pooled distribution over all agents."""
    first, errs = {}, []
    with open(trace_path) as f:
        for line in f:
            r = json.loads(line)
            if r.get("k") != "r" or "a" not in r:
                continue
            t0 = first.setdefault(r["a"], r["t"])
            if r["t"] - t0 >= settle_after_s:
                errs.append(abs(r["e"]))
    return errs

