"""Builds nothing, runs the examples: the C and C++ programs (built by CMake)
and the Python script, against a segment from the simulated publisher
(lab/sim-publisher), whose timeline is exact: master(t) = 1.5 s + t x (1 +
35 ppm), t the host's CLOCK_MONOTONIC_RAW. Each printed time must lie within
its bound of the truth between the instants before and after the run, and
without a segment each must fail with exit 1 and say why.

Run with Debian's /usr/bin/python3 (python3-cffi for the Python example).
Environment: READ_TIME_C, CHRONO_STAMP (the built examples), TIMESYNC_LIBRARY,
SIM_PUBLISHER."""
import os
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
OFFSET_NS, DRIFT_PPB = 1_500_000_000, 35_000


def raw_ns():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC_RAW)


def truth_ns(t):
    return OFFSET_NS + t + t * DRIFT_PPB // 1_000_000_000


def until(cond, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return False


class Examples(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="timesync-examples-")
        self.path = os.path.join(self.dir, "segment")
        self.pub = subprocess.Popen(
            [os.environ["SIM_PUBLISHER"], "--path", self.path, "--offset-s", "1.5", "--drift-ppm", "35",
             "--rate-hz", "50", "--acquire-s", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ok = until(lambda: subprocess.run([os.environ["READ_TIME_C"], self.path],
                                          capture_output=True).returncode == 0)
        self.assertTrue(ok, "the publisher's segment never served a time")
        self.env = dict(os.environ, PYTHONPATH=os.path.join(HERE, "..", "python"))

    def tearDown(self):
        self.pub.terminate()
        self.pub.wait(10)
        for f in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, f))
        os.rmdir(self.dir)

    def run_example(self, argv):
        before = raw_ns()
        r = subprocess.run(argv, capture_output=True, text=True, env=self.env, timeout=30)
        after = raw_ns()
        self.assertEqual(r.returncode, 0, r.stderr)
        return [int(x) for x in r.stdout.split()], before, after

    def assert_honest(self, t, bound, before, after):
        self.assertGreaterEqual(t + bound, truth_ns(before))
        self.assertLessEqual(t - bound, truth_ns(after))

    def test_c(self):
        (t, bound), before, after = self.run_example([os.environ["READ_TIME_C"], self.path])
        self.assert_honest(t, bound, before, after)

    def test_cpp_chrono(self):
        (t, bound, apart_us, bound_b), before, after = self.run_example(
            [os.environ["CHRONO_STAMP"], self.path])
        self.assert_honest(t, bound, before, after)
        self.assertGreaterEqual(apart_us, 20_000)  # slept 20 ms of steady time
        self.assertGreater(bound_b, 0)

    def test_python(self):
        (t, bound), before, after = self.run_example(
            ["/usr/bin/python3", os.path.join(HERE, "read_time.py"), self.path])
        self.assert_honest(t, bound, before, after)

    def test_each_says_why_without_a_segment(self):
        missing = os.path.join(self.dir, "missing")
        for argv in ([os.environ["READ_TIME_C"], missing], [os.environ["CHRONO_STAMP"], missing],
                     ["/usr/bin/python3", os.path.join(HERE, "read_time.py"), missing]):
            r = subprocess.run(argv, capture_output=True, text=True, env=self.env, timeout=30)
            self.assertEqual(r.returncode, 1, argv)
            self.assertIn("segment", r.stderr, argv)


if __name__ == "__main__":
    unittest.main(verbosity=2)
