#!/usr/bin/env python3
"""Unit tests of the test bed's pure parts (configs, chrony's log, the report,
the command line) and of its refusal
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
from timesync_testbed import chrony, cli, configs, network, probes, processes, report, scenarios  # noqa: E402

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
        for cmd in ("run", "start-error"):
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
        for argv, agents in ((["run"], 2), (["start-error"], 4), (["servo-compare"], 2)):
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
        a = ap.parse_args(["--agents", "3", "--build-dir", "/b", "--set", "poll.burst=1", "servo-compare"])
        self.assertEqual((a.agents, a.build_dir, a.set), (3, "/b", ["poll.burst=1"]))
        a = ap.parse_args(["--out", "/o", "start-error", "--agents", "5", "--build-dir", "/c"])
        self.assertEqual((a.agents, a.build_dir, a.out), (5, "/c", "/o"))



if __name__ == "__main__":
    unittest.main()
