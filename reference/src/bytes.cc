#include "bytes.hpp"

#include <time.h>

#include <cmath>
#include <limits>

namespace timesync::reference::detail {

int64_t seconds_to_ns(double seconds) {
  constexpr double kMax = 9.2e18;  // just inside int64
  const double ns = seconds * 1e9;
  if (std::isnan(ns)) return 0;
  if (ns >= kMax) return std::numeric_limits<int64_t>::max();
  if (ns <= -kMax) return std::numeric_limits<int64_t>::min();
  return std::llround(ns);
}

int64_t saturating_abs(int64_t v) {
  if (v == std::numeric_limits<int64_t>::min()) return std::numeric_limits<int64_t>::max();
  return v < 0 ? -v : v;
}

int64_t saturating_add(int64_t a, int64_t b) {
  int64_t out = 0;
  if (__builtin_add_overflow(a, b, &out)) {
    return a > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
  }
  return out;
}

int64_t realtime_now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace timesync::reference::detail
