#include "timesync/convert.hpp"

#include <errno.h>
#include <sys/timerfd.h>
#include <sys/timex.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <mutex>

namespace timesync {
namespace {

constexpr int64_t kNsPerSec = 1'000'000'000;
__extension__ using u128 = unsigned __int128;

bool read_ns(clockid_t id, int64_t* out) {
  timespec ts{};
  if (clock_gettime(id, &ts) != 0) return false;
  *out = static_cast<int64_t>(ts.tv_sec) * kNsPerSec + ts.tv_nsec;
  return true;
}

// The source clock read between two raw reads, the narrowest of three.
struct Pair {
  int64_t raw_mid = 0;
  int64_t source = 0;
  int64_t half_width = INT64_MAX;
};
bool paired_read(clockid_t source, Pair* best) {
  for (int i = 0; i < 3; ++i) {
    int64_t r0 = 0, s = 0, r1 = 0;
    if (!read_ns(CLOCK_MONOTONIC_RAW, &r0) || !read_ns(source, &s) ||
        !read_ns(CLOCK_MONOTONIC_RAW, &r1)) {
      return false;
    }
    const int64_t half = (r1 - r0 + 1) / 2;
    if (half < best->half_width) *best = Pair{r0 + (r1 - r0) / 2, s, half};
  }
  return true;
}

// The kernel's present rate adjustment of the NTP-disciplined clocks against
// RAW, ppb: the tick's distance from nominal plus the frequency offset.
bool present_slew_ppb(uint64_t* out) {
  timex tx{};
  tx.modes = 0;  // read only
  if (adjtimex(&tx) < 0) return false;
  const long hz = sysconf(_SC_CLK_TCK);
  const long nominal_tick = hz > 0 ? 1'000'000 / hz : 10'000;  // us per tick
  const uint64_t tick_ppb =
      static_cast<uint64_t>(std::labs(tx.tick - nominal_tick)) * 1'000'000'000ULL /
      static_cast<uint64_t>(nominal_tick);
  const uint64_t freq_ppb = static_cast<uint64_t>(std::labs(tx.freq)) * 1000ULL / 65536ULL;
  *out = tick_ppb + freq_ppb;
  return true;
}

// Steps of CLOCK_REALTIME, from the kernel: a timerfd armed with
// TFD_TIMER_CANCEL_ON_SET reads ECANCELED once the clock was set.
class RealtimeSteps {
 public:
  // The raw instant from which REALTIME is known not to have stepped, up to
  // now: the arming, or when the last step was seen. False: no monitor.
  bool unstepped_since(int64_t* raw_ns) {
    std::lock_guard<std::mutex> lock(mu_);
    if (fd_ < 0 && !arm()) return false;
    uint64_t expirations = 0;
    if (read(fd_, &expirations, sizeof expirations) < 0 && errno == ECANCELED) {
      if (!rearm()) return false;
    }
    *raw_ns = since_raw_;
    return true;
  }

 private:
  bool arm() {
    fd_ = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd_ < 0) return false;
    return rearm();
  }
  bool rearm() {
    // Far in the future: it never expires, it only reports being cancelled.
    itimerspec its{};
    its.it_value.tv_sec = INT_MAX;
    if (timerfd_settime(fd_, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, nullptr) != 0) {
      return false;
    }
    return read_ns(CLOCK_MONOTONIC_RAW, &since_raw_);
  }

  std::mutex mu_;
  int fd_ = -1;
  int64_t since_raw_ = 0;
};

RealtimeSteps& realtime_steps() {
  static RealtimeSteps* s = new RealtimeSteps;  // for the process's life
  return *s;
}

TimestampWithError refused(Error e) {
  TimestampWithError r;
  r.error = e;
  return r;
}

}  // namespace

TimestampWithError convert(const Clock& clock, clockid_t source, int64_t instant_ns,
                           const ConvertOptions& o) {
  const bool raw = source == CLOCK_MONOTONIC_RAW;
  if (!raw && source != CLOCK_MONOTONIC && source != CLOCK_BOOTTIME && source != CLOCK_REALTIME) {
    return refused(Error::kInvalidArgument);
  }
  Pair p;
  if (raw) {
    if (!read_ns(CLOCK_MONOTONIC_RAW, &p.raw_mid)) return refused(Error::kClock);
    p.source = p.raw_mid;
    p.half_width = 0;
  } else if (!paired_read(source, &p)) {
    return refused(Error::kClock);
  }
  const int64_t age = p.source - instant_ns;
  if (age < -p.half_width) return refused(Error::kInvalidArgument);  // in the future
  if (age > o.max_age_ns) return refused(Error::kStale);
  // The instant on RAW, at the rate of 1 the slew term bounds.
  const int64_t raw_instant = p.raw_mid - age;
  uint64_t extra = static_cast<uint64_t>(p.half_width);
  if (!raw) {
    uint64_t slew = 0;
    if (!present_slew_ppb(&slew)) return refused(Error::kClock);
    if (slew > o.max_slew_ppb) return refused(Error::kBoundExceeded);
    const uint64_t a = static_cast<uint64_t>(age > 0 ? age : 0);
    extra += static_cast<uint64_t>((static_cast<u128>(a) * o.max_slew_ppb +
                                    (kNsPerSec - 1)) /
                                   kNsPerSec);
  }
  if (source == CLOCK_REALTIME) {
    int64_t since = 0;
    if (!realtime_steps().unstepped_since(&since)) return refused(Error::kClock);
    if (raw_instant - static_cast<int64_t>(extra) < since) return refused(Error::kStale);
  }
  const Result<TransformSnapshot> snap = clock.snapshot();
  if (!snap.ok()) return refused(snap.error());
  TimestampWithError r = evaluate(snap.value(), LocalTime{raw_instant});
  r.bound_ns += extra;
  if (r.ok() && snap.value().max_error_ns != 0 && r.bound_ns > snap.value().max_error_ns) {
    r.error = Error::kBoundExceeded;
    r.time = SyncTime{0};
  }
  return r;
}

}  // namespace timesync
