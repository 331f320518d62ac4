"""The truth: timesync-truth-monitor (lab/truth-monitor) and what it writes.

The master serves this host's CLOCK_MONOTONIC_RAW and every agent's simulated
crystal is derived from that same clock, so the monitor knows the exact true
error of every reading a segment serves: the reading's own raw instant is its
true time. It reads each segment about once per --sample-us (1 ms) with the
bound; see lab/truth-monitor/truth_monitor.cc for its JSON and trace.
"""
import json

from .network import AGENT_PORT, Network


def targets_argv(bed, work, agents, duration, origin, settle_s=5, interval_ms=500, segments=()):
    """The scenario runner's monitor: every agent through its AgentService
    (status lines, trace) and its segment, truth from the master's YAML.
    segments: paths also read directly from the monitor's start (retried
    until they exist), so their entries count every reading ever served;
    a target's segment is read only once a status line named it."""
    targets = []
    for i in range(agents):
        targets += ["--target", f"{Network.agent_ip(i)}:{AGENT_PORT}"]
    for s in segments:
        targets += ["--segment", s]
    return [bed.bin["monitor"], *targets, "--duration-s", str(duration),
            "--interval-ms", str(interval_ms), "--settle-s", str(settle_s),
            "--truth-master-config", f"{work}/master.yaml", "--sim-origin-ns", str(origin),
            "--json", f"{work}/monitor.json", "--trace", f"{work}/trace.jsonl"]


def segments_argv(bed, json_path, segments, duration, sample_us, interval_ms=5000):
    """The honesty monitor: segments by path (it may start before the agents
    create them), no gRPC, truth = the host's raw clock, no trace. It runs
    SCHED_FIFO 1: it costs a few % of one CPU, but at normal priority its
    wake-ups came ~0.5 ms late while dozens of agents kept both cores busy."""
    argv = ["chrt", "-f", "1", bed.bin["monitor"], "--duration-s", str(duration), "--sample-us", str(sample_us),
            "--interval-ms", str(interval_ms), "--json", json_path]
    for s in segments:
        argv += ["--segment", s]
    return argv


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


def pooled(segments):
    """One line over several segments' monitor entries: readings served and
    outside the bound, worst |error|/bound and |error|, the mean bound over
    every served reading, refused readings per libtimesync error code."""
    served = sum(s["served"] for s in segments)
    refused = {}
    for s in segments:
        for code, n in (s.get("refused") or {}).items():
            refused[code] = refused.get(code, 0) + n
    ratios = [s["worst_ratio"] for s in segments if s.get("worst_ratio") is not None]
    errs = [s["worst_abs_err_ns"] for s in segments if s.get("worst_abs_err_ns") is not None]
    bound_sum = sum(s["mean_bound_all_ns"] * s["served"] for s in segments
                    if s.get("mean_bound_all_ns") is not None)
    return {"reads": sum(s["reads"] for s in segments), "served": served,
            "outside": sum(s["violations"] for s in segments),
            "worst_ratio": max(ratios) if ratios else None,
            "worst_abs_err_us": max(errs) / 1e3 if errs else None,
            "mean_bound_us": bound_sum / served / 1e3 if served else None,
            "refused": dict(sorted(refused.items()))}
