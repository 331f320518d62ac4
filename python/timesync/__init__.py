"""timesync: the synchronized clock of a timesync agent, for Python 3.

Reads the shared segment the agent publishes (``/dev/shm/timesync`` by
default) through libtimesync's C API, lock-free, no RPC::

    import timesync
    t = timesync.get_timestamp()                 # ns on the master's timeline
    r = timesync.get_timestamp_with_error()      # .time_ns, .bound_ns, .status, .epoch
    u = timesync.get_utc_with_error()            # .utc_ns, .bound_ns, .leap, .tai_minus_utc_s
    with timesync.Clock("/dev/shm/timesync") as clock:
        clock.sleep_until(t + 1_000_000_000)     # wakes at a synchronized instant
        for tick in clock.timer(100_000_000):    # every 100 ms boundary
            ...

Every failure raises ``timesync.Error`` (or a subclass) carrying the C error
code (``.code``, ``.name``): the library never returns a time it cannot vouch
for.

Binding: cffi in ABI mode over ``libtimesync.so.0``. It needs no compiler and
no build per Python version (the package is architecture-independent and
depends on libtimesync0), it follows the C ABI, which is versioned, and cffi
releases the GIL during the calls, so sleeping threads do not block others.
A call costs about a microsecond more than from C; applications that read the
clock millions of times a second should use C or C++.

Set ``TIMESYNC_LIBRARY`` to load another copy of the library (tests do).
"""
import collections
import os
import time

from cffi import FFI

__all__ = [
    "Clock", "Error", "NotSynchronized", "NoSegment", "NoUtc", "Timestamp", "Utc", "Wake", "Tick",
    "get_timestamp", "get_timestamp_with_error", "get_utc_with_error", "is_synchronized",
    "sleep_until", "timer",
    "convert", "wait_synchronized",
    "DEFAULT_SEGMENT_PATH", "UNSYNCHRONIZED", "SYNCHRONIZED", "HOLDOVER",
]

_ffi = FFI()
_ffi.cdef("""
typedef int ts_error;
typedef int ts_status;
typedef struct ts_timestamp {
  int64_t time_ns; uint64_t bound_ns; int64_t local_ns; uint64_t epoch; ts_status status;
  uint32_t reserved;
} ts_timestamp;
typedef struct ts_context ts_context;
ts_error ts_open(const char* path, ts_context** out);
void ts_close(ts_context* ctx);
ts_error ts_get_timestamp(const ts_context* ctx, int64_t* time_ns);
ts_error ts_get_timestamp_with_error(const ts_context* ctx, ts_timestamp* out);
int ts_is_synchronized(const ts_context* ctx);
const char* ts_strerror(ts_error err);
typedef struct ts_sleep_options {
  int64_t chunk_ns; int64_t final_ns; int64_t spin_ns; uint64_t max_error_ns;
  int on_epoch_change; uint32_t reserved0; const int* stop_flag; uint64_t reserved[4];
} ts_sleep_options;
void ts_sleep_options_init(ts_sleep_options* opts);
typedef struct ts_wake {
  int64_t target_ns; int64_t woke_ns; uint64_t bound_ns; int64_t local_ns; uint64_t epoch;
} ts_wake;
ts_error ts_sleep_until(const ts_context* ctx, int64_t target_ns, const ts_sleep_options* opts,
                        ts_wake* out);
typedef struct ts_timer ts_timer;
typedef struct ts_tick { int64_t index; int64_t boundary_ns; uint64_t missed; ts_wake wake; } ts_tick;
ts_error ts_timer_create(const ts_context* ctx, int64_t period_ns, int64_t offset_ns,
                         const ts_sleep_options* opts, ts_timer** out);
ts_error ts_timer_wait_next(ts_timer* timer, ts_tick* out);
void ts_timer_destroy(ts_timer* timer);
ts_error ts_wait_synchronized(const char* path, uint64_t max_error_ns, int64_t timeout_ns,
                              const int* stop_flag, ts_timestamp* out);
ts_error ts_convert(const ts_context* ctx, int clock_id, int64_t instant_ns, int64_t max_age_ns,
                    uint64_t max_slew_ppb, ts_timestamp* out);
typedef struct ts_utc {
  int64_t utc_ns; uint64_t bound_ns; int64_t time_ns; int64_t local_ns; uint64_t epoch;
  ts_status status; int leap; int32_t tai_minus_utc_s; uint32_t flags;
} ts_utc;
ts_error ts_get_utc_with_error(const ts_context* ctx, ts_utc* out);
""")
_lib = _ffi.dlopen(os.environ.get("TIMESYNC_LIBRARY") or "libtimesync.so.0")

DEFAULT_SEGMENT_PATH = "/dev/shm/timesync"
UNSYNCHRONIZED, SYNCHRONIZED, HOLDOVER = 0, 1, 2
_STATUS_NAMES = {0: "unsynchronized", 1: "synchronized", 2: "holdover"}

# The C error codes by name (timesync.h).
_ERROR_NAMES = {
    1: "TS_E_INVALID_ARGUMENT", 2: "TS_E_NO_SEGMENT", 3: "TS_E_PERMISSION", 4: "TS_E_IO",
    5: "TS_E_TRUNCATED", 6: "TS_E_BAD_MAGIC", 7: "TS_E_BAD_VERSION", 8: "TS_E_SIZE_MISMATCH",
    9: "TS_E_NOT_INITIALIZED", 10: "TS_E_BUSY", 11: "TS_E_CORRUPT", 12: "TS_E_NOT_SYNCHRONIZED",
    13: "TS_E_STALE", 14: "TS_E_BOUND_EXCEEDED", 15: "TS_E_CLOCK", 16: "TS_E_WRITER_EXISTS",
    17: "TS_E_NO_MEMORY", 18: "TS_E_EPOCH_CHANGED", 19: "TS_E_INTERRUPTED",
    20: "TS_E_NOT_REGULAR", 21: "TS_E_SYMLINK", 22: "TS_E_HARD_LINK", 23: "TS_E_WRONG_OWNER",
    24: "TS_E_NO_UTC",
}


class Error(Exception):
    """A libtimesync error: .code is the C ts_error value, .name its name."""

    def __init__(self, code):
        self.code = int(code)
        self.name = _ERROR_NAMES.get(self.code, "TS_E_%d" % self.code)
        super().__init__("%s: %s" % (self.name, _ffi.string(_lib.ts_strerror(code)).decode()))


class NotSynchronized(Error):
    """The clock cannot vouch for a time now: out of sync, stale, or its bound too large."""


class NoSegment(Error):
    """No segment at the path: is timesync-agent running?"""


class NoUtc(Error):
    """The master publishes no UTC: it has no reference (its config's reference:), or none read yet."""


_NOT_SYNCHRONIZED = {12, 13, 14}


def _raise(code):
    if code in _NOT_SYNCHRONIZED:
        raise NotSynchronized(code)
    if code == 2:
        raise NoSegment(code)
    if code == 24:
        raise NoUtc(code)
    raise Error(code)


Timestamp = collections.namedtuple("Timestamp", "time_ns bound_ns local_ns epoch status")
Timestamp.__doc__ = ("A synchronized time: the truth lies within time_ns +/- bound_ns; local_ns "
                     "is the CLOCK_MONOTONIC_RAW reading it came from; status 'synchronized' or "
                     "'holdover'.")
Utc = collections.namedtuple(
    "Utc", "utc_ns bound_ns leap tai_minus_utc_s reference_synchronized leap_list_expired time_ns local_ns "
    "epoch status")
Utc.__doc__ = ("UTC (POSIX ns, leap seconds not counted): the truth lies within utc_ns +/- bound_ns; leap is "
               "'insert' or 'delete' when a leap second ends this UTC day, else None; tai_minus_utc_s is 0 "
               "when unknown; time_ns is the synchronized-timeline reading it came from.")
_LEAP_NAMES = {0: None, 1: "insert", 2: "delete"}
Wake = collections.namedtuple("Wake", "target_ns woke_ns bound_ns local_ns epoch")
Tick = collections.namedtuple("Tick", "index boundary_ns missed wake")


def _wake(w):
    return Wake(w.target_ns, w.woke_ns, w.bound_ns, w.local_ns, w.epoch)


def _options(spin_ns, max_error_ns, follow_epoch):
    opts = _ffi.new("ts_sleep_options*")
    _lib.ts_sleep_options_init(opts)
    if spin_ns is not None:
        opts.spin_ns = int(spin_ns)
    if max_error_ns is not None:
        opts.max_error_ns = int(max_error_ns)
    opts.on_epoch_change = 1 if follow_epoch else 0
    return opts


class Clock:
    """The synchronized clock published at `path` (default /dev/shm/timesync).

    Thread-safe: one Clock may be read from any number of threads."""

    def __init__(self, path=None):
        out = _ffi.new("ts_context**")
        code = _lib.ts_open(path.encode() if path else _ffi.NULL, out)
        if code != 0:
            _raise(code)
        self._ctx = _ffi.gc(out[0], _lib.ts_close)

    def close(self):
        """Releases the segment now (otherwise when the Clock is collected)."""
        if self._ctx is not None:
            _ffi.release(self._ctx)
            self._ctx = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _c(self):
        if self._ctx is None:
            raise ValueError("the Clock is closed")
        return self._ctx

    def get_timestamp(self):
        """Synchronized time now, ns; NotSynchronized when it cannot vouch for one."""
        t = _ffi.new("int64_t*")
        code = _lib.ts_get_timestamp(self._c(), t)
        if code != 0:
            _raise(code)
        return t[0]

    def get_timestamp_with_error(self):
        """Timestamp(time_ns, bound_ns, local_ns, epoch, status)."""
        r = _ffi.new("ts_timestamp*")
        code = _lib.ts_get_timestamp_with_error(self._c(), r)
        if code != 0:
            _raise(code)
        return Timestamp(r.time_ns, r.bound_ns, r.local_ns, r.epoch, _STATUS_NAMES.get(r.status, "?"))

    def get_utc_with_error(self):
        """Utc(utc_ns, bound_ns, leap, ...): UTC now beside the timeline, its bound
        adding the master's reference error; NoUtc when the master has no reference."""
        r = _ffi.new("ts_utc*")
        code = _lib.ts_get_utc_with_error(self._c(), r)
        if code != 0:
            _raise(code)
        return Utc(r.utc_ns, r.bound_ns, _LEAP_NAMES.get(r.leap, "?"), r.tai_minus_utc_s,
                   bool(r.flags & 1), bool(r.flags & 2), r.time_ns, r.local_ns, r.epoch,
                   _STATUS_NAMES.get(r.status, "?"))

    def is_synchronized(self):
        """True when a timestamp would be returned now."""
        return bool(_lib.ts_is_synchronized(self._c()))

    def convert(self, clock_id, instant_ns, max_age_ns=0, max_slew_ppb=0):
        """The synchronized Timestamp of instant_ns, a past reading of clock_id
        (time.CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_REALTIME or
        CLOCK_MONOTONIC_RAW), e.g. a camera frame's or a socket's timestamp,
        with the bound at that instant plus the mapping's uncertainty (the
        instant's age times max_slew_ppb, default 1000 ppm). Raises when it
        cannot vouch for one: too old (max_age_ns, default 1 s), from before a
        REALTIME step, the clock slewing faster, or out of sync."""
        r = _ffi.new("ts_timestamp*")
        code = _lib.ts_convert(self._c(), int(clock_id), int(instant_ns), int(max_age_ns),
                               int(max_slew_ppb), r)
        if code != 0:
            _raise(code)
        return Timestamp(r.time_ns, r.bound_ns, r.local_ns, r.epoch, _STATUS_NAMES.get(r.status, "?"))

    def sleep_until(self, target_ns, spin_ns=None, max_error_ns=None, follow_epoch=False):
        """Sleeps until the synchronized clock reads target_ns; returns a Wake.

        Refuses (raises) when the clock goes out of sync, its bound exceeds
        max_error_ns, or the timeline steps (unless follow_epoch)."""
        w = _ffi.new("ts_wake*")
        code = _lib.ts_sleep_until(self._c(), int(target_ns), _options(spin_ns, max_error_ns, follow_epoch), w)
        if code != 0:
            _raise(code)
        return _wake(w)

    def timer(self, period_ns, offset_ns=0, spin_ns=None, max_error_ns=None):
        """An iterator of Ticks, one at every index * period_ns + offset_ns of the
        synchronized timeline; boundaries that went by while the caller was busy
        are counted in Tick.missed, never fired late."""
        return _Timer(self, period_ns, offset_ns, _options(spin_ns, max_error_ns, False))


class _Timer:
    def __init__(self, clock, period_ns, offset_ns, opts):
        out = _ffi.new("ts_timer**")
        code = _lib.ts_timer_create(clock._c(), int(period_ns), int(offset_ns), opts, out)
        if code != 0:
            _raise(code)
        self._clock = clock  # keeps the context alive as long as the timer
        self._timer = _ffi.gc(out[0], _lib.ts_timer_destroy)

    def __iter__(self):
        return self

    def __next__(self):
        t = _ffi.new("ts_tick*")
        code = _lib.ts_timer_wait_next(self._timer, t)
        if code != 0:
            _raise(code)
        return Tick(t.index, t.boundary_ns, t.missed, _wake(t.wake))


_default = None


def _clock():
    global _default
    if _default is None:
        _default = Clock(os.environ.get("TIMESYNC_SEGMENT"))
    return _default


def get_timestamp():
    """Synchronized time now, ns, from the default segment ($TIMESYNC_SEGMENT or /dev/shm/timesync)."""
    return _clock().get_timestamp()


def get_timestamp_with_error():
    """Timestamp(time_ns, bound_ns, local_ns, epoch, status) from the default segment."""
    return _clock().get_timestamp_with_error()


def get_utc_with_error():
    """Utc(utc_ns, bound_ns, leap, ...) from the default segment."""
    return _clock().get_utc_with_error()


def is_synchronized():
    return _clock().is_synchronized()


def convert(clock_id, instant_ns, **kw):
    return _clock().convert(clock_id, instant_ns, **kw)


def wait_synchronized(path=None, max_error_ns=0, timeout_s=None):
    """Waits until the segment at path ($TIMESYNC_SEGMENT or /dev/shm/timesync)
    serves a time within max_error_ns (0: the agent's own limit), for at most
    timeout_s seconds (None: for ever); returns that Timestamp. A segment not
    there yet, not synchronized or over the bound is waited for; raises the
    last error at the timeout, or at once for what waiting cannot cure (wrong
    version, not a plain file, permission). Ctrl-C interrupts it."""
    path = path or os.environ.get("TIMESYNC_SEGMENT")
    c_path = path.encode() if path else _ffi.NULL
    r = _ffi.new("ts_timestamp*")
    deadline = None if timeout_s is None else time.monotonic() + float(timeout_s)
    while True:
        # Slices of 100 ms: Python runs its signal handlers between them.
        left = 0.1 if deadline is None else max(0.0, min(0.1, deadline - time.monotonic()))
        code = _lib.ts_wait_synchronized(c_path, int(max_error_ns), int(left * 1e9), _ffi.NULL, r)
        if code == 0:
            return Timestamp(r.time_ns, r.bound_ns, r.local_ns, r.epoch, _STATUS_NAMES.get(r.status, "?"))
        if code not in _WAIT_CURES or (deadline is not None and time.monotonic() >= deadline):
            _raise(code)


# What ts_wait_synchronized keeps waiting for (wait.hpp: wait_can_cure).
_WAIT_CURES = {2, 5, 6, 8, 9, 10, 11, 12, 13, 14, 18}


def sleep_until(target_ns, **kw):
    return _clock().sleep_until(target_ns, **kw)


def timer(period_ns, offset_ns=0, **kw):
    return _clock().timer(period_ns, offset_ns, **kw)
