/* timesync-run-stamp: measurement helper for timesync-run (not installed).
 *
 *   timesync-run-stamp FILE
 *
 * Reads CLOCK_MONOTONIC_RAW as the first thing main() does, then appends one
 * line to FILE (one write() on an O_APPEND descriptor, so concurrent stamps do
 * not interleave):
 *   <raw_ns> <target_ns> <index> <wake_ns> <wake_raw_ns> <bound_ns>
 * taken from the TIMESYNC_RUN_* environment (-1 where a variable is absent).
 * Plain C with libc only: the loader has nothing else to map, so raw_ns - the
 * wake-up is the cost of starting a minimal program. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long long env_ll(const char* name) {
  const char* v = getenv(name);
  return v != NULL ? strtoll(v, NULL, 10) : -1;
}

int main(int argc, char** argv) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
  const long long raw = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
  if (argc != 2) {
    fprintf(stderr, "usage: %s FILE\n", argv[0]);
    return 2;
  }
  char line[256];
  const int n = snprintf(line, sizeof line, "%lld %lld %lld %lld %lld %lld\n", raw,
                         env_ll("TIMESYNC_RUN_TARGET_NS"), env_ll("TIMESYNC_RUN_INDEX"),
                         env_ll("TIMESYNC_RUN_WAKE_NS"), env_ll("TIMESYNC_RUN_WAKE_RAW_NS"),
                         env_ll("TIMESYNC_RUN_BOUND_NS"));
  const int fd = open(argv[1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0 || write(fd, line, (size_t)n) != n) {
    perror(argv[1]);
    return 1;
  }
  close(fd);
  return 0;
}
