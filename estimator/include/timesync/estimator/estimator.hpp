// Estimator: filter + servo + shared policy + error bound. Pure: samples and
// times go in, a line with an error bound comes out. No I/O, no clock reads.
//
// Policy applied once for every servo (linuxptp keeps it in its factory too):
//   - the first accepted sample sets the timeline (a step: epoch + 1); while the
//     estimator has never been locked, an error above step_threshold steps again;
//     afterwards phase is only slewed, so synchronized time never runs backwards
//     within an epoch;
//   - frequency and slew are clamped to max_freq_ppb and max_slew_ppb.
//
// Error bound (seed 001, step 4), at the last accepted sample's time as_of:
//   bound(as_of) = |phase error of the line| + delay/2 + master error, or
//                  tighter: the smallest such error over the recent samples,
//                  each carried to as_of with the growth below
//   growth       = |slew| + k x sigma(freq) + min_freq_uncertainty
//                  (+ holdover wander x time since as_of, see growth_until)
// sigma(freq) is the standard error of the frequency fit, so the growth is
// estimated from the data, not fixed. Until sigma exists, growth = max_freq_ppb.
//
// Thread safety: none; owned by the agent's measurement loop.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>

#include "timesync/estimator/filter.hpp"
#include "timesync/estimator/sample.hpp"
#include "timesync/estimator/servo.hpp"

namespace timesync::estimator {

struct EstimatorParams {
  FilterParams filter;
  double step_threshold_ns = 1e6;
  double max_slew_ppb = 500e3;
  double max_freq_ppb = 1000e3;
  double min_freq_uncertainty_ppb = 10;
  double holdover_wander_ppb_per_s = 1;
  double sigma_multiplier = 4;
  int min_samples_to_lock = 4;
};

struct Estimate {
  bool valid = false;            // a line exists
  Line line;                     // the line to publish (slew included)
  uint64_t epoch = 0;            // + 1 on every step
  LocalTime as_of;               // the last accepted sample's time
  uint64_t bound_at_as_of_ns = 0;
  double growth_ppb = 0;         // excluding holdover wander
  double freq_est_ppb = 0;
  double freq_sigma_ppb = -1;
  double slew_ppb = 0;
  double phase_error_ns = 0;     // of the last accepted sample against the line
  int64_t last_delay_ns = 0;
  uint64_t accepted = 0;
  uint64_t rejected = 0;
};

struct AddResult {
  Verdict verdict = Verdict::kInvalid;
  Sample sample;
  bool stepped = false;
};

class Estimator {
 public:
  Estimator(EstimatorParams p, std::unique_ptr<Servo> servo);

  // Feeds one exchange. `now` is the local time from which a new line takes
  // effect (the time of publication, never earlier than any reader's read).
  AddResult add(const Exchange& x, LocalTime now);
  // Feeds a sample built elsewhere with its own interval (a calibrated one-way
  // beacon, see beacon.hpp): the round-trip filter is skipped (its delay is
  // not a round trip; the caller filtered it), the rest is as for add(). Its
  // measurement_error_ns() must contain the truth: it enters the bound.
  AddResult add_sample(const Sample& s, LocalTime now);
  const Estimate& estimate() const { return est_; }
  // Bound growth that stays honest until `horizon` (e.g. void_after): adds the
  // holdover wander accumulated between as_of and horizon.
  double growth_until(LocalTime horizon) const;
  // Locked: enough samples for a frequency with a known uncertainty.
  bool locked() const;
  // The master changed its timeline: forget everything; the next sample steps.
  void reset();
  const char* servo_name() const { return servo_->name(); }
  InnovationStats innovations() const { return servo_->innovations(); }

 private:
  // An accepted sample (r->sample) through the step policy, servo and bound.
  void accept(AddResult* r, LocalTime now);

  EstimatorParams p_;
  std::unique_ptr<Servo> servo_;
  SampleFilter filter_;
  Estimate est_;
  bool ever_locked_ = false;
  uint64_t since_reset_ = 0;
  static constexpr int kMaxDeviationRun = 8;
  static constexpr size_t kRecentSamples = 16;
  std::deque<Sample> recent_;  // accepted since the last step, newest last
  int deviation_run_ = 0;
};

}  // namespace timesync::estimator
