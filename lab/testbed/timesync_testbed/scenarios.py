"""The scenarios (what to impair, and when) and the runner that plays one on
a fresh network: master, agents, impairments, the truth monitor, and the
reference (chrony) and probes when asked."""
import os
import shutil
import signal
import time

from . import truth
from .chrony import ChronyTracker, chrony_confs, chrony_offsets_us
from .configs import (agent_config, check_config, master_yaml, proxy_argv, proxy_argvs, segment_path, to_yaml,
                      write)
from .network import (CHRONY_PROXY_PORT, MASTER_IP, MASTER_METRICS_PORT, MASTER_NS, MASTER_PORT, PROXY_PORT,
                      UDP_PROXY_PORT, Network, cleanup_all)
from .probes import probe_analysis, start_probes
from .processes import Proc, master_served, proc_cpu_s, sh, signals_held, thread_cpu_s, thread_in_ppoll
from .report import pct


class Scenario:
    """What to impair, and when. Times are fractions of the duration."""

    def __init__(self, name, title, proxy=None, cpu=False, net=False, drift_step_ppm=0.0,
                 master_outage=None, agent_restart=None):
        self.name, self.title = name, title
        self.proxy = proxy              # dict of timesync-netem-proxy options, or None
        self.cpu, self.net = cpu, net
        self.drift_step_ppm = drift_step_ppm
        self.master_outage = master_outage  # (start fraction, seconds)
        self.agent_restart = agent_restart  # (fraction, seconds down)


SCENARIOS = [
    Scenario("idle", "idle link, idle CPUs"),
    Scenario("cpu", "CPU stress: stress-ng --cpu 2 on both cores", cpu=True),
    Scenario("net", "bulk traffic bursts: iperf3 5 s on / 5 s off on the master's link", net=True),
    Scenario("cpu+net", "CPU stress and bulk traffic bursts together", cpu=True, net=True),
    Scenario("jitter", "proxy: 1 ms each way, +-0.5 ms uniform jitter",
             proxy={"delay_up_ms": 1.0, "delay_down_ms": 1.0, "jitter_ms": 0.5}),
    Scenario("asymmetry", "proxy: 1.5 ms request leg, 0.5 ms answer leg",
             proxy={"delay_up_ms": 1.5, "delay_down_ms": 0.5, "jitter_ms": 0.0}),
    Scenario("loss", "proxy: 0.5 ms each way, 2% loss (UDP dropped, TCP +200 ms retransmit)",
             proxy={"delay_up_ms": 0.5, "delay_down_ms": 0.5, "jitter_ms": 0.0, "loss": 0.02}),
    Scenario("drift-step", "thermal transient: every agent's crystal steps +5 ppm at 40%, back at 80%",
             drift_step_ppm=5.0),
    Scenario("master-outage", "master SIGKILLed at 40% for 10 s, then restarted",
             master_outage=(0.4, 10.0)),
    Scenario("agent-restart", "first agent SIGTERMed at 50%, restarted 2 s later",
             agent_restart=(0.5, 2.0)),
]
BY_NAME = {s.name: s for s in SCENARIOS}
# The CI run: an outage through a jittery proxy, short.
CHECK = Scenario("check", "CI: 0.2 ms +-0.1 ms proxy, master SIGKILLed at 35% for 6 s",
                 proxy={"delay_up_ms": 0.2, "delay_down_ms": 0.2, "jitter_ms": 0.1},
                 master_outage=(0.35, 6.0))



def iperf_bursts(duration):
    """iperf3 bursts on the master's link: 5 s on, 5 s off from t = 5 s,
    every other one reversed. (t, label, client argv) per burst."""
    out = []
    for k, t in enumerate(range(5, int(duration), 10)):
        argv = ["iperf3", "-c", MASTER_IP, "-t", "5"] + (["-R"] if k % 2 else [])
        out.append((t, f"iperf3 burst{' reverse' if k % 2 else ''}", argv))
    return out


def master_counters():
    """The master's request counters from its metrics (MASTER_METRICS_PORT,
    which the caller's master overrides must open): gRPC requests of every
    method and code, UDP requests of every result, and those answered."""
    text = sh("ip", "netns", "exec", MASTER_NS, "curl", "-s", "--max-time", "2",
              f"http://127.0.0.1:{MASTER_METRICS_PORT}/metrics", check=False)
    c = {"grpc": 0.0, "udp": 0.0, "udp_answered": 0.0}
    for line in text.splitlines():
        if line.startswith("timesync_master_requests_total{"):
            c["grpc"] += float(line.rsplit(" ", 1)[1])
        elif line.startswith("timesync_master_udp_requests_total{"):
            c["udp"] += float(line.rsplit(" ", 1)[1])
            if 'result="answered"' in line:
                c["udp_answered"] += float(line.rsplit(" ", 1)[1])
    return c if text else None


def run_scenario(bed, sc, duration, agents, out_dir, with_chrony, overrides=(), quiet=False,
                 probe_ms=None, calibration_ns=None, tag="", extra=None, master_overrides=(),
                 agent_plan=None, watch_segments=False, master_threads=False):
    """Runs one scenario on a fresh network; returns its result dict.
    probe_ms: pulse period of the GPIO probes (None: no probes).
    calibration_ns: per-agent calibration.offset_ns (None: the default).
    extra: called as extra(bed, work, agents, origin) once the agents run; it
    returns the Procs it started, which are stopped (SIGTERM) before the
    network goes down. Scripts that add their own workload use it.
    agent_plan: per agent {"crystal": index, "name": id, "set": [KEY=V]}
    (its crystal, name and keys after overrides); None: agent i on crystal i.
    watch_segments: the monitor also reads every agent's segment by path
    from its start (res["segments"]: every reading ever served).
    master_threads: the master's CPU split by thread (its UDP thread against
    the rest) and its request counters over the same span (needs
    metrics.listen at 127.0.0.1:MASTER_METRICS_PORT in master_overrides)."""
    work = os.path.join(out_dir, "work", sc.name + tag)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    cleanup_all()
    net = Network(agents)
    procs = []
    tracker = None
    try:
        net.up()
        write(f"{work}/master.yaml", master_yaml(master_overrides))
        target = f"{MASTER_IP}:{PROXY_PORT if sc.proxy else MASTER_PORT}"
        udp_target = f"{MASTER_IP}:{UDP_PROXY_PORT}" if sc.proxy else None
        for i in range(agents):
            path = f"{work}/agent{i + 1}.yaml"
            plan = agent_plan[i] if agent_plan else {}
            write(path, to_yaml(agent_config(i, target, sc, duration, list(overrides) + list(plan.get("set", ())),
                                             calibration_ns[i] if calibration_ns else None, udp_target,
                                             plan.get("crystal"), plan.get("name"))))
            check_config(bed.bin["agent"], path)
        master = Proc("master", MASTER_NS, [bed.bin["master"], "--config", f"{work}/master.yaml"],
                      f"{work}/master.log")
        procs.append(master)
        if sc.proxy:
            for name, argv in proxy_argvs(bed, sc.proxy):
                procs.append(Proc(name, MASTER_NS, argv, f"{work}/{name}.log"))
        if with_chrony:
            chrony_confs(work, sc)
            procs.append(Proc("chronyd-server", MASTER_NS,
                              ["chronyd", "-x", "-d", "-u", "root", "-f", f"{work}/chrony-server.conf"],
                              f"{work}/chrony-server.log"))
            if sc.proxy:
                procs.append(Proc("chrony-proxy", MASTER_NS,
                                  proxy_argv(bed, sc.proxy, f"0.0.0.0:{CHRONY_PROXY_PORT}",
                                             "127.0.0.1:123", udp=True, seed=2),
                                  f"{work}/chrony-proxy.log"))
            chrony_start_raw = time.clock_gettime_ns(time.CLOCK_MONOTONIC_RAW)
            procs.append(Proc("chronyd-client", Network.agent_ns(0),
                              ["chronyd", "-x", "-d", "-u", "root", "-f", f"{work}/chrony-client.conf"],
                              f"{work}/chrony-client.log"))
            tracker = ChronyTracker(f"{work}/chrony/chronyd.sock", 5.0)
            tracker.start()
        if sc.net:
            procs.append(Proc("iperf3-server", MASTER_NS, ["iperf3", "-s"], f"{work}/iperf3-server.log"))
        # Every simulated clock is anchored at this raw instant.
        origin = time.clock_gettime_ns(time.CLOCK_MONOTONIC_RAW)
        agent_procs = []
        agent_start_raw = [None] * agents

        def start_agent(i):
            agent_start_raw[i] = time.clock_gettime_ns(time.CLOCK_MONOTONIC_RAW)
            p = Proc(f"agent{i + 1}", Network.agent_ns(i),
                     [bed.bin["agent"], "--config", f"{work}/agent{i + 1}.yaml",
                      "--sim-origin-ns", str(origin)], f"{work}/agent{i + 1}.log")
            procs.append(p)
            return p

        for i in range(agents):
            agent_procs.append(start_agent(i))
        probe_procs = start_probes(bed, work, agents, probe_ms) if probe_ms else []
        procs += probe_procs
        extra_procs = extra(bed, work, agents, origin) if extra else []
        procs += extra_procs
        if sc.cpu:
            procs.append(Proc("stress-ng", None, ["stress-ng", "--cpu", "2", "--timeout",
                                                  f"{int(duration) + 5}s", "-q"], f"{work}/stress.log"))
        monitor = Proc("monitor", MASTER_NS,
                       truth.targets_argv(bed, work, agents, duration, origin,
                                          segments=[segment_path(i) for i in range(agents)] if watch_segments else ()),
                       f"{work}/monitor.log", stdout=open(f"{work}/monitor.txt", "w"))
        t0 = time.monotonic()
        if master_threads:
            udp_tid = thread_in_ppoll(master.p.pid)
            counters0, threads0 = master_counters(), thread_cpu_s(master.p.pid)
        cpu0 = proc_cpu_s(master.p.pid)
        events = []  # (t, label, fn)
        if sc.net:
            for t, label, argv in iperf_bursts(duration):
                events.append((t, label, lambda argv=argv: procs.append(
                    Proc("iperf3", Network.agent_ns(0), argv, f"{work}/iperf3-client.log"))))
        if sc.master_outage:
            frac, down = sc.master_outage
            t_kill = duration * frac

            def kill_master():
                master.stop(signal.SIGKILL)

            def restart_master():
                procs.append(Proc("master", MASTER_NS,
                                  [bed.bin["master"], "--config", f"{work}/master.yaml"],
                                  f"{work}/master.log"))
            events += [(t_kill, "master SIGKILL", kill_master),
                       (t_kill + down, "master restarted", restart_master)]
        if sc.agent_restart:
            frac, down = sc.agent_restart
            events += [(duration * frac, "agent1 SIGTERM", lambda: agent_procs[0].stop()),
                       (duration * frac + down, "agent1 restarted",
                        lambda: agent_procs.__setitem__(0, start_agent(0)))]
        events.sort(key=lambda e: e[0])
        timeline = []
        while monitor.alive():
            now = time.monotonic() - t0
            while events and events[0][0] <= now:
                t, label, fn = events.pop(0)
                fn()
                timeline.append({"t": round(now, 3), "event": label})
                if not quiet:
                    print(f"  [{sc.name}] t={now:5.1f} s: {label}", flush=True)
            time.sleep(0.05)
        cpu1, cpu_span_s = proc_cpu_s(master.p.pid), time.monotonic() - t0
        if master_threads:
            counters1, threads1 = master_counters(), thread_cpu_s(master.p.pid)
        monitor.stop()
        for p in extra_procs:
            p.stop()
        # Emitters first, so the observer has every pulse when it reports.
        for p in probe_procs[1:]:
            p.stop()
        if probe_procs:
            probe_procs[0].stop(timeout=30)
        if tracker:
            tracker.stop.set()
            tracker.join()
        mon = truth.load(f"{work}/monitor.json")
    finally:
        with signals_held():
            for p in reversed(procs):
                p.stop()
            net.down()
    res = {"scenario": sc.name, "title": sc.title, "duration_s": duration, "events": timeline,
           "agents": mon["agents"], "work": work, "origin_raw_ns": origin,
           "monitor_start_raw_ns": mon.get("start_raw_ns"), "agent_start_raw_ns": agent_start_raw}
    if watch_segments:
        res["segments"] = mon["segments"]
    if master_threads:
        res["master_threads"] = master_split(master.p.pid, udp_tid, threads0, threads1, counters0, counters1,
                                             cpu_span_s, not sc.master_outage)
    requests, beacons = master_served(open(f"{work}/master.log").read())
    # CPU only when one master process ran throughout (not across an outage).
    cpu_s = cpu1 - cpu0 if cpu0 is not None and cpu1 is not None and not sc.master_outage else None
    res["master"] = {"cpu_s": cpu_s, "span_s": round(cpu_span_s, 3),
                     "cpu_pct": None if cpu_s is None else 100 * cpu_s / cpu_span_s,
                     "cpu_pct_per_agent": None if cpu_s is None else 100 * cpu_s / cpu_span_s / agents,
                     "requests": requests, "beacons": beacons}
    if calibration_ns:
        res["calibration_ns"] = [int(round(c)) for c in calibration_ns]
    if probe_ms:
        res["probe"] = probe_analysis(work, mon, probe_ms, [a["agent_id"] for a in mon["agents"]])
    if with_chrony:
        offs = chrony_offsets_us(work)
        err = [e for _, e in tracker.samples]
        res["chrony"] = {"start_raw_ns": chrony_start_raw, "synced_raw_ns": tracker.synced_raw_ns,
                         "tracking": tracker.raw, "measurements": len(offs), "abs_offset_p50_us": pct(offs, 0.5),
                         "abs_offset_p99_us": pct(offs, 0.99), "abs_offset_max_us": pct(offs, 1.0),
                         "tracking_samples": len(err), "abs_err_p50_us": pct(err, 0.5),
                         "abs_err_p99_us": pct(err, 0.99), "abs_err_max_us": pct(err, 1.0)}
    return res



def master_split(pid, udp_tid, threads0, threads1, counters0, counters1, span_s, valid):
    """The master's CPU over the run split between its UDP thread (the whole
    UDP service: receive, answer, follow-up) and its gRPC side (every other
    thread but the main one, whose 10 Hz housekeeping serves neither), each
    per request that transport handled over the same span."""
    if not valid or udp_tid is None or not counters0 or not counters1:
        return None

    def delta(tid):
        return threads1.get(tid, 0.0) - threads0.get(tid, 0.0)

    tids = set(threads0) | set(threads1)
    udp_s = delta(udp_tid)
    main_s = delta(pid)
    grpc_s = sum(delta(t) for t in tids if t not in (udp_tid, pid))
    n_grpc = counters1["grpc"] - counters0["grpc"]
    n_udp = counters1["udp"] - counters0["udp"]
    return {"span_s": round(span_s, 3), "udp_thread": udp_tid, "threads": len(tids),
            "udp_cpu_s": udp_s, "grpc_cpu_s": grpc_s, "main_cpu_s": main_s,
            "grpc_requests": n_grpc, "udp_requests": n_udp,
            "udp_answered": counters1["udp_answered"] - counters0["udp_answered"],
            "grpc_us_per_request": 1e6 * grpc_s / n_grpc if n_grpc else None,
            "udp_us_per_request": 1e6 * udp_s / n_udp if n_udp else None}
