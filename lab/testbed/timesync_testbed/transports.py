"""transports: the gRPC path, the UDP path and chrony side by side (issue 16).

Per scenario one bed runs, at the same time and through the same impairment,
--grpc-agents agents with `transport: grpc` and --udp-agents agents with
`transport: udp`, each in a SoM namespace of its own; the k-th agent of each
path runs crystal k (configs.CRYSTALS: frequency, initial offset and wander
seed), so both paths see the same crystals. chrony runs beside them as in
`bench` (`chronyd -x` server in the master's namespace, client in the first
SoM's, through its own UDP proxy instance in the proxy scenarios). The netem
proxies carry both transports (TCP and UDP, same options).

    timesync-testbed transports [--scenarios A,B] [--duration 70]
                                [--grpc-agents 2] [--udp-agents 2] [--no-chrony]

Reported per scenario and path (timesync: per agent; from the truth
monitor, which reads every segment by path from its start):
  - true |error| p50 / p99 / max from 5 s after the agent's first served
    reading; readings outside the bound, counted over every reading served;
    mean bound over the same settled readings, and its ratio to the p99;
  - time to synchronized (the agent's own figure) and the time from the
    agent's start (its exec) to the first served reading with a bound under
    50 us (from the monitor's trace: one reading per 20 ms);
  - in scenarios with a drift step, |frequency estimate - truth| 20 s after
    the step (the monitor's status lines, every 0.5 s);
  - chrony: its "System time" from `chronyc tracking` 4 times a second (its
    true error: -x never corrects the clock and both ends share this host's
    clock), from 5 s after its first source, and how often it exceeded
    chrony's own bound, root delay / 2 + root dispersion;
  - the master's CPU per request for each transport, from one run: its UDP
    service runs on one thread (found blocked in ppoll), gRPC on the others;
    each thread's scheduler run time over the monitor's span, divided by
    that transport's requests from the master's metrics over the same span.
Output: transports.json, transports.md, one SVG per scenario (true error and
bound of the first gRPC and the first UDP agent, chrony's error and bound).
"""
import json
import os
import shutil

from .configs import agent_name, write
from .network import MASTER_METRICS_PORT
from .processes import die
from .report import fmt, pct
from .scenarios import BY_NAME, run_scenario

DEFAULT_SCENARIOS = "idle,cpu,net,cpu+net,jitter,loss,drift-step,asymmetry"
BOUND_TARGET_NS = 50_000       # "a bound under 50 us within 1 s of the agent's start"
FREQ_AFTER_STEP_S = 20.0       # issue 15: frequency error this long after a drift step


def register(add_command):
    p = add_command("transports", cmd, "gRPC agents, UDP agents and chrony side by side through the "
                    "same impairment: transports.json, transports.md, SVGs", agents=4)
    p.add_argument("--scenarios", default=DEFAULT_SCENARIOS)
    p.add_argument("--duration", type=float, default=70)
    p.add_argument("--grpc-agents", type=int, default=2)
    p.add_argument("--udp-agents", type=int, default=2)
    p.add_argument("--no-chrony", action="store_true")


def agent_plan(grpc, udp):
    """Per agent: path, crystal, id and transport key; crystal k on both paths."""
    return ([{"path": "grpc", "crystal": k, "name": f"grpc-{agent_name(k)}", "set": ["transport=grpc"]}
             for k in range(grpc)] +
            [{"path": "udp", "crystal": k, "name": f"udp-{agent_name(k)}", "set": ["transport=udp"]}
             for k in range(udp)])


def cmd(bed, args, out):
    names = args.scenarios.split(",")
    for n in names:
        if n not in BY_NAME:
            die(f"unknown scenario '{n}' (see: timesync-testbed list)", 64)
    n_agents = args.grpc_agents + args.udp_agents
    if args.grpc_agents < 0 or args.udp_agents < 0 or not 1 <= n_agents <= args.max_agents:
        die(f"--grpc-agents + --udp-agents must be 1 to {args.max_agents}", 64)
    tools = ["stress-ng", "iperf3", "curl"] + ([] if args.no_chrony else ["chronyd"])
    for tool in tools:
        if shutil.which(tool) is None:
            die(f"transports needs {tool} (apt-get install {tool})")
    plan = agent_plan(args.grpc_agents, args.udp_agents)
    master_set = [f"metrics.listen=127.0.0.1:{MASTER_METRICS_PORT}"] + list(args.master_set)
    rows = []
    for n in names:
        sc = BY_NAME[n]
        print(f"scenario {n} ({args.duration:.0f} s): {sc.title}", flush=True)
        load0 = loadavg()
        res = run_scenario(bed, sc, args.duration, n_agents, out, not args.no_chrony, args.set,
                           master_overrides=master_set, agent_plan=plan, watch_segments=True,
                           master_threads=True)
        trace = load_trace(os.path.join(res["work"], "trace.jsonl"))
        row = summarize(res, plan, trace, sc.drift_step_ppm != 0)
        # Other work on the host shows here (the 1-minute load average before and after).
        row["loadavg"] = [load0, loadavg()]
        svg(row, res, plan, trace, os.path.join(out, f"{n}.svg"))
        print_row(row)
        rows.append(row)
        with open(os.path.join(out, "transports.json"), "w") as f:
            json.dump({"settings": {"duration_s": args.duration, "grpc_agents": args.grpc_agents,
                                    "udp_agents": args.udp_agents, "chrony": not args.no_chrony,
                                    "set": list(args.set), "master_set": master_set},
                       "scenarios": rows}, f, indent=1)
    md = markdown(rows)
    write(os.path.join(out, "transports.md"), md)
    print()
    print(md)
    print(f"results in {out}: transports.json, transports.md, one SVG per scenario")
    return 0


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


# ----------------------------------------------------------------- analysis --

def load_trace(path):
    """The monitor's trace: readings by segment index (t, error ns, bound ns)
    and status lines by target index."""
    seg, status = {}, {}
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if r.get("k") == "r" and "seg" in r:
                seg.setdefault(r["seg"], []).append((r["t"], r["e"], r["b"]))
            elif r.get("k") == "s" and "a" in r:
                status.setdefault(r["a"], []).append(r)
    return {"seg": seg, "status": status}


def first_bound_under(readings, limit_ns, start_raw_ns, monitor_start_raw_ns):
    """Seconds from start_raw_ns (the agent's start) to its first traced
    reading with a bound under limit_ns, or None."""
    for t, _, b in readings:
        if b < limit_ns:
            return (monitor_start_raw_ns + t * 1e9 - start_raw_ns) / 1e9
    return None


def freq_after_step(status, step_t, after_s):
    """|freq - freq_truth| in ppm at the status line nearest step_t + after_s
    (trace seconds), the time of that line, and how long after the step the
    error came within 0.1 ppm for good (until the next step or the end)."""
    lines = [s for s in status if s.get("freq_truth") is not None and "freq" in s]
    if not lines:
        return None
    at = min(lines, key=lambda s: abs(s["t"] - (step_t + after_s)))
    # The truth steps back later: look only while it stays at the stepped value.
    window = [s for s in lines if s["t"] > step_t + 0.5]
    if window:
        ref = window[0]["freq_truth"]
        window = [s for s in window if abs(s["freq_truth"] - ref) < 1.0]
    settled = None
    for s in window:
        if abs(s["freq"] - s["freq_truth"]) > 0.1:
            settled = None
        elif settled is None:
            settled = s["t"] - step_t
    return {"abs_err_ppm": abs(at["freq"] - at["freq_truth"]), "at_s": at["t"] - step_t,
            "within_0_1_ppm_after_s": settled}


def summarize(res, plan, trace, drift_step):
    """One scenario: a row per agent and one for chrony, the master's split."""
    mstart = res["monitor_start_raw_ns"]
    step_t = None
    if drift_step:
        # The crystals step at 40 % of the duration from the shared origin.
        step_t = (res["origin_raw_ns"] + 0.4 * res["duration_s"] * 1e9 - mstart) / 1e9
    agents = []
    for i, p in enumerate(plan):
        s, a = res["segments"][i], res["agents"][i]
        us = lambda ns: None if ns is None else ns / 1e3
        row = {"path": p["path"], "agent": p["name"], "time_to_sync_s": a["time_to_sync_s"],
               "p50_us": us(s["abs_err_p50_ns"]), "p99_us": us(s["abs_err_p99_ns"]),
               "max_us": us(s["abs_err_max_ns"]), "served": s["served"], "outside": s["violations"],
               "outside_target_view": a["violations"], "worst_ratio": s["worst_ratio"],
               "mean_bound_us": us(s["mean_bound_ns"]),
               "bound_under_50us_s": first_bound_under(trace["seg"].get(i, []), BOUND_TARGET_NS,
                                                       res["agent_start_raw_ns"][i], mstart),
               "freq_err_end_ppm": (None if a["freq_ppm"] is None or a["freq_truth_ppm"] is None
                                    else abs(a["freq_ppm"] - a["freq_truth_ppm"]))}
        row["bound_over_p99"] = (row["mean_bound_us"] / row["p99_us"]
                                 if row["mean_bound_us"] and row["p99_us"] else None)
        if step_t is not None:
            row["after_step"] = freq_after_step(trace["status"].get(i, []), step_t, FREQ_AFTER_STEP_S)
        agents.append(row)
    out = {"scenario": res["scenario"], "title": res["title"], "duration_s": res["duration_s"],
           "events": res["events"], "agents": agents, "master": res["master"],
           "master_threads": res.get("master_threads"), "work": res["work"]}
    ch = res.get("chrony")
    if ch:
        settled = [(r, e, b) for r, e, b in ch["tracking"] if r - ch["synced_raw_ns"] >= 5e9]
        errs = [abs(e) for _, e, _ in settled]
        bounds = [b for _, _, b in settled if b is not None]
        out["chrony"] = {
            "time_to_sync_s": (None if ch["synced_raw_ns"] is None
                               else (ch["synced_raw_ns"] - ch["start_raw_ns"]) / 1e9),
            "samples": len(errs), "p50_us": pct(errs, 0.5), "p99_us": pct(errs, 0.99), "max_us": pct(errs, 1.0),
            "outside_own_bound": sum(1 for _, e, b in ch["tracking"] if b is not None and abs(e) > b),
            "tracking_samples": len(ch["tracking"]),
            "mean_bound_us": sum(bounds) / len(bounds) if bounds else None,
            "measurement_abs_offset_p50_us": ch["abs_offset_p50_us"],
            "measurement_abs_offset_p99_us": ch["abs_offset_p99_us"]}
        out["chrony"]["bound_over_p99"] = (out["chrony"]["mean_bound_us"] / out["chrony"]["p99_us"]
                                           if out["chrony"]["mean_bound_us"] and out["chrony"]["p99_us"]
                                           else None)
        out["chrony_trace"] = [((r - mstart) / 1e9, e, b) for r, e, b in ch["tracking"]]
    return out


def path_worst(row, path, key):
    """The worse (larger) of a path's agents' figures: what a target is held to."""
    v = [a[key] for a in row["agents"] if a["path"] == path and a[key] is not None]
    return max(v) if v else None


# ------------------------------------------------------------------- report --

def print_row(row):
    for a in row["agents"]:
        print(f'  {row["scenario"]:10s} {a["agent"]:12s} sync {fmt(a["time_to_sync_s"], 2)} s, bound < 50 us '
              f'after {fmt(a["bound_under_50us_s"], 2)} s, |err| p50/p99/max {fmt(a["p50_us"])}/{fmt(a["p99_us"])}/'
              f'{fmt(a["max_us"])} us, outside {a["outside"]} of {a["served"]}, mean bound '
              f'{fmt(a["mean_bound_us"])} us' +
              (f', freq err {fmt(a["after_step"]["abs_err_ppm"], 3)} ppm {fmt(a["after_step"]["at_s"])} s '
               f'after the step' if a.get("after_step") else ""), flush=True)
    c = row.get("chrony")
    if c:
        print(f'  {"":10s} {"chrony":12s} sync {fmt(c["time_to_sync_s"], 2)} s, |err| p50/p99/max '
              f'{fmt(c["p50_us"])}/{fmt(c["p99_us"])}/{fmt(c["max_us"])} us ({c["samples"]} samples), outside '
              f'its bound {c["outside_own_bound"]} of {c["tracking_samples"]}, mean bound '
              f'{fmt(c["mean_bound_us"])} us', flush=True)
    if row.get("loadavg"):
        print(f'  {"":10s} host load average {row["loadavg"][0]:.1f} before, {row["loadavg"][1]:.1f} after', flush=True)
    m = row.get("master_threads")
    if m:
        print(f'  {"":10s} master: gRPC {m["grpc_requests"]:.0f} requests, {fmt(m["grpc_us_per_request"])} us CPU '
              f'each; UDP {m["udp_requests"]:.0f} requests, {fmt(m["udp_us_per_request"])} us CPU each', flush=True)


def markdown(rows):
    lines = ["| scenario | path | agent | time to sync [s] | bound < 50 us after [s] | "
             "true \\|error\\| p50 / p99 / max [us] | outside bound | mean bound [us] | mean bound / p99 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        first = True
        for a in r["agents"]:
            lines.append(f'| {r["scenario"] if first else ""} | {a["path"]} | {a["agent"]} | '
                         f'{fmt(a["time_to_sync_s"], 2)} | {fmt(a["bound_under_50us_s"], 2)} | '
                         f'{fmt(a["p50_us"])} / {fmt(a["p99_us"])} / {fmt(a["max_us"])} | '
                         f'{a["outside"]} of {a["served"]} | {fmt(a["mean_bound_us"])} | '
                         f'{fmt(a["bound_over_p99"], 2)} |')
            first = False
        c = r.get("chrony")
        if c:
            lines.append(f'| | chrony | chronyd -x | {fmt(c["time_to_sync_s"], 2)} | - | '
                         f'{fmt(c["p50_us"])} / {fmt(c["p99_us"])} / {fmt(c["max_us"])} | '
                         f'{c["outside_own_bound"]} of {c["tracking_samples"]} (own bound) | '
                         f'{fmt(c["mean_bound_us"])} | {fmt(c["bound_over_p99"], 2)} |')
    lines += ["", "Master CPU per request, by transport (one master serving both paths; scheduler run "
              "time of its UDP thread, and of its other threads but the main loop, over the run / "
              "requests of that transport in the same span):", "",
              "| scenario | gRPC requests/s | gRPC CPU/request [us] | UDP requests/s | UDP CPU/request [us] | "
              "master CPU % (whole process) | host load average before / after |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        m, w = r.get("master_threads"), r["master"]
        if not m:
            continue
        lines.append(f'| {r["scenario"]} | {m["grpc_requests"] / m["span_s"]:.1f} | {fmt(m["grpc_us_per_request"])} | '
                     f'{m["udp_requests"] / m["span_s"]:.1f} | {fmt(m["udp_us_per_request"])} | '
                     f'{fmt(w["cpu_pct"], 2)} | '
                     + (" / ".join(f"{x:.1f}" for x in r["loadavg"]) if r.get("loadavg") else "-") + " |")
    steps = [(r, a) for r in rows for a in r["agents"] if a.get("after_step")]
    if steps:
        lines += ["", "| scenario | agent | \\|freq error\\| [ppm] | at [s after the step] | "
                  "within 0.1 ppm for good after [s] |", "|---|---|---|---|---|"]
        for r, a in steps:
            s = a["after_step"]
            lines.append(f'| {r["scenario"]} | {a["agent"]} | {fmt(s["abs_err_ppm"], 3)} | {fmt(s["at_s"])} | '
                         f'{fmt(s["within_0_1_ppm_after_s"])} |')
    return "\n".join(lines) + "\n"


def svg(row, res, plan, trace, path):
    """True error and +-bound of the first gRPC and the first UDP agent, and
    chrony's error and bound, one panel each."""
    from .report import svg_panels
    panels = []
    for p in ("grpc", "udp"):
        i = next((k for k, a in enumerate(plan) if a["path"] == p), None)
        if i is not None:
            pts = [(t, e / 1e3, b / 1e3) for t, e, b in trace["seg"].get(i, [])]
            panels.append((f'{row["scenario"]}: {plan[i]["name"]} ({p}): true error (blue), ±bound (grey)', pts))
    if row.get("chrony_trace"):
        panels.append((f'{row["scenario"]}: chrony (chronyd -x, 4 Hz): error (blue), ±(root delay/2 + '
                       f'root dispersion) (grey)', [(t, e, b) for t, e, b in row["chrony_trace"]]))
    svg_panels(panels, res["duration_s"], res["events"], path)
