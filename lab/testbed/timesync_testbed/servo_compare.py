#!/usr/bin/env python3
"""servo-compare: the PLL and the Kalman servo side by side in the test bed.

For every scenario, runs the same agents once per servo variant (a name and
agent-config overrides, as --set takes them) and reports the true error of
what each agent served (p50/p99/max, from the truth monitor), readings
outside the bound, time to sync, the frequency error at the end, and the
servo's own innovation statistics (timesyncctl status --json near the end of
the run): the self-check that needs no ground truth.

    timesync-testbed servo-compare [--agents N] [--duration S]
                     [--scenarios idle,jitter,...] [--variant NAME:KEY=V[,KEY=V]]...
                     [--lock-wait S] [--out DIR]

Default variants: pll (servo.type=pll) and kalman (servo.type=kalman).
Needs root and the test bed's lock; waits for another run to finish.
"""
import argparse
import json
import os
import statistics

from .configs import write
from .network import AGENT_PORT, Network
from .processes import Proc, die
from .scenarios import BY_NAME, run_scenario

DEFAULT_SCENARIOS = "idle,cpu,jitter,asymmetry,drift-step,master-outage"


def parse_variant(text):
    name, _, sets = text.partition(":")
    if not name or not sets:
        raise argparse.ArgumentTypeError(f"'{text}' is not NAME:KEY=VALUE[,KEY=VALUE]")
    return name, sets.split(",")


def status_probe(bed, work, agents, duration):
    """Procs that ask each agent for its status (JSON) one second before the end."""
    procs = []
    for i in range(agents):
        out = open(os.path.join(work, f"status{i + 1}.json"), "w")
        addr = f"{Network.agent_ip(i)}:{AGENT_PORT}"
        procs.append(Proc(f"status{i + 1}", Network.agent_ns(i),
                             ["sh", "-c", f'sleep {max(1.0, duration - 1):.1f}; exec "$0" status --json "$1"',
                              bed.bin["ctl"], addr],
                             os.path.join(work, f"status{i + 1}.log"), stdout=out))
    return procs


def summarize(res, agents):
    rows = []
    for i, a in enumerate(res["agents"]):
        st = {}
        path = os.path.join(res["work"], f"status{i + 1}.json")
        try:
            st = json.load(open(path))
        except (OSError, ValueError):
            pass
        rows.append({
            "agent": a["agent_id"], "p50_us": a["abs_err_p50_ns"] / 1e3, "p99_us": a["abs_err_p99_ns"] / 1e3,
            "max_us": a["abs_err_max_ns"] / 1e3, "outside": a["violations"], "served": a["served"],
            "sync_s": a["time_to_sync_s"], "mean_bound_us": a["mean_bound_ns"] / 1e3,
            "freq_err_ppb": (a["freq_ppm"] - a["freq_truth_ppm"]) * 1e3,
            "innov_mean_us": st.get("innovation_mean_ns", float("nan")) / 1e3,
            "innov_std_us": st.get("innovation_std_ns", float("nan")) / 1e3,
            "innov_normalized": st.get("innovation_normalized_std"),
        })
    return rows


def fmt(v, digits=1):
    if v is None or (isinstance(v, float) and v != v):
        return "-"
    return f"{v:.{digits}f}"


def markdown(results):
    lines = ["| scenario | servo | abs err p50 us | p99 us | max us | outside bound | mean bound us | "
             "abs freq err ppb | innov mean us | innov std us | normalized |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        rows = r["rows"]
        med = lambda k: statistics.median([x[k] for x in rows if x[k] is not None and x[k] == x[k]] or [float("nan")])
        lines.append(
            f"| {r['scenario']} | {r['variant']} | {fmt(med('p50_us'))} | {fmt(med('p99_us'))} | "
            f"{fmt(max(x['max_us'] for x in rows))} | {sum(x['outside'] for x in rows)} of "
            f"{sum(x['served'] for x in rows)} | {fmt(med('mean_bound_us'))} | "
            f"{fmt(statistics.median(abs(x['freq_err_ppb']) for x in rows), 0)} | {fmt(med('innov_mean_us'), 2)} | "
            f"{fmt(med('innov_std_us'))} | {fmt(med('innov_normalized'), 2)} |")
    return "\n".join(lines) + "\n"


def register(add_command):
    ap = add_command("servo-compare", cmd, "the PLL and the Kalman servo side by side", agents=2,
                     lock_wait=True)
    ap.add_argument("--duration", type=float, default=40)
    ap.add_argument("--scenarios", default=DEFAULT_SCENARIOS)
    ap.add_argument("--variant", type=parse_variant, action="append", default=[])


def cmd(bed, args, out):
    variants = args.variant or [("pll", ["servo.type=pll"]), ("kalman", ["servo.type=kalman"])]
    scenarios = args.scenarios.split(",")
    for s in scenarios:
        if s not in BY_NAME:
            die(f"unknown scenario '{s}' (see: timesync-testbed list)", 64)
    results = []
    for sc in scenarios:
        for name, sets in variants:
            print(f"{sc} / {name} ({' '.join(sets)}): {args.agents} agents, {args.duration:.0f} s", flush=True)
            res = run_scenario(bed, BY_NAME[sc], args.duration, args.agents, out, False, sets + list(args.set),
                               quiet=True, tag="-" + name,
                               extra=lambda b, w, n, _o: status_probe(b, w, n, args.duration))
            results.append({"scenario": sc, "variant": name, "sets": sets, "rows": summarize(res, args.agents)})
            for row in results[-1]["rows"]:
                print(f"  {row['agent']:8s} |err| p50/p99/max {fmt(row['p50_us'])}/{fmt(row['p99_us'])}/"
                      f"{fmt(row['max_us'])} us, outside {row['outside']} of {row['served']}, freq err "
                      f"{fmt(row['freq_err_ppb'], 0)} ppb, innovations mean {fmt(row['innov_mean_us'], 2)} us "
                      f"std {fmt(row['innov_std_us'])} us normalized {fmt(row['innov_normalized'], 2)}",
                      flush=True)
            json.dump({"agents": args.agents, "duration_s": args.duration, "results": results},
                      open(os.path.join(out, "servo_compare.json"), "w"), indent=1)
    md = markdown(results)
    write(os.path.join(out, "servo_compare.md"), md)
    print()
    print(md)
    print(f"results in {out}")
    return 0
