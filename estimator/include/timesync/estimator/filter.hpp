// SampleFilter: keeps the samples worth trusting (seed 001, step 2).
//
// The minimum delay over the last `window` exchanges is the path with no
// queueing. A sample whose delay exceeds max_delay_ratio x that minimum was
// queued somewhere and is rejected (chrony's maxdelayratio). A sample whose
// offset departs from the servo's prediction by more than max_delay_dev_ratio x
// its excess delay is rejected too (chrony's maxdelaydevratio): queueing can only
// shift the offset by about the excess delay it added. Accepted samples carry a
// weight (min_delay / delay)^2. Rejected samples still update the minimum.
//
// Thread safety: none; one filter per agent loop.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>

#include "timesync/estimator/sample.hpp"

namespace timesync::estimator {

struct FilterParams {
  int window = 32;
  double max_delay_ratio = 3.0;
  double max_delay_dev_ratio = 10.0;
  // Delays below this are treated as this: on loopback a 20 us minimum would
  // otherwise make every 60 us sample "queued".
  int64_t delay_floor_ns = 20'000;
};

enum class Verdict { kAccepted, kInvalid, kDelayRatio, kDelayDeviation };
const char* to_string(Verdict v);

class SampleFilter {
 public:
  explicit SampleFilter(FilterParams p) : p_(p) {}
  // predicted_offset_ns: the servo's offset prediction at the sample's time, if
  // it has one (enables the deviation test).
  Verdict add(const Exchange& x, std::optional<double> predicted_offset_ns, Sample* out);
  int64_t min_delay_ns() const;
  void reset() { delays_.clear(); }

 private:
  FilterParams p_;
  std::deque<int64_t> delays_;
};

}  // namespace timesync::estimator
