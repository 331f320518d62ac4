#include "timesync/estimator/filter.hpp"

#include <algorithm>
#include <cmath>

namespace timesync::estimator {

const char* to_string(Verdict v) {
  switch (v) {
    case Verdict::kAccepted: return "accepted";
    case Verdict::kInvalid: return "invalid timestamps";
    case Verdict::kDelayRatio: return "delay above max_delay_ratio x minimum";
    case Verdict::kDelayDeviation: return "offset deviates more than its excess delay allows";
  }
  return "?";
}

int64_t SampleFilter::min_delay_ns() const {
  return delays_.empty() ? 0 : *std::min_element(delays_.begin(), delays_.end());
}

Verdict SampleFilter::add(const Exchange& x, std::optional<double> predicted_offset_ns,
                          Sample* out) {
  if (!make_sample(x, out)) return Verdict::kInvalid;
  delays_.push_back(out->delay_ns);
  while (static_cast<int>(delays_.size()) > p_.window) delays_.pop_front();
  const auto floor = static_cast<double>(std::max(min_delay_ns(), p_.delay_floor_ns));
  const auto delay = static_cast<double>(std::max(out->delay_ns, p_.delay_floor_ns));
  if (delay > p_.max_delay_ratio * floor) return Verdict::kDelayRatio;
  if (predicted_offset_ns) {
    // Queueing of `excess` ns shifts the offset by at most excess/2; allow the
    // configured multiple of that, plus the path's own half delay as slack.
    const double excess = delay - floor;
    const double deviation = std::fabs(static_cast<double>(out->offset_ns) - *predicted_offset_ns);
    if (deviation > p_.max_delay_dev_ratio * excess + floor) return Verdict::kDelayDeviation;
  }
  const double q = floor / delay;
  out->weight = q * q;
  return Verdict::kAccepted;
}

}  // namespace timesync::estimator
