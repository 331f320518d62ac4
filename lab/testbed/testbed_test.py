#!/usr/bin/env python3
"""Unit tests of the test bed's pure parts (configs, chrony's log, the report,
the honesty command's cells and table, the command line) and of its refusal
to run without root. The namespaces themselves are exercised by the
testbed_check ctest."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from timesync_testbed import (chrony, cli, configs, failover, honesty, network, probes, processes,  # noqa: E402
                              report, scenarios, transports, truth)

ENTRY = os.path.join(HERE, "timesync-testbed")


class AgentConfig(unittest.TestCase):
    def test_yaml_has_the_crystal_and_overrides(self):
        cfg = configs.agent_config(1, "10.213.0.1:17450", scenarios.BY_NAME["drift-step"], 50,
                              ["servo.freq_time_constant_s=48", "poll.burst=1"])
        text = configs.to_yaml(cfg)
        self.assertIn('master: "10.213.0.1:17450"\n', text)
        self.assertIn("  freq_ppm: -20.0\n", text)
        self.assertIn("  step_every_s: 20.0\n  step_ppm: 5.0\n", text)
        self.assertIn("servo:\n  freq_time_constant_s: 48\n", text)
        self.assertIn("  burst: 1\n", text)

    def test_a_proxied_agent_sends_udp_through_the_udp_proxy(self):
        cfg = configs.agent_config(0, "10.213.0.1:17460", scenarios.BY_NAME["jitter"], 10, (), None,
                                   f"10.213.0.1:{network.UDP_PROXY_PORT}")
        self.assertEqual(cfg["udp"]["master"], f"10.213.0.1:{network.UDP_PROXY_PORT}")
        self.assertNotIn("udp", configs.agent_config(0, "m:1", scenarios.BY_NAME["idle"], 10))

    def test_agents_get_distinct_addresses_and_segments(self):
        a = [configs.agent_config(i, "m:1", scenarios.BY_NAME["idle"], 10) for i in range(3)]
        self.assertEqual(len({c["listen"] for c in a}), 3)
        self.assertEqual(len({c["segment"] for c in a}), 3)

    def test_many_agents_get_generated_crystals_names_and_addresses(self):
        a = [configs.agent_config(i, "m:1", scenarios.BY_NAME["idle"], 10) for i in range(configs.MAX_AGENTS)]
        self.assertEqual(len({c["listen"] for c in a}), configs.MAX_AGENTS)
        self.assertEqual(len({c["id"] for c in a}), configs.MAX_AGENTS)
        self.assertEqual(a[6]["id"], "som7")
        self.assertEqual(a[configs.MAX_AGENTS - 1]["listen"], f"10.213.0.{10 + configs.MAX_AGENTS}:{network.AGENT_PORT}")
        crystals = [configs.crystal(i) for i in range(configs.MAX_AGENTS)]
        self.assertEqual(crystals, [configs.crystal(i) for i in range(configs.MAX_AGENTS)])  # replayable
        self.assertEqual(len(set(crystals)), configs.MAX_AGENTS)
        for freq, offset in crystals[6:]:
            self.assertLessEqual(abs(freq), 50)
            self.assertLessEqual(abs(offset), 5)


class MasterConfig(unittest.TestCase):
    def test_overrides_and_the_exit_line(self):
        text = configs.master_yaml(["beacon.rate_hz=50", "beacon.max_streams=8"])
        self.assertIn("beacon:\n  rate_hz: 50\n  max_streams: 8\n", text)
        self.assertIn("role: master\n", text)
        self.assertIn(f'udp:\n  listen: "0.0.0.0:{network.MASTER_UDP_PORT}"\n', text)
        tcp, udp = configs.proxy_argvs(type("B", (), {"bin": {"proxy": "p"}})(), {"delay_up_ms": 1})
        self.assertEqual(tcp[1][:5], ["p", "--listen", f"0.0.0.0:{network.PROXY_PORT}", "--connect",
                                      f"127.0.0.1:{network.MASTER_PORT}"])
        self.assertEqual(udp[1][4], f"127.0.0.1:{network.MASTER_UDP_PORT}")
        self.assertIn("--udp", udp[1])
        self.assertEqual(tcp[1][-2:], ["--delay-up-ms", "1"])
        log = ("x\n[timesync-master] stopped after 1 requests, 2 beacons, 0 timeline steps\n"
               "[timesync-master] stopped after 120 requests, 4800 beacons, 0 timeline steps\n")
        self.assertEqual(processes.master_served(log), (120, 4800))
        self.assertEqual(processes.master_served("killed"), (None, None))
        self.assertIsNotNone(processes.proc_cpu_s(os.getpid()))


class ProbeAnalysis(unittest.TestCase):
    """Synthetic run: the agent's true error is +30 us (it runs ahead), so its
    pulses leave 30 us before each boundary; the master's leave on time."""

    def test_probe_and_truth_line_up_with_the_documented_signs(self):
        work = tempfile.mkdtemp()
        try:
            P, start = 10_000_000, 5_000_000_000
            with open(f"{work}/edges.jsonl", "w") as f:
                for k in range(1, 101):
                    f.write(f'{{"line": "master", "t": {start + k * P + 100}}}\n')
                    f.write(f'{{"line": "camera", "t": {start + k * P - 30_000 + 200}}}\n')
            with open(f"{work}/trace.jsonl", "w") as f:
                for k in range(0, 30):  # every 20 ms until 0.58 s, e = +30 us
                    f.write(f'{{"k":"r","t":{k * 0.02:.6f},"a":0,"e":30000,"b":90000}}\n')
            pair = {"a": "master", "b": "camera", "count": 100, "unmatched": 0, "mean_ns": -29900.0,
                    "std_ns": 0.0, "p50_ns": -29900, "p99_ns": -29900, "max_abs_ns": 29900}
            with open(f"{work}/probe.json", "w") as f:
                json.dump({"pairs": [pair]}, f)
            out = probes.probe_analysis(work, {"start_raw_ns": start}, 10, ["camera"])
            a = out["agents"][0]
            self.assertAlmostEqual(a["probe"]["mean_us"], -29.9)
            self.assertAlmostEqual(a["truth_at_edges"]["mean_us"], -30.0)
            # Edges after the trace's last reading (0.58 s) have no truth.
            self.assertEqual(a["truth_at_edges"]["n"], 58)
            self.assertAlmostEqual(a["probe_minus_truth"]["mean_us"], 0.2)
            self.assertAlmostEqual(out["master_grid"]["mean_us"], 0.1)
            self.assertEqual(probes.probe_failures({"probe": out}, 1.0), [])
            a["probe_minus_truth"]["p50_us"] = 1.5
            self.assertIn("median 1.500 us", probes.probe_failures({"probe": out}, 1.0)[0])
            a["probe_minus_truth"]["p50_us"] = 0.5
            a["probe"]["mean_us"] = -36.0  # 6 us from the truth: beyond 5 us + std / 4 (std 0)
            self.assertIn("probe mean -36.00 us vs truth -30.00 us (limit 5.0 us)",
                          probes.probe_failures({"probe": out}, 1.0)[0])
        finally:
            shutil.rmtree(work)


class ChronyLog(unittest.TestCase):
    def test_offsets_come_from_column_twelve(self):
        work = tempfile.mkdtemp()
        try:
            os.makedirs(f"{work}/chrony")
            with open(f"{work}/chrony/measurements.log", "w") as f:
                f.write("=" * 40 + "\n   Date (UTC) Time     IP Address   L St 123 567 ABCD  LP RP Score"
                        "    Offset  Peer del. Peer disp.  Root del. Root disp. Refid     MTxRx\n")
                f.write("2026-11-21 09:00:00 10.213.0.1      N  1 111 111 1111  -2 -2 1.0 "
                        "-4.500e-06  5.0e-05  1.0e-06  0.0e+00  1.0e-06 7F7F0101 4B D K\n")
                f.write("2026-11-21 09:00:01 10.213.0.1      N  1 111 111 1111  -2 -2 1.0 "
                        " 2.000e-06  5.0e-05  1.0e-06  0.0e+00  1.0e-06 7F7F0101 4B D K\n")
            self.assertEqual([round(x, 3) for x in chrony.chrony_offsets_us(work)], [4.5, 2.0])
        finally:
            shutil.rmtree(work)


class Report(unittest.TestCase):
    def test_markdown_row_per_agent_with_chrony_once(self):
        agent = {"agent_id": "camera", "time_to_sync_s": 0.3, "abs_err_p50_ns": 7000,
                 "abs_err_p99_ns": 40000, "abs_err_max_ns": 50000, "violations": 0, "served": 100,
                 "mean_bound_ns": 150000, "polls_per_s": 1.5, "freq_ppm": 20.05, "freq_truth_ppm": 20.0}
        res = {"scenario": "idle", "agents": [agent, dict(agent, agent_id="sensor")],
               "chrony": {"abs_offset_p50_us": 1.7, "abs_offset_p99_us": 21.1, "measurements": 9,
                          "abs_err_p50_us": 30.5, "abs_err_p99_us": 80.25}}
        rows = report.markdown([res]).splitlines()
        self.assertEqual(len(rows), 4)
        self.assertIn("| idle | camera | 0.30 | 7.0 / 40.0 / 50.0 | 0 of 100 | 150.0 | 1.50 | 0.050 | "
                      "30.5 / 80.2 | 1.7 / 21.1 (n=9) |", rows[2])
        self.assertTrue(rows[3].startswith("|  | sensor |"))
        self.assertTrue(rows[3].endswith("|  |  |"))


class Refusals(unittest.TestCase):
    def test_refuses_without_root(self):
        # As root, drop to nobody; otherwise this user already is not root.
        # (The system python: a per-user interpreter under /root is not nobody's.)
        for cmd in ("run", "honesty"):
            argv = [sys.executable, ENTRY, cmd]
            if os.geteuid() == 0:
                argv = ["runuser", "-u", "nobody", "--", "/usr/bin/python3", "-B", ENTRY, cmd]
            r = subprocess.run(argv, capture_output=True, text=True)
            self.assertEqual(r.returncode, 77, r.stderr)
            self.assertIn("needs root", r.stderr)

    def test_list_needs_no_root(self):
        r = subprocess.run([sys.executable, ENTRY, "list"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        self.assertEqual(len(r.stdout.splitlines()), len(scenarios.SCENARIOS))


class CommandLine(unittest.TestCase):
    def test_every_family_has_its_command_and_defaults(self):
        ap = cli.parser()
        for argv, agents in ((["run"], 2), (["start-error"], 4), (["honesty"], 8), (["servo-compare"], 2),
                             (["transports"], 4), (["failover"], 2)):
            a = ap.parse_args(argv)
            self.assertIsNone(a.agents)
            self.assertEqual(a.default_agents, agents, argv)
        a = ap.parse_args(["start-error", "--methods", "run,seed", "--period", "10ms"])
        self.assertEqual(a.period_ns, 10_000_000)
        self.assertEqual(a.lock_wait, 1800)
        a = ap.parse_args(["servo-compare", "--variant", "k:servo.type=kalman,servo.kalman.q=1"])
        self.assertEqual(a.variant, [("k", ["servo.type=kalman", "servo.kalman.q=1"])])

    def test_common_options_before_or_after_the_command(self):
        ap = cli.parser()
        a = ap.parse_args(["--agents", "3", "--build-dir", "/b", "--set", "poll.burst=1", "honesty"])
        self.assertEqual((a.agents, a.build_dir, a.set), (3, "/b", ["poll.burst=1"]))
        a = ap.parse_args(["--out", "/o", "start-error", "--agents", "5", "--build-dir", "/c"])
        self.assertEqual((a.agents, a.build_dir, a.out), (5, "/c", "/o"))
        a = ap.parse_args(["honesty", "--seeds", "1", "--modes", "pll", "--impairments", "idle,storm",
                           "--duration", "15", "--storm-agents", "12", "--sample-us", "500"])
        self.assertEqual((a.seeds, a.modes, a.impairments, a.duration, a.storm_agents, a.sample_us),
                         (1, "pll", "idle,storm", 15.0, 12, 500))


class Honesty(unittest.TestCase):
    def cfg(self, seed, i, mode="pll", imp="idle", duration=30, per_som=4, sets=()):
        net = network.Network(50, per_som=per_som)
        return honesty.agent_config(seed, i, honesty.MODES[mode], honesty.BY_NAME[imp], duration, net,
                                    "10.213.0.1:17450", sets)

    def test_crystals_are_replayable_and_in_range(self):
        c = [honesty.crystal(s, i)[1] for s in (1, 2) for i in range(40)]
        self.assertEqual(c, [honesty.crystal(s, i)[1] for s in (1, 2) for i in range(40)])
        self.assertEqual(len({(x["freq_ppm"], x["initial_offset_s"]) for x in c}), 80)
        for x in c:
            self.assertLessEqual(abs(x["freq_ppm"]), 50)
            self.assertLessEqual(abs(x["initial_offset_s"]), 0.5)
        # The same crystal in every mode and impairment of a seed.
        for mode in honesty.MODES:
            for imp in honesty.BY_NAME:
                sim = self.cfg(3, 7, mode, imp)["sim_clock"]
                self.assertEqual(sim["freq_ppm"], honesty.crystal(3, 7)[1]["freq_ppm"])

    def test_agent_keys_modes_impairments_and_overrides(self):
        cfg = self.cfg(1, 5)
        self.assertEqual(cfg["listen"], f"10.213.0.12:{network.AGENT_PORT + 1}")
        self.assertEqual(cfg["segment"], "/dev/shm/timesync-tsb-a6")
        self.assertEqual((cfg["poll"]["min_s"], cfg["poll"]["max_s"], cfg["poll"]["rpc_timeout_s"]),
                         ("0.05", "1", "0.5"))
        self.assertEqual((cfg["alarm"]["max_error_us"], cfg["alarm"]["void_after_s"]), ("2000", "10"))
        self.assertEqual(cfg["sim_clock"]["wander_ppb_per_sqrt_s"], 2)
        self.assertEqual((cfg["servo"]["type"], cfg["transport"]), ("pll", "grpc"))
        self.assertEqual(self.cfg(1, 0, "udp")["transport"], "udp")
        self.assertEqual(cli.parser().parse_args(["honesty"]).modes, "pll,kalman,beacon")
        self.assertEqual(self.cfg(1, 0, "kalman")["servo"]["type"], "kalman")
        b = self.cfg(1, 0, "beacon")
        self.assertEqual((b["beacon"]["enabled"], b["beacon"]["calibrate_every_s"]), ("true", "2"))
        self.assertEqual(honesty.MODES["beacon"].master, ("beacon.enabled=true", "beacon.rate_hz=20"))
        self.assertEqual(self.cfg(1, 0, "pll", "storm")["poll"]["max_s"], "0.2")
        self.assertEqual(self.cfg(1, 0, sets=["poll.max_s=4"])["poll"]["max_s"], "4")
        self.assertEqual(self.cfg(1, 0, "pll", "wander")["sim_clock"]["wander_ppb_per_sqrt_s"], 500)
        signs = set()
        for i in range(20):
            s = self.cfg(2, i, "pll", "thermal-step")["sim_clock"]
            self.assertEqual(s["step_every_s"], 12.0)
            signs.add(s["step_ppm"])
            r = self.cfg(2, i, "pll", "thermal-ramp", duration=12)["sim_clock"]
            self.assertEqual(abs(r["step_ppm"]), 30)
            self.assertLessEqual(r["step_ramp_s"], r["step_every_s"])
        self.assertEqual(signs, {20, -20})
        self.assertIn("step_every_s: 12.0\n", configs.to_yaml(self.cfg(2, 0, "pll", "thermal-step")))

    def test_proxy_schedules(self):
        self.assertEqual(honesty.BY_NAME["delay-step"].proxy(30)["schedule"],
                         "12.000:2:0.3:0,22.500:0.1:0.1:0")
        self.assertEqual(honesty.BY_NAME["loss-burst"].proxy(30)["schedule"],
                         "8:0.1:0.1:1,9.5:0.1:0.1:0,16:0.1:0.1:1,17.5:0.1:0.1:0,24:0.1:0.1:1,25.5:0.1:0.1:0")
        self.assertNotIn("schedule", honesty.BY_NAME["loss-burst"].proxy(7))

    def test_several_agents_per_som(self):
        net = network.Network(10, per_som=4)
        self.assertEqual(net.soms, 3)
        self.assertEqual([net.ns(i) for i in (0, 3, 4, 9)], ["tsb-som1", "tsb-som1", "tsb-som2", "tsb-som3"])
        self.assertEqual([net.port(i) for i in (0, 3, 4)], [network.AGENT_PORT, network.AGENT_PORT + 3,
                                                             network.AGENT_PORT])
        self.assertEqual(net.ip(9), "10.213.0.13")
        self.assertEqual(len({(net.ip(i), net.port(i)) for i in range(10)}), 10)

    @staticmethod
    def segment(served, outside, ratio, err_ns, bound_ns, refused=None):
        return {"segment": "s", "reads": served + sum((refused or {}).values()), "served": served,
                "violations": outside, "worst_excess_ns": 500.0 if outside else 0, "first_outside_s": 3.25
                if outside else None, "worst_ratio": ratio, "worst_ratio_s": 4.5, "worst_abs_err_ns": err_ns,
                "mean_bound_all_ns": bound_ns, "refused": refused or {}}

    def test_cells_totals_and_the_table(self):
        net = network.Network(2, per_som=4)
        mon = {"duration_s": 10.0, "segments": [
            self.segment(9000, 0, 0.5, 40_000, 100_000, {"TS_E_NOT_SYNCHRONIZED": 1000}),
            self.segment(1000, 3, 1.25, 250_000, 200_000, {"TS_E_NOT_SYNCHRONIZED": 8000,
                                                           "TS_E_NO_SEGMENT": 1000})]}
        a = honesty.summarize_cell(1, "pll", "storm", 2, 10, mon, net, [], "/w")
        self.assertEqual((a["served"], a["outside"], a["worst_ratio"], a["worst_abs_err_us"]),
                         (10000, 3, 1.25, 250.0))
        self.assertAlmostEqual(a["mean_bound_us"], 110.0)  # weighted by readings served
        self.assertEqual(a["refused"], {"TS_E_NOT_SYNCHRONIZED": 9000, "TS_E_NO_SEGMENT": 1000})
        self.assertEqual(a["samples_per_s_per_agent"], 1000.0)
        b = honesty.summarize_cell(2, "pll", "storm", 2, 10, {"duration_s": 10.0, "segments": [
            self.segment(30000, 0, 0.25, 10_000, 50_000)] * 2}, net, [], "/w")
        bad = honesty.violations([a, b])
        self.assertEqual(len(bad), 1)
        self.assertIn("seed 1 / pll / storm: a2 (tsb-som1): 3 readings outside the bound, first at 3.250 s, "
                      "worst |error|/bound 1.250 at 4.500 s", bad[0])
        t = honesty.totals([a, b])
        self.assertEqual(len(t), 1)
        self.assertEqual((t[0]["cells"], t[0]["served"], t[0]["outside"]), (2, 70000, 3))
        self.assertAlmostEqual(t[0]["mean_bound_us"], (10000 * 110 + 60000 * 50) / 70000)
        md = honesty.markdown([a, b]).splitlines()
        self.assertIn("| 1 | pll | storm | 2 | 10,000 | 3 | 1.250 | 250.0 | 110.0 | 10,000 |", md)
        self.assertTrue(md[-1].startswith("| **all** | | 2 | 70,000 | 3 | 1.250 | 250.0 |"))

    def test_pooled_ignores_segments_that_served_nothing(self):
        p = truth.pooled([self.segment(0, 0, None, None, None, {"TS_E_NO_SEGMENT": 5})])
        self.assertEqual((p["served"], p["worst_ratio"], p["mean_bound_us"], p["reads"]), (0, None, None, 5))


class Transports(unittest.TestCase):
    """The three-column command's pure parts on a synthetic run."""

    def test_plan_runs_the_same_crystals_on_both_paths(self):
        plan = transports.agent_plan(2, 2)
        self.assertEqual([(p["path"], p["crystal"], p["name"]) for p in plan],
                         [("grpc", 0, "grpc-camera"), ("grpc", 1, "grpc-sensor"),
                          ("udp", 0, "udp-camera"), ("udp", 1, "udp-sensor")])
        a = [configs.agent_config(i, "m:1", scenarios.BY_NAME["idle"], 10, p["set"], None, None, p["crystal"],
                                  p["name"]) for i, p in enumerate(plan)]
        self.assertEqual(a[0]["sim_clock"], a[2]["sim_clock"])
        self.assertEqual((a[2]["id"], a[2]["transport"]), ("udp-camera", "udp"))
        self.assertEqual(len({c["listen"] for c in a} | {c["segment"] for c in a}), 8)
        a = cli.parser().parse_args(["transports", "--udp-agents", "3", "--no-chrony"])
        self.assertEqual((a.default_agents, a.grpc_agents, a.udp_agents, a.no_chrony), (4, 2, 3, True))

    def test_bound_under_50us_and_frequency_after_the_step(self):
        s = 1_000_000_000
        # The monitor started 0.2 s after the agent; bound under 50 us at trace t = 0.6.
        readings = [(0.4, 100, 400_000), (0.5, 100, 60_000), (0.6, 100, 40_000), (0.7, 100, 70_000)]
        self.assertAlmostEqual(transports.first_bound_under(readings, 50_000, 10 * s, 10 * s + s // 5), 0.8)
        self.assertIsNone(transports.first_bound_under(readings[:2], 50_000, 0, 0))
        status = [{"t": t, "freq": f, "freq_truth": ft} for t, f, ft in
                  [(9.5, 20.0, 20.0), (10.5, 21.0, 25.0), (20.0, 24.95, 25.0), (30.0, 24.5, 25.0),
                   (31.0, 24.97, 25.0), (32.0, 25.02, 25.0), (40.0, 24.0, 20.0)]]
        r = transports.freq_after_step(status, 10.0, 20.0)
        self.assertAlmostEqual(r["abs_err_ppm"], 0.5)
        self.assertAlmostEqual(r["at_s"], 20.0)
        self.assertAlmostEqual(r["within_0_1_ppm_after_s"], 21.0)  # until the truth steps back

    def test_summary_table_and_master_split(self):
        s = 1_000_000_000
        seg = {"abs_err_p50_ns": 1000, "abs_err_p99_ns": 4000, "abs_err_max_ns": 5000, "served": 900,
               "violations": 0, "worst_ratio": 0.4, "mean_bound_ns": 12000}
        agent = {"time_to_sync_s": 0.3, "violations": 0, "freq_ppm": 20.01, "freq_truth_ppm": 20.0}
        tracking = [(s + k * s // 4, (-1) ** k * 2.0, 10.0) for k in range(40)] + [(11 * s, 30.0, 10.0)]
        res = {"scenario": "idle", "title": "t", "duration_s": 10, "events": [], "work": "/w",
               "origin_raw_ns": 0, "monitor_start_raw_ns": 0, "agent_start_raw_ns": [0, 0],
               "segments": [seg, dict(seg, abs_err_p99_ns=8000)], "agents": [agent, agent],
               "master": {"cpu_pct": 1.0},
               "master_threads": scenarios.master_split(7, 9, {7: 1.0, 8: 2.0, 9: 3.0}, {7: 1.5, 8: 2.2, 9: 3.1},
                                                        {"grpc": 10, "udp": 100, "udp_answered": 99},
                                                        {"grpc": 110, "udp": 1100, "udp_answered": 1099}, 10, True),
               "chrony": {"start_raw_ns": 0, "synced_raw_ns": s, "tracking": tracking,
                          "abs_offset_p50_us": 1, "abs_offset_p99_us": 2}}
        plan = transports.agent_plan(1, 1)
        trace = {"seg": {1: [(0.1, 10, 30_000)]}, "status": {}}
        row = transports.summarize(res, plan, trace, False)
        m = row["master_threads"]
        self.assertAlmostEqual(m["grpc_us_per_request"], 2000.0)   # 0.2 s over 100 requests
        self.assertAlmostEqual(m["udp_us_per_request"], 100.0)     # 0.1 s over 1000
        self.assertEqual((row["agents"][1]["bound_under_50us_s"], row["agents"][0]["bound_under_50us_s"]),
                         (0.1, None))
        self.assertAlmostEqual(row["agents"][1]["bound_over_p99"], 1.5)
        c = row["chrony"]
        self.assertEqual((c["time_to_sync_s"], c["p50_us"], c["outside_own_bound"]), (1.0, 2.0, 1))
        self.assertEqual(transports.path_worst(row, "udp", "p99_us"), 8.0)
        md = transports.markdown([row]).splitlines()
        self.assertIn("| idle | grpc | grpc-camera | 0.30 | - | 1.0 / 4.0 / 5.0 | 0 of 900 | 12.0 | 3.00 |", md)
        self.assertIn("| | chrony | chronyd -x | 1.00 | - | 2.0 / 2.0 / 30.0 | 1 of 41 (own bound) | 10.0 | 5.00 |", md)
        self.assertIn("| idle | 10.0 | 2000.0 | 100.0 | 100.0 | 1.00 | - |", md)
        self.assertIsNone(scenarios.master_split(7, None, {}, {}, None, None, 10, True))


class Failover(unittest.TestCase):
    """The hot-standby scenarios' pure parts: configurations, the agent
    log's switches, the windows and the targets on a synthetic run."""

    def args(self, *argv):
        return cli.parser().parse_args(["failover", *argv])

    def test_configs_list_both_masters_and_the_standby_follows_the_primary(self):
        a = self.args("--hold-down", "12")
        with tempfile.TemporaryDirectory() as d:
            masters, agents = failover.configs(d, 2, a)
            with open(masters[1]) as f:
                standby = f.read()
            with open(agents[1]) as f:
                agent = f.read()
        self.assertIn('of: "10.213.0.1:17450"', standby)
        self.assertIn("max_error_us: 10000", standby)
        self.assertIn("id: coordinator", standby)  # the primary's id: its timeline
        self.assertIn('master: ["10.213.0.1:17450", "10.213.0.2:17450"]', agent)
        self.assertIn("hold_down_s: 12", agent)
        self.assertIn("failures_to_switch: 2", agent)
        self.assertEqual(network.Network.link_of(network.STANDBY_NS), "tsb-bh")
        self.assertEqual(network.Network.link_of(network.MASTER_NS), "tsb-mh")
        self.assertEqual(network.Network.link_of(network.som_ns(2)), "tsb-s3h")

    def test_plan_leaves_room_for_the_hold_down(self):
        a = self.args("--before", "10", "--cut-s", "20", "--hold-down", "30", "--probe-every", "4", "--after", "5")
        events, span = failover.plan("partition", a)
        self.assertEqual([(t, act) for t, _, act in events], [(10, "cut"), (30, "restore")])
        self.assertEqual(span, 30 + 30 + 4 + 5)
        events, span = failover.plan("failover", a)
        self.assertEqual(([act for _, _, act in events], span), (["kill"], 10 + 4 + 5))
        with self.assertRaises(ValueError):
            failover.plan("nothing", a)

    def test_agent_log_switches_in_monitor_seconds(self):
        log = ("2026-11-29T12:00:10.500000Z timesync-agent[1] WARNING: exchange with 10.213.0.1:17450 failed: "
               "UDP 10.213.0.1:17452: recvmsg: Connection refused; holding over\n"
               "not a log line\n"
               "2026-11-29T12:00:10.600000Z timesync-agent[1] WARNING: following master 10.213.0.2:17450 "
               "instead of 10.213.0.1:17450: 2 exchanges in a row failed (x)\n"
               "2026-11-29T12:00:14.000000Z timesync-agent[1] WARNING: ALARM raised: out of sync: error bound "
               "5041.248 us exceeds max_error 5000.000 us; timestamps are refused\n")
        rt = failover.log_stamp_ns("2026-11-29T12:00:00.000000Z")
        ev = failover.agent_log_events(log, rt - 1000 * 10**9, 1000 * 10**9 + 10**9)  # monitor 1 s later
        self.assertEqual([(e["kind"], round(e["t"], 6)) for e in ev],
                         [("failed", 9.5), ("follow", 9.6), ("alarm", 13.0)])
        self.assertEqual((ev[0]["target"], ev[1]["to"], ev[1]["from"]),
                         (failover.PRIMARY, failover.STANDBY, failover.PRIMARY))
        self.assertTrue(ev[2]["why"].startswith("out of sync: error bound"))

    def synthetic(self, after_err_ns, refused, alarm_why=None):
        # Readings every 0.1 s for 40 s, error 1 us before t = 20 (the kill), after_err_ns from the switch.
        readings = {0: [(k / 10, 1000 if k < 200 else after_err_ns, 5000) for k in range(400)]}
        status = {0: [{"k": "s", "t": k / 2, "a": 0, "poll": 1.0, "alarm": False} for k in range(80)]}
        log = [{"t": 20.4, "kind": "failed", "target": failover.PRIMARY},
               {"t": 21.3, "kind": "follow", "to": failover.STANDBY, "from": failover.PRIMARY}]
        if alarm_why:
            log.append({"t": 30.0, "kind": "alarm", "why": alarm_why})
        res = {"scenario": "failover", "title": "t", "span_s": 40, "ready_s": 1.0, "work": "/w",
               "events": [{"t": 20.0, "event": "primary SIGKILL"}], "max_error_us": 5000.0,
               "master_errors": [(t, failover.STANDBY, 2000 + max(0, t - 20) * 1000) for t in range(40)],
               "monitor": {"agents": [{"agent_id": "camera", "served": 1000, "violations": 0, "reads": 1000 + refused,
                                       "refused": {"TS_E_NOT_SYNCHRONIZED": refused} if refused else {}}]},
               "epochs_before": [1], "epochs_after": [1], "logs": [log]}
        return failover.summarize(res, readings, status, 10)

    def test_targets_met_and_missed(self):
        row = self.synthetic(1500, 0)
        a = row["agents"][0]
        self.assertAlmostEqual(a["switch_after_event_s"], 1.3)
        self.assertAlmostEqual(a["switch_after_first_failure_s"], 0.9)
        self.assertEqual((a["before"]["n"], a["after"]["n"]), (100, 187))  # after: switch to the end
        self.assertAlmostEqual(a["p99_ratio"], 1.5)
        self.assertEqual(a["targets"], {"no_refused_under_limit": True, "none_outside": True,
                                        "switch_within_2_polls": True, "error_after_within_2x": True})
        self.assertAlmostEqual(row["standby_error_growth_us_per_s"], 1.0)
        self.assertEqual((row["standby_error_before_us"], row["standby_served_alone_until_s"],
                          row["standby_error_last_us"]), (2.0, 19, 21.0))
        # Not serving (error 0) is left out of the growth and of "served until".
        sv = failover.standby_service([(t, failover.STANDBY, 0 if t > 30 else 1000 * t) for t in range(40)], 20, None)
        self.assertEqual((round(sv["standby_error_growth_us_per_s"], 6), sv["standby_served_alone_until_s"]), (1.0, 10))
        # Three times the error after, reads refused without a bound alarm: both missed.
        a = self.synthetic(3000, 7, alarm_why="out of sync: master unreachable for 3.0 s")["agents"][0]
        self.assertEqual((a["targets"]["error_after_within_2x"], a["targets"]["no_refused_under_limit"]),
                         (False, False))
        # Refused once the bound passed max_error: what the target allows.
        a = self.synthetic(1000, 7, alarm_why="out of sync: error bound 5041.2 us exceeds max_error 5000.0 us"
                           )["agents"][0]
        self.assertTrue(a["targets"]["no_refused_under_limit"])
        self.assertAlmostEqual(a["alarm_after_switch_s"], 8.7)
        md = failover.markdown([self.synthetic(1500, 0)])
        self.assertIn("| failover | camera | 1.00 | 0.40 | 1.30 / 0.90 | - | 1.0 / 1.0 | 1.5 / 1.5 |", md)
        self.assertIn("| failover | camera | met | met | met | met (1.50) |", md)


if __name__ == "__main__":
    unittest.main()
