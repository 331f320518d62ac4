#include "timesync/estimator/beacon.hpp"

#include <cmath>
#include <limits>

namespace timesync::estimator {

namespace {
// The line's offset prediction (master minus local) at local time t.
double predicted_offset(const Line& line, int64_t t_ns) {
  return static_cast<double>(line.at(LocalTime{t_ns}).ns - t_ns);
}
uint64_t ceil_pos(double v) { return v <= 0 ? 0 : static_cast<uint64_t>(std::ceil(v)); }
}  // namespace

const char* to_string(BeaconVerdict v) {
  switch (v) {
    case BeaconVerdict::kSample: return "sample";
    case BeaconVerdict::kUncalibrated: return "one-way delay not calibrated yet";
    case BeaconVerdict::kQueued: return "delayed beyond beacon.max_excess_us over the floor";
    case BeaconVerdict::kInvalid: return "invalid";
  }
  return "?";
}

void BeaconCombiner::reset() {
  window_.clear();
  cals_.clear();
  calibrated_ = false;
  d_hat_ns_ = 0;
  cal_u_ns_ = 0;
}

size_t BeaconCombiner::floor_index(const Line& line, double* rho_min) const {
  // Recomputed against the current line every time: a rho stored under an
  // older line would carry that line's slew.
  size_t best = 0;
  *rho_min = std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < window_.size(); ++i) {
    const double rho = predicted_offset(line, window_[i].rx_ns) - static_cast<double>(window_[i].raw_ns);
    if (rho < *rho_min) {
      *rho_min = rho;
      best = i;
    }
  }
  return best;
}

bool BeaconCombiner::calibrate(const Sample& two_way, const Line& line, double growth_ppb) {
  const size_t need = static_cast<size_t>(std::min(p_.min_beacons_to_calibrate, p_.window));
  if (window_.size() < need) return false;
  double rho_min = 0;
  const size_t f = floor_index(line, &rho_min);
  // d of the floor beacon = offset at its time - r = o + (P(t_f) - P(s)) - r_f.
  const double d = static_cast<double>(two_way.offset_ns) - predicted_offset(line, two_way.local.ns) +
                   rho_min;
  const double gap_s = std::fabs(static_cast<double>(window_[f].rx_ns - two_way.local.ns)) / 1e9;
  // The master's own error shifts o and every beacon stamp alike, so it is not
  // part of d's uncertainty; each beacon sample carries it again.
  const uint64_t hard = two_way.measurement_error_ns() - two_way.master_error_ns;
  cals_.push_back({std::llround(d), hard + ceil_pos(growth_ppb * gap_s) + 1});  // +1: rounding
  while (cals_.size() > kCalibrations) cals_.pop_front();
  const Calibration* best = &cals_.back();
  for (const Calibration& c : cals_) {
    if (c.u_ns < best->u_ns) best = &c;
  }
  d_hat_ns_ = best->d_ns;
  cal_u_ns_ = best->u_ns;
  calibrated_ = true;
  return true;
}

BeaconVerdict BeaconCombiner::add(const Beacon& b, const Line& line, double growth_ppb,
                                  Sample* out) {
  window_.push_back({b.rx.ns, b.master_send_ns - b.rx.ns});
  while (static_cast<int>(window_.size()) > p_.window) window_.pop_front();
  if (!calibrated_) return BeaconVerdict::kUncalibrated;

  double rho_min = 0;
  const size_t f = floor_index(line, &rho_min);
  const Seen& me = window_.back();
  const double excess = predicted_offset(line, me.rx_ns) - static_cast<double>(me.raw_ns) - rho_min;
  if (excess > static_cast<double>(p_.max_excess_ns)) return BeaconVerdict::kQueued;
  const double gap_s = static_cast<double>(me.rx_ns - window_[f].rx_ns) / 1e9;
  const uint64_t half = cal_u_ns_ + static_cast<uint64_t>(p_.margin_ns) + ceil_pos(excess) +
                        ceil_pos(growth_ppb * gap_s) + 1;

  out->local = b.rx;
  out->offset_ns = me.raw_ns + d_hat_ns_;
  // Expressed as an equivalent round trip, so measurement_error_ns() (and the
  // servos' noise models, which read delay_ns) see the interval derived above.
  out->delay_ns = static_cast<int64_t>(2 * half);
  out->master_error_ns = b.master_error_ns;
  out->correction_ns = 0;  // a calibration correction is already inside d_hat
  // What is certain: the beacon left the master before it arrived, so the
  // true offset is at least r - the master's error (offset - d_hat - error).
  out->round_trip_ns = 0;
  out->one_way = true;
  out->one_way_below_ns = d_hat_ns_ + static_cast<int64_t>(b.master_error_ns);
  // A beacon at the floor weighs as much as the calibrating exchange; one
  // delayed by its own uncertainty again weighs a quarter.
  const double base = static_cast<double>(cal_u_ns_ + static_cast<uint64_t>(p_.margin_ns));
  const double q = base / (base + std::max(0.0, excess));
  out->weight = q * q;
  return BeaconVerdict::kSample;
}

}  // namespace timesync::estimator
