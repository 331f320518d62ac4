"""honesty: every served reading counted against the exact truth.

The product's one promise is that a returned time lies within its error
bound. This command runs many short cells, seeds x modes x impairments, each
on a fresh bed, and counts every reading the agents' segments serve against
the exact truth: the master serves the host's CLOCK_MONOTONIC_RAW, so a
reading's true time is its own raw instant. The truth monitor reads every
agent's segment by path every --sample-us, from before the first agent
starts, so nothing an agent ever serves escapes it.

    timesync-testbed honesty [--seeds 3] [--first-seed 1] [--modes pll,kalman,beacon]
                             [--impairments LIST|all] [--duration 30] [--agents 8]
                             [--storm-agents 48] [--agents-per-som 4] [--sample-us 1000]
                             [--set KEY=V] [--master-set KEY=V] [--out DIR]

Agents (the bed's choices; --set overrides them, after the mode's keys):
  - a crystal per (seed, agent index): sim_clock.freq_ppm uniform in +-50 ppm,
    initial_offset_s uniform in +-0.5 s, wander_ppb_per_sqrt_s 2, its own
    sim seed; the same for every mode and impairment of one seed, so cells
    differ only in what they vary;
  - poll.min_s 0.05, poll.max_s 1, rpc_timeout_s 0.5: faster than the
    product's defaults, so a short cell holds many polls;
  - alarm.max_error_us 2000 (a bound above it is refused, not served),
    unreachable_after_s 3, void_after_s 10, clear_ratio 0.8;
  - --agents-per-som agents share a SoM namespace, each with its own port and
    segment (/dev/shm/timesync-tsb-aN): a namespace costs ~0.5 s to create.
Output: per cell (seed x mode x impairment) readings served, outside the
bound, worst |error|/bound, worst |error|, mean bound and refused readings;
totals per mode x impairment and overall: honesty.json, honesty.md, stdout.
Exit 1 if any reading lay outside its bound (cell, agent and time printed).
"""
import json
import os
import random
import shutil
import signal
import time
from dataclasses import dataclass
from typing import Callable, Optional

from . import truth
from .configs import agent_base, apply_overrides, check_config, master_yaml, proxy_argvs, to_yaml, write
from .network import MASTER_IP, MASTER_NS, MASTER_PORT, PREFIX, PROXY_PORT, UDP_PROXY_PORT, Network, cleanup_all
from .processes import Proc, die, make_cpu_cgroup, signals_held, wait_for_text
from .scenarios import iperf_bursts

MAX_AGENTS = 200
SEGMENT = "/dev/shm/timesync-tsb-a{}"  # agent i + 1
AGENT_KEYS = ("poll.min_s=0.05", "poll.max_s=1", "poll.rpc_timeout_s=0.5", "alarm.max_error_us=2000",
              "alarm.unreachable_after_s=3", "alarm.void_after_s=10")
STARVED_CGROUP = PREFIX + "starved"
STARVED_QUOTA_US, STARVED_PERIOD_US = 20000, 100000  # 20 % of one CPU for all agents together
STORM_SPACING_S = 0.02
SETUP_S, SETUP_PER_SOM_S = 1.0, 0.2  # measured overhead per cell, for the estimate


# -------------------------------------------------------------------- modes --

@dataclass(frozen=True)
class Mode:
    """How agents reach the master: agent and master config keys. A transport
    (udp, ...) is one more row."""
    name: str
    title: str
    agent: tuple = ()
    master: tuple = ()


MODES = {m.name: m for m in [
    Mode("pll", "polling over gRPC, servo.type pll", ("transport=grpc", "servo.type=pll")),
    Mode("kalman", "polling over gRPC, servo.type kalman", ("transport=grpc", "servo.type=kalman")),
    Mode("beacon", "gRPC beacons at 20 Hz, two-way calibration every 2 s",
         ("transport=grpc", "beacon.enabled=true", "beacon.calibrate_every_s=2"),
         ("beacon.enabled=true", "beacon.rate_hz=20")),
    Mode("udp", "polling over UDP (kernel timestamps), servo.type pll", ("transport=udp", "servo.type=pll")),
]}
DEFAULT_MODES = "pll,kalman,beacon"


# -------------------------------------------------------------- impairments --

def _sign(rng):
    return rng.choice((1, -1))


def _thermal_step(d, rng):
    # freq is base for [0, T), base + step for [T, 2T), base again from 2T.
    return {"step_every_s": round(0.4 * d, 3), "step_ppm": 20 * _sign(rng)}


def _thermal_ramp(d, rng):
    period = round(d / 3, 3)
    return {"step_every_s": period, "step_ppm": 30 * _sign(rng), "step_ramp_s": min(5.0, period)}


def _route_change(d):
    return {"delay_up_ms": 0.1, "delay_down_ms": 0.1,
            "schedule": f"{0.4 * d:.3f}:2:0.3:0,{0.75 * d:.3f}:0.1:0.1:0"}


def _loss_bursts(d):
    bursts = [f"{t}:0.1:0.1:1,{t + 1.5}:0.1:0.1:0" for t in range(8, int(d), 8)]
    opts = {"delay_up_ms": 0.1, "delay_down_ms": 0.1}
    if bursts:
        opts["schedule"] = ",".join(bursts)
    return opts


@dataclass(frozen=True)
class Impairment:
    """What one cell does to the agents, the master or the path. Times are
    fractions of the duration unless stated."""
    name: str
    title: str
    crystal: Optional[Callable] = None  # (duration s, agent's rng) -> sim_clock keys
    agent: tuple = ()                    # agent config keys
    storm: bool = False                  # --storm-agents agents, started 20 ms apart
    cpu: bool = False                    # stress-ng --cpu 2 on the host
    starve: bool = False                 # agents in a cpu cgroup: 20 % of one CPU together
    net: bool = False                    # iperf3 bursts on the master's link
    freeze: Optional[tuple] = None       # (fraction, seconds): master SIGSTOPped
    proxy: Optional[Callable] = None     # duration s -> netem proxy options (with --schedule)


IMPAIRMENTS = [
    Impairment("idle", "nothing: idle link, idle CPUs"),
    Impairment("thermal-step", "every crystal steps +-20 ppm (random sign) at 40 %, back at 80 %",
               crystal=_thermal_step),
    Impairment("thermal-ramp", "+-30 ppm ramped over 5 s, every duration/3", crystal=_thermal_ramp),
    Impairment("wander", "frequency random walk 500 ppb/sqrt(s) (the agent assumes ~1 ppb/s)",
               crystal=lambda d, rng: {"wander_ppb_per_sqrt_s": 500}),
    Impairment("storm", "--storm-agents agents started 20 ms apart, polling every 0.05-0.2 s",
               agent=("poll.min_s=0.05", "poll.max_s=0.2"), storm=True),
    Impairment("cpu-starved", "stress-ng --cpu 2; agents share 20 % of one CPU (cgroup cfs quota)",
               cpu=True, starve=True),
    Impairment("master-freeze", "master SIGSTOPped at 40 % for 5 s", freeze=(0.4, 5.0)),
    Impairment("delay-step", "proxy 0.1 ms each way; 2 ms up / 0.3 ms down from 40 % to 75 %",
               proxy=_route_change),
    Impairment("loss-burst", "proxy 0.1 ms each way; 1.5 s of 100 % loss every 8 s "
               "(TCP: chunks held a 200 ms retransmission timeout)", proxy=_loss_bursts),
    Impairment("cpu+net", "stress-ng --cpu 2 and iperf3 bursts on the master's link", cpu=True, net=True),
]
BY_NAME = {i.name: i for i in IMPAIRMENTS}


# ------------------------------------------------------------------ configs --

def crystal(seed, i):
    """Agent i's crystal in seed's runs, and the generator it came from (the
    impairment draws its own per-agent values from it next)."""
    rng = random.Random(f"honesty:{seed}:{i}")
    return rng, {"freq_ppm": round(rng.uniform(-50, 50), 4),
                 "initial_offset_s": round(rng.uniform(-0.5, 0.5), 6),
                 "seed": rng.randrange(1, 2**31)}


def agent_config(seed, i, mode, imp, duration, net, master_target, overrides=(), udp_target=None):
    """Agent i of a cell: base keys, its crystal, the impairment's, the mode's,
    then the user's --set."""
    rng, x = crystal(seed, i)
    cfg = agent_base(f"a{i + 1}", master_target, f"{net.ip(i)}:{net.port(i)}", SEGMENT.format(i + 1),
                     x["freq_ppm"], x["initial_offset_s"], x["seed"], udp_target=udp_target)
    apply_overrides(cfg, AGENT_KEYS)
    if imp.crystal:
        cfg["sim_clock"].update(imp.crystal(duration, rng))
    return apply_overrides(cfg, list(imp.agent) + list(mode.agent) + list(overrides))


def cell_agents(args, imp):
    return args.storm_agents if imp.storm else args.agents


# --------------------------------------------------------------------- cell --

def run_cell(bed, args, seed, mode, imp, out):
    """One fresh bed: master, (proxy,) the truth monitor, then the agents and
    the impairment; returns the cell's result."""
    d = args.duration
    n = cell_agents(args, imp)
    work = os.path.join(out, "work", f"s{seed}-{mode.name}-{imp.name}")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    cleanup_all()
    net = Network(n, per_som=args.agents_per_som)
    proxy_opts = imp.proxy(d) if imp.proxy else None
    target = f"{MASTER_IP}:{PROXY_PORT if proxy_opts else MASTER_PORT}"
    udp_target = f"{MASTER_IP}:{UDP_PROXY_PORT}" if proxy_opts else None
    procs, timeline = [], []
    try:
        net.up()
        write(f"{work}/master.yaml", master_yaml(list(mode.master) + list(args.master_set)))
        check_config(bed.bin["master"], f"{work}/master.yaml")
        segments = []
        for i in range(n):
            cfg = agent_config(seed, i, mode, imp, d, net, target, args.set, udp_target)
            write(f"{work}/agent{i + 1}.yaml", to_yaml(cfg))
            segments.append(cfg["segment"])
        # Every agent's file has the same keys; the first stands for all.
        check_config(bed.bin["agent"], f"{work}/agent1.yaml")
        master = Proc("master", MASTER_NS, [bed.bin["master"], "--config", f"{work}/master.yaml"],
                      f"{work}/master.log")
        procs.append(master)
        if proxy_opts:
            for name, argv in proxy_argvs(bed, proxy_opts, seed=seed):
                proxy = Proc(name, MASTER_NS, argv, f"{work}/{name}.log")
                procs.append(proxy)
                if not wait_for_text(f"{work}/{name}.log", "ready", 5, proxy):
                    raise RuntimeError(f"netem proxy did not start: {open(f'{work}/{name}.log').read().strip()}")
        if imp.net:
            procs.append(Proc("iperf3-server", MASTER_NS, ["iperf3", "-s"], f"{work}/iperf3-server.log"))
        cgroup = make_cpu_cgroup(STARVED_CGROUP, STARVED_QUOTA_US, STARVED_PERIOD_US) if imp.starve else None
        # The monitor first: it counts from the agents' very first reading.
        monitor = Proc("monitor", None, truth.segments_argv(bed, f"{work}/monitor.json", segments, d,
                                                            args.sample_us),
                       f"{work}/monitor.log", stdout=open(f"{work}/monitor.txt", "w"))
        procs.append(monitor)
        if not wait_for_text(f"{work}/monitor.txt", "t [s]", 5, monitor):
            raise RuntimeError(f"truth monitor did not start: {open(f'{work}/monitor.log').read().strip()}")
        t0 = time.monotonic()
        origin = time.clock_gettime_ns(time.CLOCK_MONOTONIC_RAW)
        for i in range(n):
            procs.append(Proc(f"agent{i + 1}", net.ns(i),
                              [bed.bin["agent"], "--config", f"{work}/agent{i + 1}.yaml",
                               "--sim-origin-ns", str(origin)], f"{work}/agent{i + 1}.log", cgroup=cgroup))
            if imp.storm:
                time.sleep(STORM_SPACING_S)
        if imp.cpu:
            procs.append(Proc("stress-ng", None, ["stress-ng", "--cpu", "2", "--timeout", f"{int(d) + 5}s", "-q"],
                              f"{work}/stress.log"))
        events = []  # (t, label, fn or None)
        if imp.freeze:
            frac, secs = imp.freeze
            events += [(d * frac, "master SIGSTOP", lambda: master.send(signal.SIGSTOP)),
                       (d * frac + secs, "master SIGCONT", lambda: master.send(signal.SIGCONT))]
        if imp.net:
            for t, label, argv in iperf_bursts(d):
                events.append((t, label, lambda argv=argv: procs.append(
                    Proc("iperf3", net.ns(0), argv, f"{work}/iperf3-client.log"))))
        if proxy_opts and "schedule" in proxy_opts:
            # The proxy plays these itself (from its start, a few ms before t0).
            for entry in proxy_opts["schedule"].split(","):
                t, up, down, loss = entry.split(":")
                events.append((float(t), f"path {up} ms up, {down} ms down, loss {loss}", None))
        events.sort(key=lambda e: e[0])
        while monitor.alive():
            now = time.monotonic() - t0
            while events and events[0][0] <= now:
                _, label, fn = events.pop(0)
                if fn:
                    fn()
                timeline.append({"t": round(now, 3), "event": label})
            time.sleep(0.02)
        monitor.stop()
        mon = truth.load(f"{work}/monitor.json")
    finally:
        with signals_held():
            for p in reversed(procs):
                p.stop()
            net.down()
    return summarize_cell(seed, mode.name, imp.name, n, d, mon, net, timeline, work)


def summarize_cell(seed, mode, impairment, agents, duration, mon, net, timeline, work):
    segs = mon["segments"]
    row = {"seed": seed, "mode": mode, "impairment": impairment, "agents": agents, "duration_s": duration,
           **truth.pooled(segs)}
    span = max(mon["duration_s"], 1e-9)
    row["samples_per_s_per_agent"] = row["reads"] / max(agents, 1) / span
    row["sampler_cpu_pct"] = None if mon.get("cpu_s") is None else 100 * mon["cpu_s"] / span
    row["outside_agents"] = [
        {"agent": f"a{i + 1}", "som": net.ns(i), "outside": s["violations"],
         "first_outside_s": s["first_outside_s"], "worst_ratio": s["worst_ratio"],
         "worst_ratio_s": s["worst_ratio_s"], "worst_excess_us": s["worst_excess_ns"] / 1e3}
        for i, s in enumerate(segs) if s["violations"]]
    # Not a broken promise (a refused reading is honest), but worth knowing.
    row["never_served"] = [f"a{i + 1}" for i, s in enumerate(segs) if s["served"] == 0]
    row["events"] = timeline
    row["work"] = work
    return row


def combine(rows, **label):
    """Totals over cells: sums, worst of the worsts, mean bound weighted by
    readings served."""
    served = sum(r["served"] for r in rows)
    refused = {}
    for r in rows:
        for code, n in r["refused"].items():
            refused[code] = refused.get(code, 0) + n

    def worst(k):
        return max((r[k] for r in rows if r[k] is not None), default=None)

    bound = sum(r["mean_bound_us"] * r["served"] for r in rows if r["mean_bound_us"] is not None)
    return {**label, "cells": len(rows), "reads": sum(r["reads"] for r in rows), "served": served,
            "outside": sum(r["outside"] for r in rows), "worst_ratio": worst("worst_ratio"),
            "worst_abs_err_us": worst("worst_abs_err_us"),
            "mean_bound_us": bound / served if served else None, "refused": dict(sorted(refused.items()))}


def totals(cells):
    groups = {}
    for c in cells:
        groups.setdefault((c["mode"], c["impairment"]), []).append(c)
    return [combine(rows, mode=m, impairment=i) for (m, i), rows in groups.items()]


# ------------------------------------------------------------------- report --

def _f(v, digits=1):
    return "-" if v is None else f"{v:.{digits}f}"


def _row(first, r):
    return (f'| {first} | {r["served"]:,} | {r["outside"]:,} | {_f(r["worst_ratio"], 3)} | '
            f'{_f(r["worst_abs_err_us"])} | {_f(r["mean_bound_us"])} | {sum(r["refused"].values()):,} |')


def markdown(cells):
    head = ("| served | outside bound | worst \\|error\\|/bound | worst \\|error\\| [us] | mean bound [us] | "
            "refused |")
    lines = ["| seed | mode | impairment | agents " + head, "|---|---|---|---|---|---|---|---|---|---|"]
    for c in cells:
        lines.append(_row(f'{c["seed"]} | {c["mode"]} | {c["impairment"]} | {c["agents"]}', c))
    lines += ["", "| mode | impairment | cells " + head, "|---|---|---|---|---|---|---|---|---|"]
    for t in totals(cells):
        lines.append(_row(f'{t["mode"]} | {t["impairment"]} | {t["cells"]}', t))
    all_ = combine(cells)
    lines.append(_row(f'**all** | | {all_["cells"]}', all_))
    return "\n".join(lines) + "\n"


def violations(cells):
    """One line per agent that served a reading outside its bound."""
    out = []
    for c in cells:
        for a in c["outside_agents"]:
            out.append(f'seed {c["seed"]} / {c["mode"]} / {c["impairment"]}: {a["agent"]} ({a["som"]}): '
                       f'{a["outside"]} readings outside the bound, first at {_f(a["first_outside_s"], 3)} s, '
                       f'worst |error|/bound {_f(a["worst_ratio"], 3)} at {_f(a["worst_ratio_s"], 3)} s '
                       f'(by {_f(a["worst_excess_us"])} us)')
    return out


# ---------------------------------------------------------------------- cli --

def names(text, table, what):
    if text == "all":
        return list(table)
    out = text.split(",")
    for n in out:
        if n not in table:
            die(f"unknown {what} '{n}' (one of {', '.join(table)}, or all)", 64)
    return out


def register(add_command):
    ap = add_command("honesty", cmd, "count every served reading against the exact truth, over "
                     "seeds x modes x impairments", agents=8, max_agents=MAX_AGENTS)
    ap.add_argument("--seeds", type=int, default=3, help="seeds per mode and impairment")
    ap.add_argument("--first-seed", type=int, default=1, help="replay: seeds start here")
    ap.add_argument("--modes", default=DEFAULT_MODES, help=f"{','.join(MODES)} or all")
    ap.add_argument("--impairments", default="all", help=f"{','.join(BY_NAME)} or all")
    ap.add_argument("--duration", type=float, default=30, help="seconds per cell")
    ap.add_argument("--storm-agents", type=int, default=48)
    ap.add_argument("--agents-per-som", type=int, default=4)
    ap.add_argument("--sample-us", type=int, default=1000, help="truth monitor sampling period")


def cmd(bed, args, out):
    modes = [MODES[m] for m in names(args.modes, MODES, "mode")]
    imps = [BY_NAME[i] for i in names(args.impairments, BY_NAME, "impairment")]
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    if not seeds or args.duration < 5 or not 10 <= args.sample_us <= 1_000_000:
        die("need --seeds >= 1, --duration >= 5 and --sample-us in [10, 1000000]", 64)
    if not 1 <= args.storm_agents <= MAX_AGENTS or not 1 <= args.agents_per_som <= 64:
        die(f"--storm-agents must be 1 to {MAX_AGENTS}, --agents-per-som 1 to 64", 64)
    for tool, needed in (("stress-ng", any(i.cpu for i in imps)), ("iperf3", any(i.net for i in imps))):
        if needed and shutil.which(tool) is None:
            die(f"the selected impairments need {tool} (apt-get install {tool})")
    plan = [(s, m, i) for s in seeds for m in modes for i in imps]
    per_s = 1e6 / args.sample_us
    readings = sum(cell_agents(args, i) * args.duration * per_s for _, _, i in plan)
    est_s = sum(args.duration + SETUP_S + SETUP_PER_SOM_S * cell_agents(args, i) / args.agents_per_som
                for _, _, i in plan)
    print(f"honesty: {len(plan)} cells ({len(seeds)} seeds x {len(modes)} modes x {len(imps)} impairments), "
          f"{args.duration:g} s each, {args.agents} agents ({args.storm_agents} in storm cells), sampled every "
          f"{args.sample_us} us: at most {readings / 1e6:.1f} M readings (less acquisition), "
          f"about {est_s / 60:.1f} min; results in {out}", flush=True)
    cells = []
    started = time.monotonic()
    for k, (seed, mode, imp) in enumerate(plan):
        t = time.monotonic()
        c = run_cell(bed, args, seed, mode, imp, out)
        cells.append(c)
        print(f'[{k + 1}/{len(plan)}] seed {seed} {mode.name} {imp.name}: {c["agents"]} agents, '
              f'{c["served"]:,} served, {c["outside"]} outside the bound, worst |error|/bound '
              f'{_f(c["worst_ratio"], 3)}, worst |error| {_f(c["worst_abs_err_us"])} us, mean bound '
              f'{_f(c["mean_bound_us"])} us; sampler {c["samples_per_s_per_agent"]:.0f} reads/s per agent, '
              f'{_f(c["sampler_cpu_pct"])} % CPU ({time.monotonic() - t:.0f} s)'
              + (f'; never served a reading: {", ".join(c["never_served"])}' if c["never_served"] else ""),
              flush=True)
        write_results(out, args, seeds, modes, imps, cells)
    md = markdown(cells)
    write(os.path.join(out, "honesty.md"), md)
    all_ = combine(cells)
    print()
    print(md)
    print(f'{all_["served"]:,} readings served in {(time.monotonic() - started) / 60:.1f} min, '
          f'{all_["outside"]} outside the bound; results in {out}: honesty.json, honesty.md, work/')
    bad = violations(cells)
    for line in bad:
        print("OUTSIDE THE BOUND: " + line)
    return 1 if bad else 0


def write_results(out, args, seeds, modes, imps, cells):
    doc = {"settings": {"seeds": seeds, "modes": [m.name for m in modes], "impairments": [i.name for i in imps],
                        "duration_s": args.duration, "agents": args.agents, "storm_agents": args.storm_agents,
                        "agents_per_som": args.agents_per_som, "sample_us": args.sample_us,
                        "agent_keys": list(AGENT_KEYS), "set": list(args.set), "master_set": list(args.master_set)},
           "cells": cells, "totals": totals(cells), "overall": combine(cells)}
    with open(os.path.join(out, "honesty.json"), "w") as f:
        json.dump(doc, f, indent=1)
