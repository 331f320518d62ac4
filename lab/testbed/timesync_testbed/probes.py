"""GPIO pulse probes on a simulated wire (/dev/shm/timesync-wire-tsb):
`timesync-probe emit` in every namespace (the master's on its raw clock, each
agent's on its segment) and one observer, whose report (each agent against the
master) is set beside the truth at the same instants."""
import bisect
import json
import os
import statistics
import time

from .configs import AGENT_NAMES, segment_path
from .network import MASTER_NS, Network
from .processes import Proc
from .report import fmt, pct

# The probes' simulated wire: line 0 is the master's, line i + 1 agent i's.
WIRE = "tsb"


class ProbeError(Exception):
    """The probe observer would not start (its log says why)."""


# Emitters run as seed 000's real-time tasks: SCHED_FIFO and locked memory,
# so a pulse is not late because a normal task held the CPU at the boundary.
PROBE_RT = ["--fifo", "50", "--mlockall", "--prefault-stack", "256", "--max-late-us", "5"]


def start_probes(bed, work, agents, period_ms):
    """The observer (first in the list), then one emitter per SoM."""
    period = f"{period_ms}ms"
    names = [AGENT_NAMES[i % len(AGENT_NAMES)] for i in range(agents)]
    inputs = ["--input", f"master=wire:{WIRE}:0"]
    for i, n in enumerate(names):
        inputs += ["--input", f"{n}=wire:{WIRE}:{i + 1}"]
    observer = Proc("probe-observer", MASTER_NS,
                    [bed.bin["probe"], "observe", *inputs, "--reference", "master", "--period", period,
                     "--json", f"{work}/probe.json", "--svg", f"{work}/probe.svg",
                     "--edges", f"{work}/edges.jsonl"],
                    f"{work}/probe-observer.log", stdout=open(f"{work}/probe.txt", "w"))
    deadline = time.monotonic() + 10
    while "observing" not in open(f"{work}/probe-observer.log").read():
        if time.monotonic() > deadline or not observer.alive():
            raise ProbeError(open(f"{work}/probe-observer.log").read().strip())
        time.sleep(0.01)
    procs = [observer,
             Proc("probe-master", MASTER_NS,
                  [bed.bin["probe"], "emit", "--timeline", "raw", "--output", f"wire:{WIRE}:0",
                   "--period", period, "--consumer", "master", "--json", f"{work}/emit-master.json",
                   *PROBE_RT],
                  f"{work}/probe-master.log")]
    for i, n in enumerate(names):
        procs.append(Proc(f"probe-{n}", Network.agent_ns(i),
                          [bed.bin["probe"], "emit", "--segment", segment_path(i),
                           "--output", f"wire:{WIRE}:{i + 1}", "--period", period, "--consumer", n,
                           "--json", f"{work}/emit-{n}.json", *PROBE_RT],
                          f"{work}/probe-{n}.log"))
    return procs


def stats_us(v):
    """mean, std, p50, p99 and max |x| of a list of ns values, in us."""
    if not v:
        return {"n": 0}
    a = sorted(abs(x) for x in v)
    return {"n": len(v), "mean_us": statistics.fmean(v) / 1e3,
            "std_us": (statistics.stdev(v) if len(v) > 1 else 0.0) / 1e3,
            "p50_us": sorted(v)[len(v) // 2] / 1e3, "abs_p99_us": pct(a, 0.99) / 1e3,
            "max_abs_us": a[-1] / 1e3}


def probe_analysis(work, mon, period_ms, names):
    """Sets the observer's report beside the truth at the same instants.

    The wire carries the host's raw clock, which is the master's timeline
    here, so an agent's pulse at raw time t, meant for the synchronized
    boundary B, is early by exactly the agent's true error e(t): its offset
    from the nearest boundary is -e(t). The monitor's trace has e every
    20 ms; it is interpolated to each edge (only between readings at most
    50 ms apart, i.e. while the agent was serving time)."""
    period_ns = int(period_ms * 1e6)
    report = json.load(open(f"{work}/probe.json"))
    edges = {}
    for line in open(f"{work}/edges.jsonl"):
        e = json.loads(line)
        edges.setdefault(e["line"], []).append(e["t"])
    trace = {}
    start = mon["start_raw_ns"]
    for line in open(f"{work}/trace.jsonl"):
        r = json.loads(line)
        if r["k"] == "r":
            trace.setdefault(r["a"], []).append((start + round(r["t"] * 1e9), r["e"]))

    def grid(t):
        return t - ((t + period_ns // 2) // period_ns) * period_ns

    out = {"period_ms": period_ms, "master_grid": stats_us([grid(t) for t in edges.get("master", [])]),
           "agents": []}
    for i, name in enumerate(names):
        pair = next((p for p in report["pairs"] if p["a"] == "master" and p["b"] == name), None)
        rows = trace.get(i, [])
        ts = [t for t, _ in rows]
        truth, diff = [], []
        for t in sorted(edges.get(name, [])):
            k = bisect.bisect_left(ts, t)
            if k == 0 or k == len(ts) or ts[k] - ts[k - 1] > 50_000_000:
                continue
            (t0, e0), (t1, e1) = rows[k - 1], rows[k]
            e = e0 + (e1 - e0) * (t - t0) / (t1 - t0)
            truth.append(-e)
            diff.append(grid(t) + e)
        emitter = {}
        if os.path.exists(f"{work}/emit-{name}.json"):
            emitter = json.load(open(f"{work}/emit-{name}.json"))
        out["agents"].append({
            "name": name,
            "probe": None if pair is None else {
                "n": pair["count"], "unmatched": pair["unmatched"], "mean_us": pair["mean_ns"] / 1e3,
                "std_us": pair["std_ns"] / 1e3, "p50_us": pair["p50_ns"] / 1e3,
                "p99_us": pair["p99_ns"] / 1e3, "max_abs_us": pair["max_abs_ns"] / 1e3},
            "truth_at_edges": stats_us(truth), "probe_minus_truth": stats_us(diff), "emitter": emitter})
    return out


def print_probe(r):
    p = r.get("probe")
    if not p:
        return
    m = p["master_grid"]
    print(f'  probes every {p["period_ms"]} ms; master pulses vs its own timeline: mean {fmt(m.get("mean_us"), 2)} us, '
          f'max |x| {fmt(m.get("max_abs_us"), 2)} us (n={m["n"]})')
    for a in p["agents"]:
        pr, tr, d = a["probe"] or {}, a["truth_at_edges"], a["probe_minus_truth"]
        print(f'  {a["name"]:8s} probe (agent - master): n={pr.get("n")} mean {fmt(pr.get("mean_us"), 2)} '
              f'std {fmt(pr.get("std_us"), 2)} max|x| {fmt(pr.get("max_abs_us"), 2)} us | truth -e at the edges: '
              f'mean {fmt(tr.get("mean_us"), 2)} std {fmt(tr.get("std_us"), 2)} max|x| {fmt(tr.get("max_abs_us"), 2)} us '
              f'| probe - truth per edge: mean {fmt(d.get("mean_us"), 3)} p99|x| {fmt(d.get("abs_p99_us"), 2)} '
              f'max|x| {fmt(d.get("max_abs_us"), 2)} us (n={d["n"]})', flush=True)


def probe_markdown(results):
    lines = ["| scenario | agent | calibration [ns] | probe n | probe mean / std / max\|x\| [us] | "
             "truth at the edges mean / std / max\|x\| [us] | probe - truth per edge mean / p99\|x\| / max\|x\| [us] |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        p = r.get("probe")
        if not p:
            continue
        for k, a in enumerate(p["agents"]):
            pr, tr, d = a["probe"] or {}, a["truth_at_edges"], a["probe_minus_truth"]
            cal = r.get("calibration_ns", [0] * len(p["agents"]))[k]
            lines.append(
                f'| {r["scenario"] if k == 0 else ""} | {a["name"]} | {cal} | {pr.get("n")} | '
                f'{fmt(pr.get("mean_us"), 2)} / {fmt(pr.get("std_us"), 2)} / {fmt(pr.get("max_abs_us"), 2)} | '
                f'{fmt(tr.get("mean_us"), 2)} / {fmt(tr.get("std_us"), 2)} / {fmt(tr.get("max_abs_us"), 2)} | '
                f'{fmt(d.get("mean_us"), 3)} / {fmt(d.get("abs_p99_us"), 2)} / {fmt(d.get("max_abs_us"), 2)} |')
    return "\n".join(lines) + "\n"



def probe_failures(res, duration):
    """The probes must agree with the truth within the wire's resolution.

    The wire stamps an edge within ~0.1 us of the emitter's write, and the
    emitter drops pulses its spin overshot by more than --max-late-us (5 us),
    so per edge the probe may read up to 5 us late plus the interpolation of
    the 20 ms truth trace: the mean difference must stay inside that window
    and the median within 1 us."""
    p = res.get("probe")
    if not p:
        return []
    failures = []
    boundaries = duration * 1e3 / p["period_ms"]
    for a in p["agents"]:
        d, pr, tr = a["probe_minus_truth"], a["probe"] or {}, a["truth_at_edges"]
        if (pr.get("n") or 0) < 0.2 * boundaries or d["n"] < 0.2 * boundaries:
            failures.append(f'{a["name"]}: only {pr.get("n")} probe pairs and {d["n"]} edges with truth '
                            f'of {boundaries:.0f} boundaries')
            continue
        if abs(d["p50_us"]) > 1.0 or abs(d["mean_us"]) > 5.0:
            failures.append(f'{a["name"]}: probe - truth per edge has median {d["p50_us"]:.3f} us and '
                            f'mean {d["mean_us"]:.3f} us (limits 1 and 5 us)')
        # The observer's mean covers only the pulses it paired with the
        # master's, the truth's every edge the trace covers: over different
        # edges the two means agree to a fraction of the error's spread only
        # (the per-edge comparison above is the exact one).
        limit = 5.0 + 0.25 * (tr.get("std_us") or 0.0)
        if abs(pr["mean_us"] - tr["mean_us"]) > limit:
            failures.append(f'{a["name"]}: probe mean {pr["mean_us"]:.2f} us vs truth {tr["mean_us"]:.2f} us '
                            f'(limit {limit:.1f} us)')
    return failures

