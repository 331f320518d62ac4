#include "timesync/estimator/sample.hpp"

namespace timesync::estimator {

bool make_sample(const Exchange& x, Sample* out) {
  const int64_t round_trip = x.t3.ns - x.t0.ns;
  const int64_t hold = x.t2_ns - x.t1_ns;
  if (round_trip < 0 || hold < 0) return false;
  const int64_t delay = round_trip - hold;
  // The two clocks tick at rates that differ by ppm, so a zero-length path can
  // show a delay of a few ns below zero; anything worse is a broken exchange.
  if (delay < -1'000) return false;
  out->local = LocalTime{x.t0.ns + round_trip / 2};
  // ((t1 - t0) + (t2 - t3)) / 2 without overflowing on large timelines.
  const int64_t a = x.t1_ns - x.t0.ns;
  const int64_t b = x.t2_ns - x.t3.ns;
  out->offset_ns = a / 2 + b / 2 + (a % 2 + b % 2) / 2 + x.correction_ns;
  out->correction_ns = x.correction_ns;
  out->delay_ns = delay < 0 ? 0 : delay;
  out->master_error_ns = x.master_error_ns;
  out->stamp_error_ns = x.stamp_error_ns;
  out->weight = 1.0;
  out->round_trip_ns = round_trip;
  out->one_way = false;
  out->one_way_below_ns = 0;
  return true;
}

}  // namespace timesync::estimator
