// BeaconCombiner: turns one-way timing beacons into samples (seed 003's timing
// beacons, with its hand-measured TX_CHAIN_DELAY replaced by a measured one).
//
// A beacon is the master's time m stamped just before it was written, received
// at local time t:   r = m - t = offset(t) - d,   d >= 0 its one-way delay.
// A two-way sample (offset o at local time s, hard half-width U) calibrates d:
// the least-delayed beacon of the window ("the floor") has
//   d_hat = o - P(s) + rho_min,   rho_i = P(t_i) - r_i,
// where P(t) = line(t) - t is the estimator's offset prediction, used only to
// carry o from s to the floor beacon's time. Its uncertainty is
//   cal_U = U + growth x |t_floor - s|   (the line's slope error over that gap).
// Of the last kCalibrations calibrations the one with the smallest cal_U is
// used (a queued calibrating exchange would otherwise shift every beacon
// until the next one): the seed's TX_CHAIN_DELAY as the best recent
// measurement.
// Each later beacon j then becomes the sample offset_j = r_j + d_hat, whose
// true error d_j - d_hat lies within
//   +/- (cal_U + margin + excess_j + growth x |t_j - t_floor|)
// with excess_j = rho_j - rho_min (>= 0) its delay beyond the window's floor:
//   - cal_U: the calibrating exchange's own delay/2 (+ |calibration|), the same
//     hard interval polling uses, carried through d_hat;
//   - margin: how far the floor may move between calibrations (configured);
//   - excess_j: a queued beacon reads low by its excess; we measure it against
//     the floor and widen (and down-weight) the sample by it, or drop the
//     beacon when it exceeds max_excess;
//   - growth term: rho is taken against a line whose slope may be wrong by the
//     estimator's growth rate (|slew| + k sigma(freq) + floor).
// The assumption (stated, not hidden): the least-delayed beacon of the window
// was at the path's floor within `margin`, both at calibration and now. The
// two-way exchanges keep feeding the estimator as the hard anchors.
//
// Units: ns on the local clock (t, s) and on the master's timeline (m); growth
// in ppb. Pure: no clock reads, no I/O. Thread safety: none; one per agent loop.
#pragma once

#include <cstdint>
#include <deque>

#include "timesync/estimator/sample.hpp"
#include "timesync/estimator/servo.hpp"

namespace timesync::estimator {

struct BeaconParams {
  int window = 32;                   // beacons the floor is found over
  int64_t max_excess_ns = 30'000;    // beacons delayed more than this beyond the floor: dropped
  int64_t margin_ns = 10'000;        // floor movement allowed between calibrations
  int min_beacons_to_calibrate = 4;  // a floor needs a few beacons to be one
};

struct Beacon {
  LocalTime rx;                 // local receive time
  int64_t master_send_ns = 0;   // master's stamp, its timeline
  uint64_t master_error_ns = 0;
};

enum class BeaconVerdict { kSample, kUncalibrated, kQueued, kInvalid };
const char* to_string(BeaconVerdict v);

// The estimator's line with its slope replaced by the frequency estimate.
inline Line reference_line(const Line& published, double freq_est_ppb) {
  return Line{published.ref_local, published.ref_sync, freq_est_ppb};
}

class BeaconCombiner {
 public:
  explicit BeaconCombiner(BeaconParams p) : p_(p) {}

  // Records the beacon and, once calibrated, builds its sample. `line` carries
  // the estimator's offset prediction: use reference_line(), whose slope is
  // the frequency estimate WITHOUT the slew (a slew of tens of ppm while a
  // phase error is removed would otherwise tilt the window and make every
  // beacon look queued). `growth_ppb`: Estimate::growth_ppb (it includes
  // |slew|, so it is conservative here).
  BeaconVerdict add(const Beacon& b, const Line& line, double growth_ppb, Sample* out);
  // Calibrates d_hat with an accepted two-way sample (the line and growth after
  // it was added). False when the window holds too few beacons.
  bool calibrate(const Sample& two_way, const Line& line, double growth_ppb);

  static constexpr size_t kCalibrations = 4;

  bool calibrated() const { return calibrated_; }
  int64_t delay_ns() const { return d_hat_ns_; }              // d_hat
  uint64_t delay_uncertainty_ns() const { return cal_u_ns_; } // cal_U
  // The master's timeline changed: nothing measured so far holds.
  void reset();
  // A new stream: its path (connection, queues) may differ; recalibrate.
  void restart_stream() { reset(); }

 private:
  struct Seen {
    int64_t rx_ns;
    int64_t raw_ns;  // r = m - t
  };
  // Index of the window's least-delayed beacon against `line`, and its rho.
  size_t floor_index(const Line& line, double* rho_min) const;

  BeaconParams p_;
  std::deque<Seen> window_;
  struct Calibration {
    int64_t d_ns;
    uint64_t u_ns;
  };
  std::deque<Calibration> cals_;  // newest last
  bool calibrated_ = false;
  int64_t d_hat_ns_ = 0;
  uint64_t cal_u_ns_ = 0;
};

}  // namespace timesync::estimator
