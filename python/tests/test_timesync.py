"""The timesync Python module against a real segment, published by the
test equipment's simulated publisher (lab/sim-publisher), whose master
timeline is known exactly: master(t) = offset + t x (1 + drift), t the host's
CLOCK_MONOTONIC_RAW.

Needs Debian's /usr/bin/python3 (python3-cffi). Environment:
  TIMESYNC_LIBRARY   the libtimesync.so.0 to test
  SIM_PUBLISHER      the timesync-sim-publisher binary
"""
import os
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import timesync  # noqa: E402

OFFSET_S, DRIFT_PPM = 1.5, 35.0


def truth_ns(local_ns):
    # Exact integer arithmetic: offset + t + t x drift.
    return int(OFFSET_S * 1e9) + local_ns + local_ns * int(DRIFT_PPM * 1000) // 1_000_000_000


def until(cond, timeout_s=10.0):
    """Polls cond until it holds (bounded; never a sleep standing in for it)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return False


class WithPublisher(unittest.TestCase):
    outage = []

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="timesync-py-")
        self.path = os.path.join(self.dir, "segment")
        argv = [os.environ["SIM_PUBLISHER"], "--path", self.path, "--offset-s", str(OFFSET_S),
                "--drift-ppm", str(DRIFT_PPM), "--rate-hz", "50", "--acquire-s", "0.2"] + self.outage
        self.pub = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.assertTrue(until(lambda: os.path.exists(self.path)), "the publisher made no segment")
        self.clock = timesync.Clock(self.path)
        self.assertTrue(until(self.clock.is_synchronized), "never synchronized")

    def tearDown(self):
        self.clock.close()
        self.pub.terminate()
        self.pub.wait(10)
        for f in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, f))
        os.rmdir(self.dir)


class Reading(WithPublisher):
    def test_timestamps_lie_within_their_bound(self):
        n = 0
        for _ in range(2000):
            r = self.clock.get_timestamp_with_error()
            self.assertEqual(r.status, "synchronized")
            self.assertLessEqual(abs(r.time_ns - truth_ns(r.local_ns)), r.bound_ns, r)
            n += 1
        t = self.clock.get_timestamp()
        self.assertIsInstance(t, int)
        self.assertGreater(t, int(OFFSET_S * 1e9))
        self.assertEqual(n, 2000)

    def test_without_a_reference_utc_is_refused_with_no_utc(self):
        with self.assertRaises(timesync.NoUtc) as cm:
            self.clock.get_utc_with_error()
        self.assertEqual(cm.exception.name, "TS_E_NO_UTC")

    def test_sleep_until_wakes_at_the_synchronized_instant(self):
        target = self.clock.get_timestamp() + 50_000_000
        w = self.clock.sleep_until(target)
        self.assertEqual(w.target_ns, target)
        self.assertGreaterEqual(w.woke_ns, target)
        self.assertLess(w.woke_ns - target, 20_000_000)  # functional: not a benchmark

    def test_the_timer_fires_on_period_boundaries_in_order(self):
        ticks = []
        for tick in self.clock.timer(20_000_000):
            ticks.append(tick)
            if len(ticks) == 5:
                break
        for a, b in zip(ticks, ticks[1:]):
            self.assertEqual(b.index, a.index + 1 + b.missed)
        for t in ticks:
            self.assertEqual(t.boundary_ns % 20_000_000, 0)
            self.assertGreaterEqual(t.wake.woke_ns, t.boundary_ns)

    def test_module_functions_use_the_segment_named_in_the_environment(self):
        os.environ["TIMESYNC_SEGMENT"] = self.path
        timesync._default = None
        try:
            self.assertTrue(timesync.is_synchronized())
            r = timesync.get_timestamp_with_error()
            self.assertLessEqual(abs(r.time_ns - truth_ns(r.local_ns)), r.bound_ns)
        finally:
            del os.environ["TIMESYNC_SEGMENT"]
            timesync._default = None


class ConvertAndWait(WithPublisher):
    def test_convert_gives_a_past_monotonic_instant_within_its_bound(self):
        raw0 = time.clock_gettime_ns(time.CLOCK_MONOTONIC_RAW)
        mono = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        raw1 = time.clock_gettime_ns(time.CLOCK_MONOTONIC_RAW)
        frame = mono - 5_000_000  # a frame stamped 5 ms ago
        t = self.clock.convert(time.CLOCK_MONOTONIC, frame)
        # The frame's raw instant lies within the paired read, 5 ms earlier.
        lo, hi = truth_ns(raw0 - 5_000_000), truth_ns(raw1 - 5_000_000)
        self.assertGreaterEqual(t.time_ns + t.bound_ns, lo)
        self.assertLessEqual(t.time_ns - t.bound_ns, hi)
        self.assertGreaterEqual(t.bound_ns, 5_000)  # 5 ms of up to 1000 ppm slew
        with self.assertRaises(timesync.Error) as e:
            self.clock.convert(time.CLOCK_MONOTONIC, mono - 5_000_000_000)  # older than 1 s
        self.assertEqual(e.exception.name, "TS_E_STALE")
        with self.assertRaises(timesync.Error) as e:
            self.clock.convert(time.CLOCK_PROCESS_CPUTIME_ID, 0)
        self.assertEqual(e.exception.name, "TS_E_INVALID_ARGUMENT")

    def test_wait_synchronized_returns_a_reading_within_the_bound(self):
        t = timesync.wait_synchronized(self.path, max_error_ns=10_000_000, timeout_s=10)
        self.assertGreater(t.bound_ns, 0)
        self.assertLessEqual(t.bound_ns, 10_000_000)
        with self.assertRaises(timesync.NotSynchronized) as e:
            timesync.wait_synchronized(self.path, max_error_ns=1, timeout_s=0.2)
        self.assertEqual(e.exception.name, "TS_E_BOUND_EXCEEDED")
        with self.assertRaises(timesync.NoSegment):
            timesync.wait_synchronized(self.path + ".missing", timeout_s=0.2)


class OutOfSync(WithPublisher):
    # An outage at 0.4 s: holdover, then the bound passes the limit.
    outage = ["--outage-at-s", "0.4", "--outage-for-s", "30", "--max-error-us", "20"]

    def test_an_out_of_sync_clock_raises_with_the_error_code(self):
        def refused():
            try:
                self.clock.get_timestamp()
                return False
            except timesync.NotSynchronized as e:
                self.err = e
                return True
        self.assertTrue(until(refused))
        self.assertIn(self.err.code, (12, 13, 14))
        self.assertTrue(self.err.name.startswith("TS_E_"))
        self.assertIsInstance(self.err, timesync.Error)
        self.assertFalse(self.clock.is_synchronized())


class Utc(WithPublisher):
    # The publisher also publishes this host's CLOCK_REALTIME as UTC beside
    # its timeline (error 5 us): the truth is time.clock_gettime_ns.
    outage = ["--utc"]

    def test_utc_lies_within_its_bound_beside_the_timeline(self):
        n = 0
        for _ in range(2000):
            before = time.clock_gettime_ns(time.CLOCK_REALTIME)
            u = self.clock.get_utc_with_error()
            after = time.clock_gettime_ns(time.CLOCK_REALTIME)
            self.assertEqual(u.status, "synchronized")
            # The truth at the reading lies in [before, after].
            self.assertLessEqual(u.utc_ns, after + u.bound_ns, u)
            self.assertGreaterEqual(u.utc_ns, before - u.bound_ns, u)
            self.assertGreaterEqual(u.bound_ns, 5_000)  # the reference's error is in it
            self.assertLessEqual(abs(u.time_ns - truth_ns(u.local_ns)), u.bound_ns)
            self.assertEqual(u.tai_minus_utc_s, 37)
            self.assertIsNone(u.leap)
            self.assertTrue(u.reference_synchronized)
            n += 1
        self.assertEqual(n, 2000)


class Errors(unittest.TestCase):
    def test_a_missing_segment_raises_no_segment(self):
        with self.assertRaises(timesync.NoSegment) as cm:
            timesync.Clock("/nonexistent/timesync-segment")
        self.assertEqual(cm.exception.code, 2)
        self.assertEqual(cm.exception.name, "TS_E_NO_SEGMENT")
        self.assertIn("TS_E_NO_SEGMENT", str(cm.exception))

    def test_a_closed_clock_refuses_to_read(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "segment")
            subprocess.run([os.environ["SIM_PUBLISHER"], "--path", path, "--once"], check=True,
                           stdout=subprocess.DEVNULL)
            c = timesync.Clock(path)
            c.close()
            with self.assertRaises(ValueError):
                c.get_timestamp()


if __name__ == "__main__":
    unittest.main(verbosity=2)
