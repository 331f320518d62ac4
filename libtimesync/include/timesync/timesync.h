/*
 * timesync C API: read the synchronized clock published by timesync-agent.
 *
 * Contract
 *   - All times are nanoseconds. "local" time is this host's CLOCK_MONOTONIC_RAW;
 *     "synchronized" time is the master's timeline (see the agent's timebase).
 *   - A ts_context is an opaque handle. Once opened it may be shared by any number
 *     of threads without a lock: every read is lock-free and never blocks the
 *     agent. Reads make no system call besides clock_gettime (vDSO) while the
 *     agent serves its sealed copy of the segment; without it they pread the
 *     file. A truncated or overwritten segment file never raises SIGBUS.
 *   - ts_open never blocks and never follows a symbolic link at the path.
 *   - No function raises a signal or throws; every failure is a ts_error value.
 *   - When the clock is out of sync (the agent says so, its data is past its
 *     validity, or the error bound exceeds the configured limit) timestamps are
 *     refused with an error code; the library never returns a time it cannot
 *     vouch for.
 */
#ifndef TIMESYNC_TIMESYNC_H_
#define TIMESYNC_TIMESYNC_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Default segment path written by timesync-agent. */
#define TS_DEFAULT_SEGMENT_PATH "/dev/shm/timesync"

typedef enum ts_error {
  TS_OK = 0,
  TS_E_INVALID_ARGUMENT = 1, /* NULL pointer or bad argument */
  TS_E_NO_SEGMENT = 2,       /* segment file does not exist (agent not running?) */
  TS_E_PERMISSION = 3,       /* segment exists but may not be opened */
  TS_E_IO = 4,               /* open/stat/mmap failed for another reason */
  TS_E_TRUNCATED = 5,        /* file shorter than the size its header claims */
  TS_E_BAD_MAGIC = 6,        /* not a timesync segment */
  TS_E_BAD_VERSION = 7,      /* layout version this library does not know */
  TS_E_SIZE_MISMATCH = 8,    /* header size field disagrees with the layout */
  TS_E_NOT_INITIALIZED = 9,  /* segment created but never published (generation 0) */
  TS_E_BUSY = 10,            /* seqlock stayed odd: writer died mid-update? */
  TS_E_CORRUPT = 11,         /* consistent snapshot with impossible contents */
  TS_E_NOT_SYNCHRONIZED = 12,/* agent reports it is not synchronized */
  TS_E_STALE = 13,           /* data past its void_after: agent stopped updating */
  TS_E_BOUND_EXCEEDED = 14,  /* error bound above the configured maximum */
  TS_E_CLOCK = 15,           /* clock_gettime failed */
  TS_E_WRITER_EXISTS = 16,   /* another writer owns the segment (writer side) */
  TS_E_NO_MEMORY = 17,
  TS_E_EPOCH_CHANGED = 18,   /* the timeline stepped while waiting (ts_sleep_until) */
  TS_E_INTERRUPTED = 19,     /* a signal handler ran or the stop flag was set */
  TS_E_NOT_REGULAR = 20,     /* path is a FIFO, device, directory or socket, not a file */
  TS_E_SYMLINK = 21,         /* path is a symbolic link (not followed) */
  TS_E_HARD_LINK = 22,       /* file has another name (hard link): another writer could use it */
  TS_E_WRONG_OWNER = 23,     /* lock file belongs to another user (writer side) */
  TS_E_NO_UTC = 24           /* the master publishes no UTC (no reference, or none read yet) */
} ts_error;

typedef enum ts_status {
  TS_STATUS_UNSYNCHRONIZED = 0, /* no usable time */
  TS_STATUS_SYNCHRONIZED = 1,   /* tracking the master */
  TS_STATUS_HOLDOVER = 2        /* master unreachable; free-running on the last
                                   frequency estimate, bound growing */
} ts_status;

typedef struct ts_timestamp {
  int64_t time_ns;    /* synchronized time; 0 when the call fails */
  uint64_t bound_ns;  /* true time lies within time_ns +/- bound_ns */
  int64_t local_ns;   /* the CLOCK_MONOTONIC_RAW reading it was derived from
                         (on the counter path, docs/counter.md: the counter map's
                         estimate of it, within the map's error) */
  uint64_t epoch;     /* changes whenever the synchronized timeline steps */
  ts_status status;   /* status after the reader's own downgrade checks */
  uint32_t reserved;
} ts_timestamp;

typedef struct ts_context ts_context;

/* Opens the segment at path (NULL: TS_DEFAULT_SEGMENT_PATH). On success *out
 * holds a handle to release with ts_close. */
ts_error ts_open(const char* path, ts_context** out);
void ts_close(ts_context* ctx);

/* Synchronized time now, or an error (e.g. TS_E_NOT_SYNCHRONIZED). */
ts_error ts_get_timestamp(const ts_context* ctx, int64_t* time_ns);

/* Time, bound, status and epoch. When out of sync it returns the reason and still
 * fills bound_ns, epoch and status (time_ns is 0) so callers can report them. */
ts_error ts_get_timestamp_with_error(const ts_context* ctx, ts_timestamp* out);

/* ---- UTC beside the timeline (see timesync/utc.hpp) ----------------------
 * The timeline never steps; UTC rides beside it as the master's external
 * reference gives it (its config's `reference:`), with a bound that adds the
 * reference's own error to the timeline's. POSIX time: leap seconds are not
 * counted; `leap` announces one for the end of the reading's UTC day. */
typedef enum ts_leap {
  TS_LEAP_NONE = 0,
  TS_LEAP_INSERT = 1,  /* 23:59:60 at the end of this UTC day */
  TS_LEAP_DELETE = 2   /* 23:59:59 skipped at the end of this UTC day */
} ts_leap;

/* flags */
#define TS_UTC_REFERENCE_SYNCHRONIZED 1u /* 0: the master's reference is lost; its error grows */
#define TS_UTC_LEAP_LIST_EXPIRED 2u      /* the master's leap-second list is past its expiry */

typedef struct ts_utc {
  int64_t utc_ns;          /* POSIX ns; 0 when the call fails */
  uint64_t bound_ns;       /* true UTC lies within utc_ns +/- bound_ns */
  int64_t time_ns;         /* the synchronized-timeline reading it came from */
  int64_t local_ns;        /* the CLOCK_MONOTONIC_RAW reading */
  uint64_t epoch;
  ts_status status;
  ts_leap leap;
  int32_t tai_minus_utc_s; /* 0: unknown */
  uint32_t flags;          /* TS_UTC_* */
} ts_utc;

/* UTC, its bound and the leap state. Errors as ts_get_timestamp_with_error,
 * plus TS_E_NO_UTC when the master has no reference. */
ts_error ts_get_utc_with_error(const ts_context* ctx, ts_utc* out);

/* 1 when a timestamp would be returned now, 0 otherwise. */
int ts_is_synchronized(const ts_context* ctx);

/* Static, human-readable description of an error code. */
const char* ts_strerror(ts_error err);

/* ---- Waiting for a synchronized instant (see timesync/sleep.hpp) ----------
 * The kernel sleeps on CLOCK_MONOTONIC; the target is re-evaluated against the
 * latest published transform after every sleep, so a transform change made
 * while sleeping moves the wake-up with it. Out of sync, a stale or corrupt
 * segment, a timeline step (with TS_EPOCH_FAIL), a signal handler (EINTR) or
 * the stop flag end the wait with an error instead of a wake-up at a wrong
 * time. No locks against the agent, no RPC. */

typedef enum ts_epoch_policy {
  TS_EPOCH_FAIL = 0,   /* timeline stepped while waiting: TS_E_EPOCH_CHANGED */
  TS_EPOCH_FOLLOW = 1  /* keep the same numeric target on the new timeline */
} ts_epoch_policy;

typedef struct ts_sleep_options {
  int64_t chunk_ns;      /* longest sleep between two looks at the transform */
  int64_t final_ns;      /* below this much left, sleep straight to the spin */
  int64_t spin_ns;       /* busy-wait the last spin_ns before the instant (0: none) */
  uint64_t max_error_ns; /* refuse when the bound exceeds it (0: the segment's limit) */
  ts_epoch_policy on_epoch_change;
  uint32_t reserved0;    /* 0 */
  /* Read (atomically) after every sleep; nonzero ends the wait with
   * TS_E_INTERRUPTED. NULL: none. */
  const int* stop_flag;
  uint64_t reserved[4];  /* 0: room for later options */
} ts_sleep_options;

/* Fills *opts with the defaults (chunk 100 ms, final 2 ms, spin 50 us). */
void ts_sleep_options_init(ts_sleep_options* opts);

typedef struct ts_wake {
  int64_t target_ns;  /* the instant asked for */
  int64_t woke_ns;    /* synchronized time read right after waking (>= target_ns) */
  uint64_t bound_ns;  /* its error bound */
  int64_t local_ns;   /* the CLOCK_MONOTONIC_RAW reading it came from (on the
                         counter path: the counter map's estimate of it) */
  uint64_t epoch;
} ts_wake;

/* Sleeps until the synchronized clock reads target_ns. opts NULL: defaults.
 * out (may be NULL) is filled on TS_OK only. A target in the past returns at
 * once. Reentrant: any number of threads may sleep on one context. */
ts_error ts_sleep_until(const ts_context* ctx, int64_t target_ns, const ts_sleep_options* opts,
                        ts_wake* out);

/* A timer firing at every k * period_ns + offset_ns of synchronized time. It
 * waits only for boundaries still ahead: boundaries that went by while the
 * caller was busy (or out of sync) are counted in ts_tick.missed, never fired
 * late in a burst. One thread at a time per timer; ctx must outlive it. */
typedef struct ts_timer ts_timer;

typedef struct ts_tick {
  int64_t index;       /* boundary_ns = index * period_ns + offset_ns */
  int64_t boundary_ns;
  uint64_t missed;     /* boundaries skipped since the previous tick */
  ts_wake wake;
} ts_tick;

/* period_ns > 0; offset_ns is reduced modulo period_ns. opts NULL: defaults. */
ts_error ts_timer_create(const ts_context* ctx, int64_t period_ns, int64_t offset_ns,
                         const ts_sleep_options* opts, ts_timer** out);
/* Waits for the next boundary; out filled on TS_OK. */
ts_error ts_timer_wait_next(ts_timer* timer, ts_tick* out);
void ts_timer_destroy(ts_timer* timer);

/* ---- Waiting for synchronization (see timesync/wait.hpp) ----------------
 * Waits until the segment at path (NULL: TS_DEFAULT_SEGMENT_PATH) serves a
 * time whose bound is within max_error_ns (0: the agent's own limit), looking
 * every 10 ms, for at most timeout_ns (negative: for ever; 0: one look). A
 * segment not there yet, not synchronized, stale or over the bound is waited
 * for; what waiting cannot cure (another layout version, not a plain file, no
 * permission) returns at once. TS_OK with *out (may be NULL) the first good
 * reading; otherwise the error of the last look, or TS_E_INTERRUPTED once
 * *stop_flag (may be NULL, read atomically) is nonzero. */
ts_error ts_wait_synchronized(const char* path, uint64_t max_error_ns, int64_t timeout_ns,
                              const int* stop_flag, ts_timestamp* out);

/* ---- Sensor timestamps (see timesync/convert.hpp) -------------------------
 * The synchronized time of instant_ns, a past reading of CLOCK_MONOTONIC,
 * CLOCK_BOOTTIME, CLOCK_REALTIME or CLOCK_MONOTONIC_RAW (clock_id, a
 * clockid_t), with the bound at that instant plus what the mapping to the
 * raw clock cannot know: half a paired read and the instant's age times
 * max_slew_ppb. max_age_ns 0: 1 s; max_slew_ppb 0: 1,000,000 (1000 ppm).
 * Errors as ts_get_timestamp_with_error, plus TS_E_INVALID_ARGUMENT (another
 * clock, a future instant), TS_E_STALE (older than max_age_ns, or a REALTIME
 * instant from before a step of that clock or before the first REALTIME
 * conversion of the process) and TS_E_BOUND_EXCEEDED (also while the kernel
 * slews that clock faster than max_slew_ppb). */
ts_error ts_convert(const ts_context* ctx, int clock_id, int64_t instant_ns, int64_t max_age_ns,
                    uint64_t max_slew_ppb, ts_timestamp* out);

#ifdef __cplusplus
}
#endif

#endif /* TIMESYNC_TIMESYNC_H_ */
