#!/usr/bin/python3
"""read_time.py: the synchronized time and its error bound, from Python.

    /usr/bin/python3 read_time.py [SEGMENT]     (Debian's python3 with python3-cffi)

Prints "TIME_NS BOUND_NS" and exits 0, or prints why there is no time and
exits 1 (timesync.Error carries the C API's error code)."""
import sys

import timesync

path = sys.argv[1] if len(sys.argv) > 1 else None
try:
    clock = timesync.Clock(path)
    t = clock.get_timestamp_with_error()
    print(t.time_ns, t.bound_ns)
except timesync.Error as e:
    print(f"read_time.py: no time: {e}", file=sys.stderr)
    sys.exit(1)
