/* LD_PRELOAD test equipment (never installed): every call that would set or
 * adjust a clock is answered as if it succeeded, with the clock's current
 * state, and counted; reads pass through. Lets a real ptp4l run as a slave on
 * CLOCK_REALTIME (software timestamping) without touching the host clock.
 * With TIMESYNC_CLOCK_SHIM_LOG set, the file holds "loaded <pid> writes <n>". */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timex.h>
#include <time.h>
#include <unistd.h>

static long writes;

static void note(void) {
  const char *path = getenv("TIMESYNC_CLOCK_SHIM_LOG");
  FILE *f;
  if (path == NULL) return;
  f = fopen(path, "w");
  if (f == NULL) return;
  fprintf(f, "loaded %ld writes %ld\n", (long)getpid(), writes);
  fclose(f);
}

__attribute__((constructor)) static void shim_loaded(void) { note(); }

/* modes 0 and ADJ_OFFSET_SS_READ read; anything else writes. */
static int is_write(const struct timex *tx) { return tx->modes != 0 && tx->modes != ADJ_OFFSET_SS_READ; }

int clock_adjtime(clockid_t clk, struct timex *tx) {
  unsigned int modes = tx->modes;
  long r;
  if (!is_write(tx)) return (int)syscall(SYS_clock_adjtime, clk, tx);
  ++writes;
  note();
  tx->modes = 0;
  r = syscall(SYS_clock_adjtime, clk, tx);
  tx->modes = modes;
  return (int)r;
}

int adjtimex(struct timex *tx) { return clock_adjtime(CLOCK_REALTIME, tx); }
int ntp_adjtime(struct timex *tx) { return clock_adjtime(CLOCK_REALTIME, tx); }

int clock_settime(clockid_t clk, const struct timespec *ts) {
  (void)clk;
  (void)ts;
  ++writes;
  note();
  return 0;
}

int settimeofday(const struct timeval *tv, const struct timezone *tz) {
  (void)tv;
  (void)tz;
  ++writes;
  note();
  return 0;
}
