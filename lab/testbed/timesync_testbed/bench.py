"""run, bench and check: one scenario at a time, every scenario beside chrony,
and the short functional run CI does (testbed_check)."""
import argparse
import json
import os
import shutil

from .configs import write
from .probes import print_probe, probe_failures, probe_markdown
from .processes import die
from .report import markdown, print_result, svg_plot
from .scenarios import BY_NAME, CHECK, SCENARIOS, run_scenario


def period_ms(text):
    """A probe period in ms: positive, at most an hour."""
    try:
        v = float(text)
    except ValueError:
        v = -1
    if not 0 < v <= 3_600_000:
        raise argparse.ArgumentTypeError(f"'{text}' is not a period in ms in (0, 3600000]")
    return v


def register(add_command):
    r = add_command("run", cmd_run, "one scenario: true error, bound, SVG (and chrony, probes)")
    r.add_argument("--scenario", default="idle", choices=sorted(BY_NAME))
    r.add_argument("--duration", type=float, default=40)
    r.add_argument("--chrony", action="store_true")
    r.add_argument("--probe", type=period_ms, metavar="PERIOD_MS", default=None,
                   help="GPIO pulse probes on the simulated wire, one pulse every PERIOD_MS")
    r.add_argument("--calibrate", action="store_true",
                   help="run twice; the second run applies the first run's mean pulse offsets "
                        "as calibration.offset_ns (needs --probe)")
    b = add_command("bench", cmd_bench, "every scenario beside chrony: bench.json, bench.md, SVGs")
    b.add_argument("--scenarios", default=",".join(s.name for s in SCENARIOS))
    b.add_argument("--duration", type=float, default=70)
    c = add_command("check", cmd_check, "short functional run for CI (exit 1 on failure)")
    c.add_argument("--duration", type=float, default=30)
    c.add_argument("--probe", type=period_ms, metavar="PERIOD_MS", default=10)


def cmd_run(bed, args, out):
    """One scenario (twice with --calibrate): SVG, JSON and console lines."""
    sc = BY_NAME[args.scenario]
    if args.chrony and shutil.which("chronyd") is None:
        die("--chrony needs chronyd (apt-get install chrony)")
    if args.calibrate and not args.probe:
        die("--calibrate needs --probe PERIOD_MS", 64)
    runs = []
    calibration = None
    for tag in (["-uncalibrated", "-calibrated"] if args.calibrate else [""]):
        if args.calibrate:
            print(f"run {tag[1:]}" + (f": calibration.offset_ns {calibration}" if calibration else ""),
                  flush=True)
        res = run_scenario(bed, sc, args.duration, args.agents, out, args.chrony, args.set,
                           probe_ms=args.probe, calibration_ns=calibration, tag=tag,
                           master_overrides=args.master_set)
        svg_plot(os.path.join(res["work"], "trace.jsonl"), res,
                 os.path.join(out, f"{sc.name}{tag}.svg"))
        if args.probe:
            shutil.copy(os.path.join(res["work"], "probe.svg"), os.path.join(out, f"{sc.name}{tag}-probe.svg"))
        json.dump(res, open(os.path.join(out, f"{sc.name}{tag}.json"), "w"), indent=1)
        print_result(res)
        print_probe(res)
        runs.append(res)
        if args.calibrate:
            calibration = [a["probe"]["mean_us"] * 1e3 for a in res["probe"]["agents"]]
    if args.probe:
        write(os.path.join(out, "probe.md"), probe_markdown(runs))
        print()
        print(probe_markdown(runs))
    print(f"results in {out}")
    return 0


def cmd_bench(bed, args, out):
    """Every scenario with chrony beside timesync: bench.json, bench.md."""
    names = args.scenarios.split(",")
    for n in names:
        if n not in BY_NAME:
            die(f"unknown scenario '{n}' (see: timesync-testbed list)", 64)
    for tool in ("chronyd", "stress-ng", "iperf3"):
        if shutil.which(tool) is None:
            die(f"bench needs {tool} (apt-get install chrony stress-ng iperf3)")
    results = []
    for n in names:
        print(f"scenario {n} ({args.duration:.0f} s): {BY_NAME[n].title}", flush=True)
        res = run_scenario(bed, BY_NAME[n], args.duration, args.agents, out, True, args.set,
                           master_overrides=args.master_set)
        svg_plot(os.path.join(res["work"], "trace.jsonl"), res, os.path.join(out, f"{n}.svg"))
        print_result(res)
        results.append(res)
        json.dump({"results": results}, open(os.path.join(out, "bench.json"), "w"), indent=1)
    write(os.path.join(out, "bench.md"), markdown(results))
    print()
    print(markdown(results))
    print(f"results in {out}: bench.json, bench.md, one SVG per scenario")
    return 0


def cmd_check(bed, args, out):
    """Functional assertions only: sync reached, truth always inside the
    bound, an outage raises the alarm, and the agents recover after it."""
    res = run_scenario(bed, CHECK, args.duration, args.agents, out, False, args.set,
                       probe_ms=args.probe, master_overrides=args.master_set)
    print_result(res)
    print_probe(res)
    rows = [json.loads(line) for line in open(os.path.join(res["work"], "trace.jsonl"))]
    failures = []
    restart_t = next(e["t"] for e in res["events"] if e["event"] == "master restarted")
    for i, a in enumerate(res["agents"]):
        name = a["agent_id"] or f"agent{i + 1}"
        if a["time_to_sync_s"] is None or a["served"] == 0:
            failures.append(f"{name}: never synchronized")
        if a["violations"]:
            failures.append(f"{name}: truth outside the bound in {a['violations']} readings "
                            f"(worst by {a['worst_excess_ns']:.0f} ns)")
        st = [r for r in rows if r["k"] == "s" and r["a"] == i]
        if not any(r.get("alarm") for r in st):
            failures.append(f"{name}: no alarm during the master outage")
        after = [r for r in st if r["t"] > restart_t]
        if not any(r.get("state") == "synchronized" and not r.get("alarm") for r in after):
            failures.append(f"{name}: not synchronized again after the master came back")
        if not any(r["k"] == "r" and r["a"] == i and r["t"] > restart_t for r in rows):
            failures.append(f"{name}: no timestamps served after the master came back")
    failures += probe_failures(res, args.duration)
    for f in failures:
        print(f"FAIL {f}")
    print("check: " + ("FAILED" if failures else "ok"))
    return 1 if failures else 0

