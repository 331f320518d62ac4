/* A plain C application built against the installed headers via pkg-config.
 * Usage: consumer MISSING_PATH SEGMENT_PATH */
#include <stdio.h>
#include <string.h>
#include <timesync/timesync.h>

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s MISSING_PATH SEGMENT_PATH\n", argv[0]);
    return 2;
  }
  ts_context* ctx = NULL;
  ts_error e = ts_open(argv[1], &ctx);
  if (e != TS_E_NO_SEGMENT || ctx != NULL) {
    fprintf(stderr, "expected TS_E_NO_SEGMENT, got %d (%s)\n", (int)e, ts_strerror(e));
    return 1;
  }
  printf("missing segment: %s\n", ts_strerror(e));
  e = ts_open(argv[2], &ctx);
  if (e != TS_OK) {
    fprintf(stderr, "ts_open(%s): %s\n", argv[2], ts_strerror(e));
    return 1;
  }
  ts_timestamp ts;
  memset(&ts, 0, sizeof(ts));
  e = ts_get_timestamp_with_error(ctx, &ts);
  if (e != TS_OK || ts.status != TS_STATUS_SYNCHRONIZED || ts.time_ns == 0 || !ts_is_synchronized(ctx)) {
    fprintf(stderr, "expected a synchronized time, got %d (%s)\n", (int)e, ts_strerror(e));
    ts_close(ctx);
    return 1;
  }
  printf("time_ns=%lld bound_ns=%llu epoch=%llu status=%d\n", (long long)ts.time_ns,
         (unsigned long long)ts.bound_ns, (unsigned long long)ts.epoch, (int)ts.status);
  ts_close(ctx);
  return 0;
}
