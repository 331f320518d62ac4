/*
 * timesync C API: read the synchronized clock published by timesync-agent.
 *
 * Contract
 *   - All times are nanoseconds. "local" time is this host's CLOCK_MONOTONIC_RAW;
 *     "synchronized" time is the master's timeline (see the agent's timebase).
 *   - A ts_context is an opaque handle. Once opened it may be shared by any number
 *     of threads without a lock: every read is lock-free and never blocks the
 *     agent. Reads make no system call besides clock_gettime (vDSO).
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
  TS_E_NO_MEMORY = 17
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
  int64_t local_ns;   /* the CLOCK_MONOTONIC_RAW reading it was derived from */
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

/* 1 when a timestamp would be returned now, 0 otherwise. */
int ts_is_synchronized(const ts_context* ctx);

/* Static, human-readable description of an error code. */
const char* ts_strerror(ts_error err);

#ifdef __cplusplus
}
#endif

#endif /* TIMESYNC_TIMESYNC_H_ */
