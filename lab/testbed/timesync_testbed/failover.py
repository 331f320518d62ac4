"""failover, failback and partition: a hot-standby master (issue 19).

Per scenario one bed runs a primary master (tsb-master, 10.213.0.1), a
standby master of it (tsb-standby, 10.213.0.2: `standby.of` the primary, the
same `id`, so it serves the primary's timeline with its own error) and
--agents agents on simulated crystals, each listing both masters
(`master: [primary, standby]`, `failover: {probe_every_s, failures_to_switch,
hold_down_s}`), all on the bridge without impairment:

  failover   the primary SIGKILLed for good;
  failback   the primary SIGKILLed, started again --back-after s later (same
             configuration, so the same timeline): agents go back after the
             hold-down;
  partition  the primary's link cut (its veth's bridge port down) for
             --cut-s s: open connections stall, exchanges time out; the
             standby loses the primary too and serves in holdover.

    timesync-testbed failover [--scenarios failover,failback,partition]
                              [--before 15] [--back-after 15] [--cut-s 20]
                              [--hold-down 30] [--probe-every 4] [--after 20]

The truth monitor starts once every agent is synchronized and lists the
standby as answering on its timeline, so every reading it counts is one an
application would have made through the event: it reads every agent's
segment about once a millisecond against the truth (the primary's
timeline: this host's CLOCK_MONOTONIC_RAW), from the first SoM's namespace
(never cut). Reported per agent, against issue 19's targets:
  - readings refused (target 0 while the bound is under alarm.max_error_us;
    the largest bound served is reported beside it) and outside the bound
    (target 0), over the whole monitored span;
  - the switch: the agent log's "following master STANDBY instead of
    PRIMARY" against the event and against the first failed exchange with
    the primary that the agent logged after it (target: within 2 poll
    intervals, the agent's poll interval in its last status before the
    event); failback: "following master PRIMARY" against the primary's return;
  - true |error| p50 / p99 and the mean bound in --window s before the event
    and over every reading served while the agent followed the standby
    (from the switch to the failback or the end; target: p99 after within 2x
    p99 before), and --window s from the failback on;
  - the published epoch before and after (a change is a step).
Output: failover.json, failover.md, one SVG per scenario (true error and
bound per agent; events red, each agent's switches green).
"""
import datetime
import json
import os
import shutil
import signal
import subprocess
import threading
import time

from . import truth
from .configs import AGENT_PORT, agent_config, check_config, master_yaml, to_yaml, write
from .network import MASTER_IP, MASTER_NS, MASTER_PORT, STANDBY_IP, STANDBY_NS, Network, cleanup_all
from .processes import Proc, die, signals_held
from .report import fmt, pct, svg_panels
from .scenarios import BY_NAME

PRIMARY = f"{MASTER_IP}:{MASTER_PORT}"
STANDBY = f"{STANDBY_IP}:{MASTER_PORT}"
SCENARIO_NAMES = ("failover", "failback", "partition")
TITLES = {"failover": "primary SIGKILLed for good",
          "failback": "primary SIGKILLed, started again (same timeline)",
          "partition": "the primary's link cut"}
READY_TIMEOUT_S = 90


def register(add_command):
    p = add_command("failover", cmd, "a hot-standby master: failover, failback and partition scenarios "
                    "(failover.json, failover.md, SVGs)")
    p.add_argument("--scenarios", default=",".join(SCENARIO_NAMES))
    p.add_argument("--before", type=float, default=15, help="seconds monitored before the event")
    p.add_argument("--after", type=float, default=20,
                   help="seconds monitored after the switch (failover) or the expected failback")
    p.add_argument("--back-after", type=float, default=15, help="failback: the primary's time down")
    p.add_argument("--cut-s", type=float, default=20, help="partition: how long the link is cut")
    p.add_argument("--hold-down", type=float, default=30, help="agents' failover.hold_down_s")
    p.add_argument("--probe-every", type=float, default=4, help="agents' failover.probe_every_s")
    p.add_argument("--failures-to-switch", type=int, default=2)
    p.add_argument("--standby-max-error-us", type=float, default=10000)
    p.add_argument("--window", type=float, default=10, help="seconds of the before/after windows")


def plan(name, a):
    """The scenario's events as (seconds after the monitor's start, label,
    action) with action in kill, start, cut, restore; and the monitored span."""
    t = a.before
    if name == "failover":
        return [(t, "primary SIGKILL", "kill")], t + 2 * a.failures_to_switch + a.after
    if name == "failback":
        back = t + a.back_after
        return ([(t, "primary SIGKILL", "kill"), (back, "primary started again", "start")],
                back + a.hold_down + a.probe_every + a.after)
    if name == "partition":
        back = t + a.cut_s
        return ([(t, "primary link cut", "cut"), (back, "primary link restored", "restore")],
                back + a.hold_down + a.probe_every + a.after)
    raise ValueError(name)


def configs(work, agents, a, overrides=(), master_overrides=()):
    """The primary's (master.yaml, the monitor's truth), the standby's and
    the agents' configurations; returns their paths."""
    write(f"{work}/master.yaml", master_yaml(master_overrides))
    write(f"{work}/standby.yaml", master_yaml([
        f"standby.of={PRIMARY}", f"standby.max_error_us={a.standby_max_error_us:g}",
        "standby.poll.min_s=0.125", "standby.poll.max_s=1"] + list(master_overrides)))
    idle = BY_NAME["idle"]
    for i in range(agents):
        cfg = agent_config(i, [PRIMARY, STANDBY], idle, 0, list(overrides) + [
            f"failover.probe_every_s={a.probe_every:g}", f"failover.failures_to_switch={a.failures_to_switch}",
            f"failover.hold_down_s={a.hold_down:g}"])
        write(f"{work}/agent{i + 1}.yaml", to_yaml(cfg))
    return [f"{work}/master.yaml", f"{work}/standby.yaml"], [f"{work}/agent{i + 1}.yaml" for i in range(agents)]


def ctl(bed, ns, *argv):
    """timesyncctl's output in namespace ns (also when it exits non-zero, as
    for a master that answers but does not serve); "" when it cannot run."""
    try:
        r = subprocess.run(["ip", "netns", "exec", ns, bed.bin["ctl"], *argv], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return r.stdout


def agent_ready(status_json, status_text):
    """Synchronized, and the standby probed and answering on its timeline."""
    try:
        s = json.loads(status_json)
    except ValueError:
        return False
    line = next((ln for ln in status_text.splitlines() if ln.startswith(f"Master {STANDBY}")), "")
    return (s.get("synchronized") is True and not s.get("alarm", {}).get("active")
            and "standby, answering" in line and "ANOTHER TIMELINE" not in line)


class MasterErrors(threading.Thread):
    """Each master's master_error_ns as it answers GetStatus (timesyncctl
    master, from the first SoM's namespace) every period_s: (raw ns,
    target, error ns or None when it does not answer)."""

    def __init__(self, bed, period_s=0.5):
        super().__init__(daemon=True)
        self.bed, self.period_s = bed, period_s
        self.samples = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            for target in (PRIMARY, STANDBY):
                raw = time.clock_gettime_ns(time.CLOCK_MONOTONIC_RAW)
                try:
                    err = json.loads(ctl(self.bed, Network.agent_ns(0), "master", target, "--json") or "{}")
                except ValueError:
                    err = {}
                self.samples.append((raw, target, err.get("master_error_ns")))
            self.stop.wait(self.period_s)


def agent_epoch(bed, i):
    try:
        return json.loads(ctl(bed, Network.agent_ns(i), "status", f"{Network.agent_ip(i)}:{AGENT_PORT}",
                              "--json")).get("epoch")
    except ValueError:
        return None


# ------------------------------------------------------------------ the run --

def run(bed, name, agents, a, out, overrides=(), master_overrides=()):
    """One scenario on a fresh network; returns its raw result."""
    work = os.path.join(out, "work", name)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    events, span = plan(name, a)
    cleanup_all()
    net = Network(agents, standby=True)
    procs = []
    try:
        net.up()
        masters, agent_paths = configs(work, agents, a, overrides, master_overrides)
        for path in masters:
            check_config(bed.bin["master"], path)
        for path in agent_paths:
            check_config(bed.bin["agent"], path)

        def start_primary():
            p = Proc("primary", MASTER_NS, [bed.bin["master"], "--config", masters[0]], f"{work}/master.log")
            procs.append(p)
            return p

        primary = start_primary()
        procs.append(Proc("standby", STANDBY_NS, [bed.bin["master"], "--config", masters[1]],
                          f"{work}/standby.log"))
        origin = time.clock_gettime_ns(time.CLOCK_MONOTONIC_RAW)
        for i in range(agents):
            procs.append(Proc(f"agent{i + 1}", Network.agent_ns(i),
                              [bed.bin["agent"], "--config", agent_paths[i], "--sim-origin-ns", str(origin)],
                              f"{work}/agent{i + 1}.log"))
        # Bounded wait until every agent is synchronized and sees the standby.
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            ready = [agent_ready(ctl(bed, Network.agent_ns(i), "status", f"{Network.agent_ip(i)}:{AGENT_PORT}",
                                     "--json"),
                                 ctl(bed, Network.agent_ns(i), "status", f"{Network.agent_ip(i)}:{AGENT_PORT}"))
                     for i in range(agents)]
            if all(ready):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name}: agents not synchronized with the standby answering after "
                                   f"{READY_TIMEOUT_S} s (ready: {ready}; logs in {work})")
            time.sleep(0.5)
        ready_s = (time.clock_gettime_ns(time.CLOCK_MONOTONIC_RAW) - origin) / 1e9
        epochs0 = [agent_epoch(bed, i) for i in range(agents)]
        # Realtime (the daemons' log stamps) against raw, read back to back.
        rt0 = time.clock_gettime_ns(time.CLOCK_REALTIME)
        raw0 = time.clock_gettime_ns(time.CLOCK_MONOTONIC_RAW)
        monitor = Proc("monitor", Network.agent_ns(0),
                       truth.targets_argv(bed, work, agents, span, origin, settle_s=0),
                       f"{work}/monitor.log", stdout=open(f"{work}/monitor.txt", "w"))
        errors = MasterErrors(bed)
        errors.start()
        t0 = time.monotonic()
        timeline = []
        pending = list(events)
        while monitor.alive():
            now = time.monotonic() - t0
            while pending and pending[0][0] <= now:
                _, label, action = pending.pop(0)
                raw = time.clock_gettime_ns(time.CLOCK_MONOTONIC_RAW)
                if action == "kill":
                    primary.stop(signal.SIGKILL)
                elif action == "start":
                    primary = start_primary()
                elif action == "cut":
                    net.set_link(MASTER_NS, False)
                elif action == "restore":
                    net.set_link(MASTER_NS, True)
                timeline.append({"raw_ns": raw, "event": label})
                print(f"  [{name}] t={now:5.1f} s: {label}", flush=True)
            time.sleep(0.02)
        errors.stop.set()
        errors.join()
        epochs1 = [agent_epoch(bed, i) for i in range(agents)]
        final_status = [ctl(bed, Network.agent_ns(i), "status", f"{Network.agent_ip(i)}:{AGENT_PORT}")
                        for i in range(agents)]
        monitor.stop()
        mon = truth.load(f"{work}/monitor.json")
    finally:
        with signals_held():
            for p in reversed(procs):
                p.stop()
            net.down()
    write(f"{work}/final-status.txt", "\n".join(final_status))
    start = mon["start_raw_ns"]
    for ev in timeline:
        ev["t"] = round((ev["raw_ns"] - start) / 1e9, 3)
    logs = []
    for i in range(agents):
        with open(f"{work}/agent{i + 1}.log") as f:
            logs.append(agent_log_events(f.read(), rt0 - raw0, start))
    master_errors = [((raw - start) / 1e9, target, err) for raw, target, err in errors.samples]
    return {"scenario": name, "title": TITLES[name], "span_s": span, "ready_s": ready_s, "events": timeline,
            "master_errors": master_errors,
            "monitor": mon, "epochs_before": epochs0, "epochs_after": epochs1, "logs": logs, "work": work,
            "max_error_us": float(agent_config(0, "x", BY_NAME["idle"], 0, overrides)["alarm"]["max_error_us"])}


# ----------------------------------------------------------------- analysis --

def log_stamp_ns(line):
    """A daemon log line's realtime stamp (2026-11-29T12:48:29.052620Z) in ns, or None."""
    head = line.split(" ", 1)[0]
    if not head.endswith("Z"):
        return None
    try:
        d = datetime.datetime.strptime(head, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None
    return (int(d.replace(microsecond=0).timestamp()) * 1_000_000 + d.microsecond) * 1000


def agent_log_events(text, rt_minus_raw_ns, monitor_start_raw_ns):
    """The agent log's switches and failed exchanges, in the monitor's
    seconds: [{"t", "kind": follow|failed, "to"/"target", "line"}]."""
    out = []
    for line in text.splitlines():
        ns = log_stamp_ns(line)
        if ns is None:
            continue
        t = round((ns - rt_minus_raw_ns - monitor_start_raw_ns) / 1e9, 6)
        if "following master " in line:
            rest = line.split("following master ", 1)[1]
            was = rest.split(" instead of ", 1)[1] if " instead of " in rest else ""
            out.append({"t": t, "kind": "follow", "to": rest.split(" ", 1)[0],
                        "from": ":".join(was.split(":", 2)[:2]) or None, "line": line})
        elif "ALARM raised: " in line:
            out.append({"t": t, "kind": "alarm", "why": line.split("ALARM raised: ", 1)[1], "line": line})
        elif "exchange with " in line and " failed" in line:
            out.append({"t": t, "kind": "failed", "target": line.split("exchange with ", 1)[1].split(" ", 1)[0],
                        "line": line})
    return out


def window(readings, t_from, t_to):
    """|error| p50/p99/max and the mean and largest bound, in us, of the
    traced readings (t, error ns, bound ns) with t_from <= t < t_to."""
    w = [(abs(e), b) for t, e, b in readings if t_from <= t < t_to]
    if not w:
        return {"n": 0, "p50_us": None, "p99_us": None, "max_us": None, "mean_bound_us": None,
                "max_bound_us": None}
    errs = sorted(e for e, _ in w)
    return {"n": len(w), "p50_us": pct(errs, 0.5) / 1e3, "p99_us": pct(errs, 0.99) / 1e3,
            "max_us": errs[-1] / 1e3, "mean_bound_us": sum(b for _, b in w) / len(w) / 1e3,
            "max_bound_us": max(b for _, b in w) / 1e3}


def load_trace(path):
    """Readings by target index (t, error ns, bound ns), status lines by target index."""
    readings, status = {}, {}
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if r.get("k") == "r" and "a" in r:
                readings.setdefault(r["a"], []).append((r["t"], r["e"], r["b"]))
            elif r.get("k") == "s" and "a" in r:
                status.setdefault(r["a"], []).append(r)
    return readings, status


def summarize(res, readings, status, win_s):
    """One row per agent against the targets."""
    ev = res["events"]
    t_event = ev[0]["t"]
    t_back = ev[1]["t"] if len(ev) > 1 else None
    rows = []
    for i, ag in enumerate(res["monitor"]["agents"]):
        log = res["logs"][i]
        rd = readings.get(i, [])
        st = status.get(i, [])
        before_st = [s for s in st if s["t"] < t_event and s.get("poll") is not None]
        poll_s = before_st[-1]["poll"] if before_st else None
        failed = next((e["t"] for e in log if e["kind"] == "failed" and e["target"] == PRIMARY
                       and e["t"] >= t_event), None)
        switch = next((e["t"] for e in log if e["kind"] == "follow" and e["to"] == STANDBY
                       and e["t"] >= t_event), None)
        back = (next((e["t"] for e in log if e["kind"] == "follow" and e["to"] == PRIMARY and e["t"] >= t_back),
                     None) if t_back is not None else None)
        alarm = next((e for e in log if e["kind"] == "alarm" and e["t"] >= t_event), None)
        end = res["span_s"]
        before = window(rd, t_event - win_s, t_event)
        # Every reading served while the agent followed the standby.
        after = window(rd, switch, back if back is not None else end) if switch is not None else window([], 0, 0)
        after_back = window(rd, back, min(back + win_s, end)) if back is not None else None
        refused = sum((ag.get("refused") or {}).values())
        row = {"agent": ag["agent_id"], "poll_s": poll_s,
               "first_failure_after_event_s": None if failed is None else failed - t_event,
               "switch_after_event_s": None if switch is None else switch - t_event,
               "switch_after_first_failure_s": None if switch is None or failed is None else switch - failed,
               "failback_after_return_s": None if back is None else back - t_back,
               "alarm_after_switch_s": None if alarm is None or switch is None else alarm["t"] - switch,
               "alarm_after_event_s": None if alarm is None else alarm["t"] - t_event,
               "alarm_why": None if alarm is None else alarm["why"],
               "alarm_on_bound": alarm is not None and "exceeds max_error" in alarm["why"],
               "before": before, "after": after, "after_failback": after_back,
               "p99_ratio": (after["p99_us"] / before["p99_us"] if after["p99_us"] is not None and before["p99_us"]
                             else None),
               "served": ag["served"], "outside": ag["violations"], "reads": ag["reads"], "refused": refused,
               "refused_by_code": ag.get("refused") or {},
               "max_bound_us": max((b for _, _, b in rd), default=0) / 1e3,
               "alarm_lines": sum(1 for s in st if s.get("alarm")),
               "epoch_kept": (None if res["epochs_before"][i] is None or res["epochs_after"][i] is None
                              else res["epochs_before"][i] == res["epochs_after"][i])}
        row["targets"] = targets(row)
        rows.append(row)
    out = {"scenario": res["scenario"], "title": res["title"], "span_s": res["span_s"], "events": ev,
           "ready_s": res["ready_s"], "agents": rows, "work": res["work"], "max_error_us": res["max_error_us"],
           "master_errors": res["master_errors"]}
    out.update(standby_service(res["master_errors"], t_event, t_back))
    return out


def standby_service(master_errors, t_event, t_back):
    """The standby's error as it served it (GetStatus every 0.5 s): its median
    before the event, its growth while it served alone (a least-squares
    slope from 1 s after the event, over the samples where it served: error
    > 0), and until when after the event it served alone."""
    sb = [(t, e) for t, target, e in master_errors if target == STANDBY and e is not None]
    before = sorted(e for t, e in sb if t < t_event and e > 0)
    held = [(t, e / 1e3) for t, e in sb if t >= t_event + 1 and (t_back is None or t < t_back) and e > 0]
    slope = None
    if len(held) > 2:
        mt = sum(t for t, _ in held) / len(held)
        me = sum(e for _, e in held) / len(held)
        den = sum((t - mt) ** 2 for t, _ in held)
        slope = sum((t - mt) * (e - me) for t, e in held) / den if den else None
    return {"standby_error_before_us": pct(before, 0.5) / 1e3 if before else None,
            "standby_error_growth_us_per_s": slope,
            "standby_served_alone_until_s": (held[-1][0] - t_event) if held else None,
            "standby_error_last_us": held[-1][1] if held else None}


def targets(row):
    """Issue 19's targets, each True (met), False (missed) or None (not measured)."""
    switch_ok = None
    if row["switch_after_first_failure_s"] is not None and row["poll_s"]:
        switch_ok = row["switch_after_first_failure_s"] <= 2 * row["poll_s"]
    elif row["switch_after_event_s"] is None:
        switch_ok = False
    # Reads refused only once the bound passed alarm.max_error_us (the agent's
    # alarm says why) meet the target; any other refusal misses it.
    return {"no_refused_under_limit": row["refused"] == 0 or bool(row["alarm_on_bound"]),
            "none_outside": row["outside"] == 0,
            "switch_within_2_polls": switch_ok,
            "error_after_within_2x": None if row["p99_ratio"] is None else row["p99_ratio"] <= 2.0}


# ------------------------------------------------------------------- report --

def yes(v):
    return "-" if v is None else "met" if v else "**missed**"


def markdown(rows):
    lines = ["| scenario | agent | poll [s] | first failed exchange after the event [s] | switch after the event / "
             "after that failure [s] | failback after the return [s] | true \\|error\\| p50 / p99 before "
             "[us] | while following the standby [us] | after the failback [us] | mean bound before / after / after "
             "failback [us] | outside bound | refused | epoch kept |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for k, a in enumerate(r["agents"]):
            b, f, fb = a["before"], a["after"], a["after_failback"] or {}
            lines.append(
                f'| {r["scenario"] if k == 0 else ""} | {a["agent"]} | {fmt(a["poll_s"], 2)} | '
                f'{fmt(a["first_failure_after_event_s"], 2)} | {fmt(a["switch_after_event_s"], 2)} / '
                f'{fmt(a["switch_after_first_failure_s"], 2)} | {fmt(a["failback_after_return_s"], 2)} | '
                f'{fmt(b["p50_us"])} / {fmt(b["p99_us"])} | {fmt(f["p50_us"])} / {fmt(f["p99_us"])} | '
                f'{fmt(fb.get("p50_us"))} / {fmt(fb.get("p99_us"))} | {fmt(b["mean_bound_us"])} / '
                f'{fmt(f["mean_bound_us"])} / {fmt(fb.get("mean_bound_us"))} | {a["outside"]} of {a["served"]} | '
                f'{a["refused"]} of {a["reads"]} | {"-" if a["epoch_kept"] is None else "yes" if a["epoch_kept"] else "**no**"} |')
    lines += ["", "| scenario | agent | alarm raised after the switch [s] | why | standby's error before the "
              "event (median) [us] | its growth while it serves alone [us/s] | it served alone until [s after the "
              "event], its error then [us] |",
              "|---|---|---|---|---|---|---|"]
    for r in rows:
        for k, a in enumerate(r["agents"]):
            why = a["alarm_why"] or "-"
            why = (why[:90] + "...") if len(why) > 90 else why
            lines.append(f'| {r["scenario"] if k == 0 else ""} | {a["agent"]} | {fmt(a["alarm_after_switch_s"], 2)} | '
                         f'{why.replace("|", "/")} | {fmt(r.get("standby_error_before_us")) if k == 0 else ""} | '
                         f'{fmt(r.get("standby_error_growth_us_per_s")) if k == 0 else ""} | '
                         + (f'{fmt(r.get("standby_served_alone_until_s"))}, {fmt(r.get("standby_error_last_us"))}'
                            if k == 0 else "") + " |")
    lines += ["", "| scenario | agent | no read refused under the limit | 0 outside the bound | switch within "
              "2 polls of the first failure | p99 while following the standby within 2x before (ratio) |",
              "|---|---|---|---|---|---|"]
    for r in rows:
        for k, a in enumerate(r["agents"]):
            t = a["targets"]
            lines.append(f'| {r["scenario"] if k == 0 else ""} | {a["agent"]} | {yes(t["no_refused_under_limit"])} | '
                         f'{yes(t["none_outside"])} | {yes(t["switch_within_2_polls"])} | '
                         f'{yes(t["error_after_within_2x"])} ({fmt(a["p99_ratio"], 2)}) |')
    return "\n".join(lines) + "\n"


def print_row(row):
    for a in row["agents"]:
        print(f'  {row["scenario"]:10s} {a["agent"]:8s} switch {fmt(a["switch_after_event_s"], 2)} s after the '
              f'event ({fmt(a["switch_after_first_failure_s"], 2)} s after the first failure, poll '
              f'{fmt(a["poll_s"], 2)} s), failback {fmt(a["failback_after_return_s"], 2)} s after the return; '
              f'p99 {fmt(a["before"]["p99_us"])} -> {fmt(a["after"]["p99_us"])} us; outside {a["outside"]} of '
              f'{a["served"]}, refused {a["refused"]}, epoch kept {a["epoch_kept"]}', flush=True)


def svg(row, readings, logs, path):
    panels, marks = [], []
    for i, a in enumerate(row["agents"]):
        panels.append((f'{row["scenario"]}: {a["agent"]}: true error (blue), ±bound (grey)',
                       [(t, e / 1e3, b / 1e3) for t, e, b in readings.get(i, [])]))
        marks.append([{"t": e["t"], "event": "follows " + ("standby" if e["to"] == STANDBY else "primary")}
                      for e in logs[i] if e["kind"] == "follow" and 0 <= e["t"] <= row["span_s"]])
    for target, who in ((PRIMARY, "primary"), (STANDBY, "standby")):
        pts = [(t, 0.0, e / 1e3) for t, tg, e in row.get("master_errors", []) if tg == target and e is not None]
        panels.append((f'{row["scenario"]}: the {who}\'s master_error_ns as it serves it (±, grey), '
                       f'every 0.5 s', pts))
        marks.append([])
    svg_panels(panels, row["span_s"], row["events"], path, labels=True, marks=marks)


def binaries(bed):
    """What ran: each program's modification time and size (the build
    directory may be rebuilt between runs)."""
    out = {}
    for k in ("master", "agent", "ctl", "monitor"):
        st = os.stat(bed.bin[k])
        out[k] = {"path": bed.bin[k], "mtime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(st.st_mtime)),
                  "size": st.st_size}
    return out


def cmd(bed, args, out):
    names = args.scenarios.split(",")
    for n in names:
        if n not in SCENARIO_NAMES:
            die(f"unknown failover scenario '{n}' (of {', '.join(SCENARIO_NAMES)})", 64)
    if shutil.which("ip") is None:
        die("failover needs ip")
    rows = []
    for n in names:
        print(f"scenario {n}: {TITLES[n]}", flush=True)
        res = run(bed, n, args.agents, args, out, args.set, args.master_set)
        readings, status = load_trace(os.path.join(res["work"], "trace.jsonl"))
        row = summarize(res, readings, status, args.window)
        svg(row, readings, res["logs"], os.path.join(out, f"{n}.svg"))
        print_row(row)
        rows.append(row)
        with open(os.path.join(out, "failover.json"), "w") as f:
            json.dump({"binaries": binaries(bed), "settings": {k: getattr(args, k) for k in (
                "before", "after", "back_after", "cut_s", "hold_down", "probe_every", "failures_to_switch",
                "standby_max_error_us", "window", "agents")}, "scenarios": rows}, f, indent=1)
    md = markdown(rows)
    write(os.path.join(out, "failover.md"), md)
    print()
    print(md)
    print(f"results in {out}: failover.json, failover.md, one SVG per scenario")
    return 0
