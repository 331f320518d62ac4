#!/usr/bin/env python3
"""servo_compare: the PLL and the Kalman servo side by side in the test bed.

For every scenario, runs the same agents once per servo variant (a name and
agent-config overrides, as --set takes them) and reports the true error of
what each agent served (p50/p99/max, from the truth monitor), readings
outside the bound, time to sync, the frequency error at the end, and the
servo's own innovation statistics (timesyncctl status --json near the end of
the run): the self-check that needs no ground truth.

    servo_compare.py [--build-dir DIR] [--agents N] [--duration S]
                     [--scenarios idle,jitter,...] [--variant NAME:KEY=V[,KEY=V]]...
                     [--out DIR]

Default variants: pll (servo.type=pll) and kalman (servo.type=kalman).
Needs root and the test bed's lock; waits for another run to finish.
"""
import argparse
import json
import os
import signal
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import timesync_testbed as tb  # noqa: E402
from start_error import take_lock  # noqa: E402

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
        addr = f"{tb.Network.agent_ip(i)}:{tb.AGENT_PORT}"
        procs.append(tb.Proc(f"status{i + 1}", tb.Network.agent_ns(i),
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(os.path.dirname(__file__), "..", "..", "build", "default"))
    ap.add_argument("--agents", type=int, default=2)
    ap.add_argument("--duration", type=float, default=40)
    ap.add_argument("--scenarios", default=DEFAULT_SCENARIOS)
    ap.add_argument("--variant", type=parse_variant, action="append", default=[])
    ap.add_argument("--lock-wait", type=float, default=1800)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if os.geteuid() != 0:
        tb.die("needs root (network namespaces)", 77)
    variants = args.variant or [("pll", ["servo.type=pll"]), ("kalman", ["servo.type=kalman"])]
    scenarios = args.scenarios.split(",")
    for s in scenarios:
        if s not in tb.BY_NAME:
            tb.die(f"unknown scenario '{s}' (see: timesync_testbed.py list)", 64)
    bed = tb.Bed(args.build_dir)
    lock = take_lock(args.lock_wait)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, tb.on_signal)
    out = args.out or tempfile.mkdtemp(prefix="timesync-servo-compare-")
    os.makedirs(out, exist_ok=True)
    results = []
    try:
        for sc in scenarios:
            for name, sets in variants:
                print(f"{sc} / {name} ({' '.join(sets)}): {args.agents} agents, {args.duration:.0f} s", flush=True)
                res = tb.run_scenario(bed, tb.BY_NAME[sc], args.duration, args.agents, out, False, sets,
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
    except tb.Interrupted as e:
        print(f"interrupted ({e})", file=sys.stderr)
        return 130
    except tb.ConfigError as e:
        print(f"agent configuration rejected: {e}", file=sys.stderr)
        return 78
    finally:
        lock.close()
    md = markdown(results)
    tb.write(os.path.join(out, "servo_compare.md"), md)
    print()
    print(md)
    print(f"results in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
