// timesync-now: prints the synchronized time with its bound, status and epoch,
// read through libtimesync exactly as an application would.
// Exit status: 0 synchronized, 1 out of sync or no segment, 2 usage.
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "timesync/clock.hpp"

namespace {
[[noreturn]] void usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [--path P] [--watch] [--interval-ms N] [--count N]\n", argv0);
  std::exit(2);
}

long positive(const char* argv0, const char* v) {
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  if (end == v || *end != '\0' || n <= 0) usage(argv0);
  return n;
}

void print(const timesync::TimestampWithError& r) {
  if (r.ok()) {
    std::printf("%20.9f s  bound +/- %10.3f us  %-14s epoch %llu\n",
                static_cast<double>(r.time.ns) / 1e9, static_cast<double>(r.bound_ns) / 1e3,
                timesync::to_string(r.status), static_cast<unsigned long long>(r.epoch));
  } else {
    std::printf("%20s    bound +/- %10.3f us  %-14s epoch %llu  (%s)\n", "out of sync",
                static_cast<double>(r.bound_ns) / 1e3, timesync::to_string(r.status),
                static_cast<unsigned long long>(r.epoch), timesync::to_string(r.error));
  }
  std::fflush(stdout);
}
}  // namespace

int main(int argc, char** argv) {
  std::string path = timesync::kDefaultSegmentPath;
  bool watch = false;
  long interval_ms = 500, count = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--path" && i + 1 < argc) path = argv[++i];
    else if (a == "--watch") watch = true;
    else if (a == "--interval-ms" && i + 1 < argc) interval_ms = positive(argv[0], argv[++i]);
    else if (a == "--count" && i + 1 < argc) count = positive(argv[0], argv[++i]);
    else usage(argv[0]);
  }
  auto clock = timesync::Clock::open(path);
  if (!clock.ok()) {
    std::fprintf(stderr, "timesync-now: %s: %s\n", path.c_str(), timesync::to_string(clock.error()));
    return 1;
  }
  timesync::TimestampWithError r = clock->get_timestamp_with_error();
  print(r);
  for (long n = 1; watch && (count == 0 || n < count); ++n) {
    const timespec ts{interval_ms / 1000, (interval_ms % 1000) * 1'000'000};
    nanosleep(&ts, nullptr);
    r = clock->get_timestamp_with_error();
    print(r);
  }
  return r.ok() ? 0 : 1;
}
