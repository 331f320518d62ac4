"""start-error: how close to a synchronized instant a command starts, per SoM.

Runs test-bed scenarios (scenarios.run_scenario) and, in every agent's
namespace, starts a command at every PERIOD boundary of the synchronized
timeline with one of these methods:

  run          timesync-run --every PERIOD (defaults: posix_spawn, 50 us spin)
  run-spin0    the same with --spin-us 0
  run-prefork  the same with --launch prefork (a child forked ahead waits on a pipe)
  run-fifo     `chrt -f 50 timesync-run ...` (SCHED_FIFO, inherited by the command)
  seed       the seed's loop: `while [ target -gt now ]; do sleep 0.05; done`,
             with `now` read from the agent's segment by timesync-now

The command is timesync-run-stamp, which records CLOCK_MONOTONIC_RAW at its
first instruction. The master serves the host's CLOCK_MONOTONIC_RAW and every
namespace shares that clock, so start error = stamp - target is the true error
of the start: synchronization error + wake-up lateness + exec latency. For the
timesync-run methods the stamp also carries timesync-run's wake-up (its
synchronized reading and the raw reading behind it), which splits the error:
  wake late  = wake_sync - target     (as the agent's clock saw it)
  exec       = stamp_raw - wake_raw   (exact: one host clock)
Across agents, "spread" is max - min of the start instants of one boundary over
the SoMs that all started it.

    timesync-testbed start-error [--agents N] [--duration S] [--period 100ms]
                   [--scenarios idle,cpu] [--methods run,seed,...] [--settle S]
                   [--lock-wait S] [--out DIR]

Needs root and the test bed's lock (/run/timesync-testbed.lock); when another
run holds it, this waits for it (up to --lock-wait seconds).
"""
import argparse
import json
import os

from .configs import AGENT_NAMES, CRYSTALS, segment_path, write
from .network import Network
from .processes import Proc, die
from .scenarios import BY_NAME, run_scenario

# Method -> (timesync-run options, command prefix).
RUN_METHODS = {"run": ([], []), "run-spin0": (["--spin-us", "0"], []),
               "run-prefork": (["--launch", "prefork"], []), "run-fifo": ([], ["chrt", "-f", "50"])}
METHODS = (*RUN_METHODS, "seed")

# The seed's loop, on the synchronized clock. timesync-now prints seconds with
# nine decimals; dropping the dot gives integer ns (10# keeps bash from reading
# a leading zero as octal).
SEED_LOOP = r'''
seg=$1; now_bin=$2; stamp=$3; out=$4; period=$5
now() { set -- $("$now_bin" --path "$seg"); echo $(( 10#${1/./} )); }
t=$(now); target=$(( (t / period + 1) * period ))
while :; do
  while [ "$target" -gt "$(now)" ]; do sleep 0.05; done
  TIMESYNC_RUN_TARGET_NS=$target "$stamp" "$out" &
  target=$(( target + period ))
done
'''


def parse_period_ns(text):
    units = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
    for u in ("ns", "us", "ms", "s"):
        if text.endswith(u) and text[:-len(u)].replace(".", "", 1).isdigit():
            return int(round(float(text[:-len(u)]) * units[u]))
    raise argparse.ArgumentTypeError(f"'{text}' is not a period like 100ms")


def pct(v, p):
    if not v:
        return None
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p * (len(v) - 1))))]


def summary(values_ns):
    return {"n": len(values_ns), "p50_us": us(pct(values_ns, 0.5)), "p99_us": us(pct(values_ns, 0.99)),
            "max_us": us(max(values_ns) if values_ns else None),
            "min_us": us(min(values_ns) if values_ns else None)}


def us(ns):
    return None if ns is None else ns / 1e3


def make_extra(args, method, bins):
    """The run_scenario hook: one starter per agent namespace, once it is in sync."""

    def extra(bed, work, agents, origin):
        procs = []
        for i in range(agents):
            seg = segment_path(i)
            out = os.path.join(work, f"stamps-{i + 1}.txt")
            wait = f'until "{bins["now"]}" --path "{seg}" >/dev/null 2>&1; do sleep 0.2; done; '
            if method == "seed":
                argv = ["bash", "-c", wait + 'exec bash -c "$0" seed-loop "$@"', SEED_LOOP, seg, bins["now"],
                        bins["stamp"], out, str(args.period_ns)]
            else:
                opts, prefix = RUN_METHODS[method]
                argv = ["sh", "-c", wait + 'exec "$@"', "sh", *prefix, bins["run"], "--segment", seg,
                        "--every", f"{args.period_ns}ns", "--quiet", *opts, "--",
                        bins["stamp"], out]
            procs.append(Proc(f"start-{method}-{i + 1}", Network.agent_ns(i), argv,
                                 os.path.join(work, f"start-{method}-{i + 1}.log")))
        return procs

    return extra


def analyse(work, agents, names, origin_ns, settle_s):
    """Per-agent and across-agent statistics from the stamp files."""
    per_agent, by_target, all_start = [], {}, []
    first_ok = origin_ns + int(settle_s * 1e9)
    for i in range(agents):
        path = os.path.join(work, f"stamps-{i + 1}.txt")
        rows = []
        if os.path.exists(path):
            for line in open(path):
                f = line.split()
                if len(f) == 6 and all(x.lstrip("-").isdigit() for x in f):
                    rows.append([int(x) for x in f])
        rows = [r for r in rows if r[1] >= first_ok]
        start = [r[0] - r[1] for r in rows]
        all_start += start
        wake = [r[3] - r[1] for r in rows if r[3] >= 0]
        execl = [r[0] - r[4] for r in rows if r[4] >= 0]
        bound = [r[5] for r in rows if r[5] >= 0]
        for r in rows:
            by_target.setdefault(r[1], {})[i] = r[0]
        per_agent.append({"agent": names[i], "start_error": summary(start),
                          "wake_late": summary(wake) if wake else None,
                          "exec": summary(execl) if execl else None,
                          "bound_p50_us": us(pct(bound, 0.5))})
    spread = [max(v.values()) - min(v.values()) for v in by_target.values() if len(v) == agents]
    return {"agents": per_agent, "all_agents_start_error": summary(all_start),
            "spread": summary(spread)}


def fmt(v):
    return "-" if v is None else f"{v:.1f}"


def triple(s):
    return "-" if not s or not s["n"] else f'{fmt(s["p50_us"])} / {fmt(s["p99_us"])} / {fmt(s["max_us"])}'


def markdown(results):
    lines = ["| scenario | method | agent | n | start error p50 / p99 / max [us] | min [us] | "
             "wake late p50 / p99 / max [us] | exec p50 / p99 / max [us] | bound p50 [us] |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for a in r["analysis"]["agents"]:
            s = a["start_error"]
            lines.append(f'| {r["scenario"]} | {r["method"]} | {a["agent"]} | {s["n"]} | {triple(s)} | '
                         f'{fmt(s["min_us"])} | {triple(a["wake_late"])} | {triple(a["exec"])} | '
                         f'{fmt(a["bound_p50_us"])} |')
        s = r["analysis"]["all_agents_start_error"]
        lines.append(f'| {r["scenario"]} | {r["method"]} | **all** | {s["n"]} | {triple(s)} | '
                     f'{fmt(s["min_us"])} | | | |')
    lines += ["", "| scenario | method | boundaries started by every agent | spread between agents "
              "p50 / p99 / max [us] |", "|---|---|---|---|"]
    for r in results:
        s = r["analysis"]["spread"]
        lines.append(f'| {r["scenario"]} | {r["method"]} | {s["n"]} | {triple(s)} |')
    return "\n".join(lines) + "\n"


def register(add_command):
    ap = add_command("start-error", cmd, "how close to a synchronized instant commands start on each SoM",
                     agents=4, max_agents=len(CRYSTALS), lock_wait=True)
    ap.add_argument("--duration", type=float, default=40)
    ap.add_argument("--period", dest="period_ns", type=parse_period_ns, default=parse_period_ns("100ms"))
    ap.add_argument("--scenarios", default="idle,cpu")
    ap.add_argument("--methods", default="run,seed")
    ap.add_argument("--settle", type=float, default=10.0,
                    help="ignore boundaries in the first S seconds (acquisition)")


def cmd(bed, args, out):
    methods = args.methods.split(",")
    scenarios = args.scenarios.split(",")
    for m in methods:
        if m not in METHODS:
            die(f"unknown method '{m}' (one of {', '.join(METHODS)})", 64)
    for s in scenarios:
        if s not in BY_NAME:
            die(f"unknown scenario '{s}'", 64)
    bins = {"run": bed.path("tools", "timesync-run", "timesync-run"),
            "stamp": bed.path("tools", "timesync-run", "timesync-run-stamp"),
            "now": bed.path("tools", "timesync-now")}
    names = [AGENT_NAMES[i % len(AGENT_NAMES)] for i in range(args.agents)]
    results = []
    for sc_name in scenarios:
        for m in methods:
            print(f"{sc_name} / {m}: {args.agents} agents, {args.duration:.0f} s, "
                  f"period {args.period_ns / 1e6:g} ms", flush=True)
            origin = {}

            def extra(bed_, work, agents, origin_ns, _m=m):
                origin["ns"] = origin_ns
                return make_extra(args, _m, bins)(bed_, work, agents, origin_ns)

            res = run_scenario(bed, BY_NAME[sc_name], args.duration, args.agents, out, False,
                               quiet=True, tag="-" + m, extra=extra)
            r = {"scenario": sc_name, "method": m, "agents_truth": res["agents"], "work": res["work"],
                 "analysis": analyse(res["work"], args.agents, names, origin["ns"], args.settle)}
            results.append(r)
            a = r["analysis"]
            print(f"  start error all agents p50/p99/max {triple(a['all_agents_start_error'])} us "
                  f"(n={a['all_agents_start_error']['n']}); spread {triple(a['spread'])} us "
                  f"(n={a['spread']['n']})", flush=True)
            json.dump({"period_ns": args.period_ns, "agents": args.agents, "duration_s": args.duration,
                       "settle_s": args.settle, "results": results},
                      open(os.path.join(out, "start_error.json"), "w"), indent=1)
    md = markdown(results)
    write(os.path.join(out, "start_error.md"), md)
    print()
    print(md)
    print(f"results in {out}")
    return 0
