#!/usr/bin/env python3
"""Process test of timesync-truth-monitor with --segment.

timesync-sim-publisher publishes this host's CLOCK_MONOTONIC_RAW as the
master's time with a 300 ns phase error and a ~2 us bound: the monitor (truth =
the raw clock) must count its readings as served and inside the bound. Moved
10 us off (--offset-s 1e-5) every served reading is outside its bound, and
the monitor must say so and exit 1. Both times the monitor starts before the
segment exists, so it must retry opening it and count those samples as
refused (TS_E_NO_SEGMENT), as it must count the publisher's unsynchronized
acquisition and exit (TS_E_NOT_SYNCHRONIZED).

    truth_monitor_test.py MONITOR PUBLISHER
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

MONITOR, PUBLISHER = sys.argv[1:3] if len(sys.argv) >= 3 else (None, None)


def run(offset_s):
    seg = f"/dev/shm/timesync-truth-monitor-test-{os.getpid()}"
    out = tempfile.mkdtemp()
    try:
        mon = subprocess.Popen([MONITOR, "--segment", seg, "--duration-s", "2", "--sample-us", "1000",
                                "--interval-ms", "500", "--json", f"{out}/m.json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.3)
        subprocess.run([PUBLISHER, "--path", seg, "--offset-s", str(offset_s), "--drift-ppm", "0",
                        "--acquire-s", "0.2", "--duration-s", "1.2", "--rate-hz", "20"],
                       check=True, stdout=subprocess.DEVNULL)
        stdout, stderr = mon.communicate(timeout=10)
        with open(f"{out}/m.json") as f:
            doc = json.load(f)
        return mon.returncode, doc, stdout + stderr
    finally:
        for path in (seg, seg + ".lock"):  # the writer's lock file lies beside the segment
            if os.path.exists(path):
                os.unlink(path)
        for name in os.listdir(out):
            os.unlink(os.path.join(out, name))
        os.rmdir(out)


class TruthMonitor(unittest.TestCase):
    def check_common(self, doc):
        self.assertEqual(doc["agents"], [])
        self.assertEqual(len(doc["segments"]), 1)
        s = doc["segments"][0]
        # One read per sample (a failed open counts), at ~1 kHz for 2 s.
        self.assertGreater(s["reads"], 1200)
        self.assertLessEqual(s["reads"], 2100)
        self.assertEqual(s["reads"], s["served"] + sum(s["refused"].values()))
        self.assertGreater(s["refused"].get("TS_E_NO_SEGMENT", 0), 100)
        self.assertGreater(s["refused"].get("TS_E_NOT_SYNCHRONIZED", 0), 100)
        self.assertGreater(s["served"], 500)
        self.assertGreater(s["mean_bound_all_ns"], 1900)
        self.assertLess(s["mean_bound_all_ns"], 2300)
        self.assertIsNotNone(doc["cpu_s"])
        return s

    def test_an_honest_segment(self):
        rc, doc, text = run(0)
        self.assertEqual(rc, 0, text)
        s = self.check_common(doc)
        self.assertEqual(s["violations"], 0)
        self.assertGreater(s["worst_abs_err_ns"], 200)
        self.assertLess(s["worst_abs_err_ns"], 1000)
        self.assertLess(s["worst_ratio"], 0.5)
        self.assertIsNone(s["first_outside_s"])

    def test_a_segment_outside_its_bound(self):
        rc, doc, text = run(1e-5)
        self.assertEqual(rc, 1, text)
        s = self.check_common(doc)
        self.assertEqual(s["violations"], s["served"])
        self.assertGreater(s["worst_ratio"], 3)
        self.assertGreater(s["first_outside_s"], 0.3)
        self.assertIn("truth outside the bound", text)


if __name__ == "__main__":
    if MONITOR is None:
        sys.exit(__doc__)
    unittest.main(argv=sys.argv[:1])
