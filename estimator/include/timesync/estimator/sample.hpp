// One round-trip exchange with the master, and the sample derived from it.
//
// Timestamps: t0 (request sent) and t3 (answer received) on the agent's local
// clock; t1 (request received) and t2 (answer sent) on the master's timeline.
//   offset = ((t1 - t0) + (t2 - t3)) / 2   master minus local: positive means the
//                                         local clock is BEHIND the master
//   delay  = (t3 - t0) - (t2 - t1)         round trip minus the master's hold time
// Whatever the path asymmetry, the true offset lies within offset +/- delay/2
// (plus the master's own error): the basis of the error bound.
//
// A calibration correction c (measured with pulse probes: a constant path
// asymmetry) is added to the offset. The hard interval stays where the
// timestamps put it, so the sample's uncertainty grows by |c|: a wrong
// calibration costs accuracy, never the bound's honesty.
//
// Thread safety: plain values.
#pragma once

#include <cstdint>

#include "timesync/types.hpp"

namespace timesync::estimator {

struct Exchange {
  LocalTime t0;
  int64_t t1_ns = 0;
  int64_t t2_ns = 0;
  LocalTime t3;
  uint64_t master_error_ns = 0;
  int64_t correction_ns = 0;  // calibration, added to the offset
  // How far the local stamps t0 and t3 may be from the local clock's true
  // reading: kernel stamps converted from CLOCK_REALTIME carry the paired
  // read's uncertainty. 0 for stamps read from the local clock itself.
  uint64_t stamp_error_ns = 0;
};

struct Sample {
  LocalTime local;        // midpoint of t0 and t3: when the offset was true
  int64_t offset_ns = 0;  // master minus local
  int64_t delay_ns = 0;
  uint64_t master_error_ns = 0;
  int64_t correction_ns = 0;  // already included in offset_ns
  uint64_t stamp_error_ns = 0;  // of the local stamps (Exchange::stamp_error_ns)
  double weight = 1.0;    // (min_delay / delay)^2, in (0, 1]; set by the filter
  // t3 - t0. While the exchange is in flight the two clocks drift apart by up
  // to |frequency| x round trip, which the estimator adds to the hard interval.
  int64_t round_trip_ns = 0;
  // A one-way beacon (beacon.hpp) bounds the truth from below only: the
  // master stamped it before it was sent, so the true offset is at least
  // offset_ns - one_way_below_ns. Its measurement_error_ns() is a calibrated
  // estimate, used for weighting, not a hard interval.
  bool one_way = false;
  int64_t one_way_below_ns = 0;

  // Half the delay plus the master's error plus the calibration's magnitude
  // plus the local stamps' own: the offset's hard uncertainty.
  uint64_t measurement_error_ns() const {
    return static_cast<uint64_t>(delay_ns < 0 ? 0 : delay_ns) / 2 + delay_ns % 2 +
           master_error_ns + stamp_error_ns +
           static_cast<uint64_t>(correction_ns < 0 ? -correction_ns : correction_ns);
  }
};

// Derives the sample; false if the timestamps are impossible (t3 before t0, t2
// before t1, or a negative delay beyond rounding).
bool make_sample(const Exchange& x, Sample* out);

}  // namespace timesync::estimator
