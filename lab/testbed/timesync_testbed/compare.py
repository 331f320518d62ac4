"""compare: polling against beacon mode, with the same agents and scenario:
accuracy, readings outside the bound, the master's CPU per agent."""
import json
import os
import shutil
import statistics

from . import truth
from .configs import write
from .processes import die
from .report import pct
from .scenarios import BY_NAME, run_scenario


def register(add_command):
    cm = add_command("compare", compare, "polling vs beacon mode: accuracy, outside-bound count, master CPU")
    cm.add_argument("--scenarios", default="idle,jitter")
    cm.add_argument("--duration", type=float, default=50)
    cm.add_argument("--modes", default=",".join(COMPARE_MODES))
    cm.add_argument("--beacon-rate-hz", type=float, default=10)
    cm.add_argument("--repeat", type=int, default=1, help="runs per mode and scenario")


# Agent (and master) settings per mode. The bed's agents poll at min_s 0.1;
# "polling" uses the product's poll.max_s (4 s) and burst (3); "polling-fast"
# polls about as many messages a second as 10 Hz beacons (3 RPCs every 0.3 s);
# "beacon" streams at --beacon-rate-hz and calibrates every 10 s.
COMPARE_MODES = {
    "polling": {"agent": ["poll.max_s=4", "poll.burst=3"], "master": []},
    "polling-fast": {"agent": ["poll.max_s=0.3", "poll.burst=3"], "master": []},
    "beacon": {"agent": ["poll.max_s=4", "poll.burst=3", "beacon.enabled=true",
                         "beacon.calibrate_every_s=10"], "master": ["beacon.rate_hz=@RATE@"]},
}


def summarize_mode(mode, res, agents):
    """One row of the comparison from a run's result."""
    a = res["agents"]
    errs = truth.trace_errors_ns(os.path.join(res["work"], "trace.jsonl"), 10.0)
    m = res["master"]
    span = m["span_s"] or res["duration_s"]
    sync = sorted(x["time_to_sync_s"] for x in a if x["time_to_sync_s"] is not None)
    maxes = [x["abs_err_max_ns"] for x in a if x["abs_err_max_ns"] is not None]
    return {
        "mode": mode, "scenario": res["scenario"], "agents": agents,
        "synced_agents": len(sync),
        "time_to_sync_s_p50": statistics.median(sync) if sync else None,
        "time_to_sync_s_max": max(sync) if sync else None,
        "abs_err_p50_us": pct(errs, 0.5) / 1e3 if errs else None,
        "abs_err_p99_us": pct(errs, 0.99) / 1e3 if errs else None,
        # The monitor's own maximum (every reading, ~1 per ms per agent).
        "abs_err_max_us": max(maxes) / 1e3 if maxes else None,
        "traced_readings": len(errs),
        "outside_bound": sum(x["violations"] for x in a),
        "served": sum(x["served"] for x in a),
        "mean_bound_us": statistics.median(x["mean_bound_ns"] for x in a
                                           if x["mean_bound_ns"] is not None) / 1e3
        if any(x["mean_bound_ns"] is not None for x in a) else None,
        "master_cpu_pct": m["cpu_pct"], "master_cpu_pct_per_agent": m["cpu_pct_per_agent"],
        "getTime_per_s": None if m["requests"] is None else m["requests"] / span,
        "beacons_per_s": None if m["beacons"] is None else m["beacons"] / span,
    }


def compare_markdown(rows):
    f = lambda v, d=1: "-" if v is None else f"{v:.{d}f}"
    lines = ["| scenario | mode | agents | synced | time to sync p50 / max [s] | "
             "true \\|error\\| p50 / p99 / max [us] | outside bound | median mean bound [us] | "
             "master CPU [%] | per agent [%] | GetTime/s | beacons/s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f'| {r["scenario"]} | {r["mode"]} | {r["agents"]} | {r["synced_agents"]} | '
            f'{f(r["time_to_sync_s_p50"], 2)} / {f(r["time_to_sync_s_max"], 2)} | '
            f'{f(r["abs_err_p50_us"])} / {f(r["abs_err_p99_us"])} / {f(r["abs_err_max_us"])} | '
            f'{r["outside_bound"]} of {r["served"]} | {f(r["mean_bound_us"])} | '
            f'{f(r["master_cpu_pct"], 2)} | {f(r["master_cpu_pct_per_agent"], 3)} | '
            f'{f(r["getTime_per_s"])} | {f(r["beacons_per_s"])} |')
    return "\n".join(lines) + "\n"


def compare(bed, args, out):
    """Polling vs beacon mode: same agents, same scenario, one run each."""
    modes = args.modes.split(",")
    for m in modes:
        if m not in COMPARE_MODES:
            die(f"unknown mode '{m}' (one of {', '.join(COMPARE_MODES)})", 64)
    scenarios = args.scenarios.split(",")
    for n in scenarios:
        if n not in BY_NAME:
            die(f"unknown scenario '{n}' (see: timesync-testbed list)", 64)
    if any(BY_NAME[n].cpu for n in scenarios) and shutil.which("stress-ng") is None:
        die("the cpu scenarios need stress-ng (apt-get install stress-ng)")
    rows = []
    for n in scenarios:
        for rep in range(args.repeat):
            for m in modes:
                spec = COMPARE_MODES[m]
                rate = f"{args.beacon_rate_hz:g}"
                agent_set = spec["agent"] + list(args.set)
                master_set = [x.replace("@RATE@", rate) for x in spec["master"]] + list(args.master_set)
                tag = f"-{m}" + (f"-{rep + 1}" if args.repeat > 1 else "")
                print(f"scenario {n}, mode {m} ({args.agents} agents, {args.duration:.0f} s)", flush=True)
                res = run_scenario(bed, BY_NAME[n], args.duration, args.agents, out, False, agent_set,
                                   quiet=True, tag=tag, master_overrides=master_set)
                res["mode"] = m
                json.dump(res, open(os.path.join(out, f"{n}{tag}.json"), "w"), indent=1)
                row = summarize_mode(m, res, args.agents)
                row["run"] = rep + 1
                rows.append(row)
                print("  " + json.dumps(row), flush=True)
                json.dump({"rows": rows}, open(os.path.join(out, "compare.json"), "w"), indent=1)
    write(os.path.join(out, "compare.md"), compare_markdown(rows))
    print()
    print(compare_markdown(rows))
    print(f"results in {out}: compare.json, compare.md, one JSON per run")
    return 1 if any(r["outside_bound"] for r in rows) else 0

