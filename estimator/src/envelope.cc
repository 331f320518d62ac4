#include "timesync/estimator/envelope.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace timesync::estimator {

double FreqInterval::farthest_from(double rate) const {
  return std::max(std::fabs(rate - lo), std::fabs(rate - hi));
}

FrequencyEnvelope::FrequencyEnvelope(EnvelopeParams p) : p_(p) { reset(); }

void FrequencyEnvelope::reset() {
  pts_.clear();
  f_ = FreqInterval{-p_.prior_ppb, p_.prior_ppb};
  informed_ = false;
}

void FrequencyEnvelope::restart_from(int64_t t_ns) {
  while (!pts_.empty() && pts_.front().t < t_ns) pts_.pop_front();
  recompute();
}

void FrequencyEnvelope::add(int64_t t_ns, int64_t offset_ns, uint64_t half_ns) {
  if (!pts_.empty() && t_ns < pts_.back().t) return;
  const auto half = static_cast<int64_t>(std::min<uint64_t>(half_ns, uint64_t{1} << 62));
  pts_.push_back({t_ns, offset_ns - half, offset_ns + half});
  while (pts_.size() > p_.max_points || (pts_.size() > 2 && t_ns - pts_.front().t > p_.max_span_ns)) {
    pts_.pop_front();
  }
  recompute();
}

void FrequencyEnvelope::recompute() {
  const size_t n = pts_.size();
  const double inf = std::numeric_limits<double>::infinity();
  double lo = -inf, hi = inf;
  size_t keep_from = 0;
  if (n >= 2) {
    const int64_t T = pts_.back().t;
    // Newest first: each older sample joins only if it agrees with every newer
    // one, so a contradiction drops the old side, never the fresh data.
    for (size_t i = n - 1; i-- > 0;) {
      double lo_i = lo, hi_i = hi;
      const Point& a = pts_[i];
      for (size_t j = i + 1; j < n; ++j) {
        const Point& b = pts_[j];
        const int64_t dt_ns = b.t - a.t;
        if (dt_ns <= 0) continue;
        const double dt_s = static_cast<double>(dt_ns) / 1e9;
        const double mid_age_s = (static_cast<double>(T - a.t) + static_cast<double>(T - b.t)) / 2e9;
        const double slack = p_.accel_ppb_per_s * mid_age_s;
        // ns / s = ppb; differences in int64 first, so large offsets keep their ns.
        lo_i = std::max(lo_i, static_cast<double>(b.lo - a.hi) / dt_s - slack);
        hi_i = std::min(hi_i, static_cast<double>(b.hi - a.lo) / dt_s + slack);
      }
      if (lo_i > hi_i) {
        keep_from = i + 1;
        break;
      }
      lo = lo_i;
      hi = hi_i;
    }
  }
  if (keep_from > 0) {
    ++breaks_;
    pts_.erase(pts_.begin(), pts_.begin() + static_cast<std::ptrdiff_t>(keep_from));
  }
  informed_ = pts_.size() >= 2 && lo > -inf && hi < inf;
  // The prior too, unless the data contradicts it (a crystal beyond max_freq:
  // then what the samples say is all there is).
  const double plo = std::max(lo, -p_.prior_ppb), phi = std::min(hi, p_.prior_ppb);
  if (plo <= phi) {
    f_ = FreqInterval{plo, phi};
  } else {
    f_ = FreqInterval{lo, hi};
  }
  if (!informed_) f_ = FreqInterval{-p_.prior_ppb, p_.prior_ppb};
}

}  // namespace timesync::estimator
