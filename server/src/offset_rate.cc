#include "offset_rate.hpp"

#include <algorithm>
#include <cmath>

namespace timesync::master {

void OffsetRateMeter::add(int64_t at_ns, int64_t offset_ns, uint64_t uncertainty_ns) {
  if (!pts_.empty() && at_ns < pts_.back().at) {
    pts_.clear();  // realtime stepped back: what was measured before is void
  }
  // The newest point always; older ones at most one a second.
  if (pts_.size() >= 2 && at_ns - pts_[pts_.size() - 2].at < kMinSpanNs) pts_.pop_back();
  pts_.push_back({at_ns, offset_ns, uncertainty_ns});
  while (pts_.size() > 2 && at_ns - pts_[1].at >= kWindowNs) pts_.pop_front();
}

OffsetRateMeter::Rate OffsetRateMeter::rate(double drift_ppb) const {
  Rate r;
  if (pts_.size() < 2) return r;
  const Point& b = pts_.back();
  // Of the points at least kMinSpanNs before the newest, the one that gives
  // the smallest error (a long span, or a time the reference was good).
  double best_err = INFINITY;
  for (const Point& a : pts_) {
    const int64_t dt = b.at - a.at;
    if (dt < kMinSpanNs) break;
    const double dt_s = static_cast<double>(dt) / 1e9;
    const double err = (static_cast<double>(a.uncertainty) + static_cast<double>(b.uncertainty)) / dt_s;
    if (err < best_err) {
      best_err = err;
      r.ppb = static_cast<double>(b.offset - a.offset) / dt_s;
    }
  }
  if (std::isinf(best_err) || std::fabs(r.ppb) > static_cast<double>(kMaxRateErrorPpb)) return Rate{};
  const double err = best_err + std::max(drift_ppb, 0.0) + 1;  // + 1: the agent rounds to whole ppb
  r.error_ppb = err < static_cast<double>(kMaxRateErrorPpb) ? static_cast<uint64_t>(std::ceil(err))
                                                            : kMaxRateErrorPpb;
  return r;
}

}  // namespace timesync::master
