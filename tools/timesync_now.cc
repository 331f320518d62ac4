// timesync-now: prints the synchronized time with its bound, status and epoch,
// read through libtimesync exactly as an application would; with --utc, UTC
// beside it (Clock::get_utc_with_error) as an ISO 8601 time with its bound.
// Exit status: 0 synchronized, 1 out of sync or no segment, 2 usage.
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

#include "timesync/clock.hpp"

namespace {
[[noreturn]] void usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [--path P] [--utc] [--watch] [--interval-ms N] [--count N]\n", argv0);
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
void print(const timesync::UtcWithError& u) {
  if (!u.ok()) {
    std::printf("%30s    bound +/- %10.3f us  %-14s (%s)\n", "no UTC", static_cast<double>(u.bound_ns) / 1e3,
                timesync::to_string(u.status), timesync::to_string(u.error));
    std::fflush(stdout);
    return;
  }
  const int64_t s = u.utc_ns >= 0 ? u.utc_ns / 1'000'000'000 : (u.utc_ns + 1) / 1'000'000'000 - 1;
  const int64_t ns = u.utc_ns - s * 1'000'000'000;
  const time_t t = static_cast<time_t>(s);
  tm parts{};
  gmtime_r(&t, &parts);
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &parts);
  std::string notes;
  if (u.tai_minus_utc_s != 0) notes += "  TAI-UTC " + std::to_string(u.tai_minus_utc_s) + " s";
  if (u.leap == timesync::LeapState::kInsert) notes += "  leap second at the end of today";
  if (u.leap == timesync::LeapState::kDelete) notes += "  negative leap second at the end of today";
  if (!u.reference_synchronized) notes += "  (the master's reference is lost: its error grows)";
  if (u.leap_list_expired) notes += "  (the master's leap-second list has expired)";
  std::printf("%s.%09lldZ  bound +/- %10.3f us  %-14s%s\n", when, static_cast<long long>(ns),
              static_cast<double>(u.bound_ns) / 1e3, timesync::to_string(u.status), notes.c_str());
  std::fflush(stdout);
}
}  // namespace

int main(int argc, char** argv) {
  std::string path = timesync::kDefaultSegmentPath;
  bool watch = false;
  bool utc = false;
  long interval_ms = 500, count = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--path" && i + 1 < argc) path = argv[++i];
    else if (a == "--watch") watch = true;
    else if (a == "--utc") utc = true;
    else if (a == "--interval-ms" && i + 1 < argc) interval_ms = positive(argv[0], argv[++i]);
    else if (a == "--count" && i + 1 < argc) count = positive(argv[0], argv[++i]);
    else usage(argv[0]);
  }
  auto clock = timesync::Clock::open(path);
  if (!clock.ok()) {
    std::fprintf(stderr, "timesync-now: %s: %s\n", path.c_str(), timesync::to_string(clock.error()));
    return 1;
  }
  bool ok = false;
  for (long n = 0; n == 0 || (watch && (count == 0 || n < count)); ++n) {
    if (n > 0) {
      const timespec ts{interval_ms / 1000, (interval_ms % 1000) * 1'000'000};
      nanosleep(&ts, nullptr);
    }
    if (utc) {
      const timesync::UtcWithError u = clock->get_utc_with_error();
      print(u);
      ok = u.ok();
    } else {
      const timesync::TimestampWithError r = clock->get_timestamp_with_error();
      print(r);
      ok = r.ok();
    }
  }
  return ok ? 0 : 1;
}
