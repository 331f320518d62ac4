// timesync-sim-publisher: publishes a simulated transform into a segment, the way
// timesync-agent would, so libtimesync readers can be exercised without a master.
//
// The simulated master timeline is master(t) = offset + t * (1 + drift), t being
// this host's CLOCK_MONOTONIC_RAW. The publisher's estimate of it carries a small
// error, and an optional outage shows holdover, out-of-sync and recovery. With
// --utc it also publishes UTC beside it: this host's CLOCK_REALTIME, as an
// offset from the simulated timeline with a 5 us error (a reference's).
#include <signal.h>
#include <time.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "timesync/clock.hpp"
#include "timesync/writer.hpp"

namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

struct Options {
  std::string path = timesync::kDefaultSegmentPath;
  bool once = false;
  double drift_ppm = 35.0;
  double offset_s = 1.5;
  double rate_hz = 10.0;
  double duration_s = 0;  // 0: until a signal
  double acquire_s = 1.0;
  double outage_at_s = -1;
  double outage_for_s = 0;
  double max_error_us = 100.0;
  bool utc = false;
};

[[noreturn]] void usage(const char* argv0, const char* why) {
  if (why != nullptr) std::fprintf(stderr, "%s: %s\n", argv0, why);
  std::fprintf(stderr,
               "usage: %s [--path P] [--once] [--drift-ppm X] [--offset-s X] [--rate-hz X]\n"
               "          [--duration-s X] [--acquire-s X] [--outage-at-s X --outage-for-s X]\n"
               "          [--max-error-us X] [--utc]\n",
               argv0);
  std::exit(2);
}

double number(const char* argv0, const char* flag, const char* v) {
  char* end = nullptr;
  const double d = std::strtod(v, &end);
  if (end == v || *end != '\0' || !std::isfinite(d)) {
    std::string msg = std::string("bad number for ") + flag + ": '" + v + "'";
    usage(argv0, msg.c_str());
  }
  return d;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) usage(argv[0], ("missing value for " + a).c_str());
      return argv[++i];
    };
    if (a == "--path") o.path = next();
    else if (a == "--once") o.once = true;
    else if (a == "--drift-ppm") o.drift_ppm = number(argv[0], argv[i], next());
    else if (a == "--offset-s") o.offset_s = number(argv[0], argv[i], next());
    else if (a == "--rate-hz") o.rate_hz = number(argv[0], argv[i], next());
    else if (a == "--duration-s") o.duration_s = number(argv[0], argv[i], next());
    else if (a == "--acquire-s") o.acquire_s = number(argv[0], argv[i], next());
    else if (a == "--outage-at-s") o.outage_at_s = number(argv[0], argv[i], next());
    else if (a == "--outage-for-s") o.outage_for_s = number(argv[0], argv[i], next());
    else if (a == "--max-error-us") o.max_error_us = number(argv[0], argv[i], next());
    else if (a == "--utc") o.utc = true;
    else if (a == "-h" || a == "--help") usage(argv[0], nullptr);
    else usage(argv[0], ("unknown option " + a).c_str());
  }
  if (o.rate_hz <= 0 || o.rate_hz > 10'000) usage(argv[0], "--rate-hz must be in (0, 10000]");
  if (std::fabs(o.drift_ppm) > 5'000) usage(argv[0], "--drift-ppm must be within +/-5000");
  if (o.max_error_us <= 0) usage(argv[0], "--max-error-us must be positive");
  return o;
}

double realtime_ns() {
  timespec rt{};
  clock_gettime(CLOCK_REALTIME, &rt);
  return static_cast<double>(rt.tv_sec) * 1e9 + static_cast<double>(rt.tv_nsec);
}

int64_t now_ns() {
  timesync::LocalTime t;
  if (!timesync::read_local_clock(&t)) {
    std::perror("clock_gettime(CLOCK_MONOTONIC_RAW)");
    std::exit(1);
  }
  return t.ns;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  std::string why;
  auto w = timesync::SegmentWriter::create(o.path, &why);
  if (!w.ok()) {
    std::fprintf(stderr, "timesync-sim-publisher: %s\n", why.c_str());
    return 1;
  }
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);

  constexpr int64_t kSec = 1'000'000'000;
  const int64_t start = now_ns();
  const uint64_t epoch = w.value()->previous_epoch() + 1;
  const double drift = o.drift_ppm * 1e-6;
  const auto period_ns = static_cast<int64_t>(1e9 / o.rate_hz);
  // A fixed estimation error, well inside the bound, so readers see realistic
  // (not perfect) numbers: 300 ns of phase and 0.02 ppm of frequency.
  const double est_phase_err_ns = 300.0;
  const double est_freq_err = 0.02e-6;
  timesync::TransformSnapshot last{};
  bool have_last = false;

  std::printf("publishing to %s: master = local x (1 %+.1f ppm) %+.3f s, %.0f Hz\n",
              o.path.c_str(), o.drift_ppm, o.offset_s, o.rate_hz);
  std::fflush(stdout);
  for (int64_t next = start; !g_stop; next += period_ns) {
    // With --utc, CLOCK_REALTIME on both sides of the local read: the truth of UTC at t.
    const double rt_before = realtime_ns();
    const int64_t t = now_ns();
    const double realtime_at_t = (rt_before + realtime_ns()) / 2;
    const double elapsed_s = static_cast<double>(t - start) / 1e9;
    if (o.duration_s > 0 && elapsed_s >= o.duration_s) break;
    const bool in_outage = o.outage_at_s >= 0 && elapsed_s >= o.outage_at_s &&
                           elapsed_s < o.outage_at_s + o.outage_for_s;
    timesync::TransformSnapshot s;
    s.epoch = epoch;
    s.set_master_name("sim-master");
    s.master_instance = static_cast<uint64_t>(start);
    s.max_error_ns = static_cast<uint64_t>(o.max_error_us * 1e3);
    if (!o.once && elapsed_s < o.acquire_s) {
      s.status = timesync::ClockStatus::kUnsynchronized;
      s.as_of = s.void_after = timesync::LocalTime{t};
    } else if (in_outage && have_last) {
      // Holdover: keep the last transform, let the bound grow from its as_of.
      s = last;
      s.status = timesync::ClockStatus::kHoldover;
      s.bound_growth_ppb = 20'000;  // 20 ppm: the oscillator is no longer tracked
    } else {
      const double master_ns = o.offset_s * 1e9 + static_cast<double>(t) * (1.0 + drift);
      s.status = timesync::ClockStatus::kSynchronized;
      s.as_of = timesync::LocalTime{t};
      s.void_after = timesync::LocalTime{t + 5 * kSec};
      s.ref_local = s.as_of;
      s.ref_sync = timesync::SyncTime{static_cast<int64_t>(master_ns + est_phase_err_ns)};
      s.freq_adj_q48 = timesync::ppb_to_q48((drift + est_freq_err) * 1e9);
      s.bound_at_as_of_ns = 2'000;
      s.bound_growth_ppb = 1'000;  // 1 ppm residual frequency uncertainty
      if (o.utc) {
        // realtime - timeline now; it moves at realtime's rate against the
        // timeline: -drift, and realtime's own correction (a few ppm: 20 allowed).
        s.utc.flags = timesync::kUtcValid | timesync::kUtcReferenceSynchronized;
        s.utc.as_of = timesync::SyncTime{static_cast<int64_t>(master_ns)};
        s.utc.offset_ns = static_cast<int64_t>(std::llround(realtime_at_t - master_ns));
        s.utc.error_ns = 5'000;
        s.utc.rate_ppb = static_cast<int64_t>(std::llround(-drift * 1e9));
        s.utc.rate_error_ppb = 20'000;
        s.utc.tai_minus_utc_s = 37;
      }
    }
    w.value()->publish(s);
    if (s.status == timesync::ClockStatus::kSynchronized) {
      last = s;
      have_last = true;
    }
    if (o.once) {
      timesync::SegmentWriter::detach(std::move(w).value());
      return 0;
    }
    // CLOCK_MONOTONIC_RAW cannot be slept on: sleep the remaining time on
    // CLOCK_MONOTONIC (the two differ only by NTP slew, irrelevant here).
    const int64_t sleep_ns = next + period_ns - now_ns();
    if (sleep_ns > 0) {
      timespec mono{};
      clock_gettime(CLOCK_MONOTONIC, &mono);
      const int64_t wake = mono.tv_sec * kSec + mono.tv_nsec + sleep_ns;
      const timespec ts{static_cast<time_t>(wake / kSec), static_cast<long>(wake % kSec)};
      clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
    }
  }
  std::printf("publisher stopped; segment marked unsynchronized\n");
  return 0;
}
