/* read_time: the synchronized time and its error bound, from C.
 *
 *   cc read_time.c -ltimesync -o read_time && ./read_time [SEGMENT]
 *
 * Prints "TIME_NS BOUND_NS" and exits 0, or prints why there is no time
 * (out of sync, no agent, ...) and exits 1: never a time without its bound. */
#include <stdio.h>
#include <timesync/timesync.h>

int main(int argc, char** argv) {
  const char* path = argc > 1 ? argv[1] : TS_DEFAULT_SEGMENT_PATH;
  ts_context* h = NULL;
  ts_error err = ts_open(path, &h);
  if (err != TS_OK) {
    fprintf(stderr, "read_time: %s: %s\n", path, ts_strerror(err));
    return 1;
  }
  ts_timestamp r;
  err = ts_get_timestamp_with_error(h, &r);
  if (err != TS_OK) {
    fprintf(stderr, "read_time: no time: %s\n", ts_strerror(err));
    ts_close(h);
    return 1;
  }
  printf("%lld %llu\n", (long long)r.time_ns, (unsigned long long)r.bound_ns);
  ts_close(h);
  return 0;
}
