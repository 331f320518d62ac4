// Estimator: filter + servo + shared policy + error bound. Pure: samples and
// times go in, a line with an error bound comes out. No I/O, no clock reads.
//
// Policy applied once for every servo (linuxptp keeps it in its factory too):
//   - the first accepted sample sets the timeline (a step: epoch + 1); while the
//     estimator has never been locked, an error above step_threshold steps again;
//     afterwards phase is only slewed, so synchronized time never runs backwards
//     within an epoch;
//   - the servo's frequency is held inside the hard frequency envelope
//     (envelope.hpp: what the samples' intervals allow, never beyond
//     max_freq_ppb), and the slew inside max_slew_ppb.
//
// Error bound. It rests on facts, not on the servo's statistics:
//   - every two-way sample's hard interval (offset -/+ delay/2 + master error
//     + |calibration| + max_freq x round trip) contains the truth; a beacon
//     bounds it from below;
//   - the frequency lies inside the envelope (assumption: it changes no faster
//     than holdover_wander_ppb_per_s per second).
// Change detector: a sample whose hard interval lies outside the band the
// published bound promised, or two samples in a row whose offsets leave the
// servo's prediction, on the same side, by more than 5x the path's typical
// scatter (the median absolute deviation of recent innovations around their
// median; half a sample's delay above the minimum is queueing, not a change,
// and is discounted), mean the frequency moved (a thermal
// step, a ramp faster than A): the envelope, the bound's recent samples and the servo drop
// what came before the first of them, so the bound widens at once instead of
// trusting a stale frequency, and the servo re-learns within seconds. Already
// after the first such sample the growth includes the rate it implies
// (|innovation| / time since the previous sample), until a normal one comes.
// Older samples are carried at twice the growth, so that a growth a step made
// too small, for the sample or two before the detector fires, does not let
// them cut the truth off. So the line's rate error is at most
//   growth = max(farthest envelope edge from the line's rate, slew and every
//                clamp included; the servo's unclamped frequency's distance
//                from it) + A x (as_of - envelope time) + min_freq_uncertainty
// and, carrying each recent sample's interval to as_of at that rate (plus
// A x age^2), the truth at as_of lies in the intersection of their lower and
// upper sides: bound(as_of) is the larger distance from the line to either
// side. Readers then add growth (+ A x the time to void_after, growth_until)
// per second since as_of. Few samples make a wide envelope, so the bound
// widens by itself while the estimator warms up, and shrinks as the window
// lengthens; a servo that clamps or fits badly costs a wider bound, never a
// dishonest one.
//
// Thread safety: none; owned by the agent's measurement loop.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>

#include "timesync/estimator/envelope.hpp"
#include "timesync/estimator/filter.hpp"
#include "timesync/estimator/sample.hpp"
#include "timesync/estimator/servo.hpp"

namespace timesync::estimator {

struct EstimatorParams {
  FilterParams filter;
  double step_threshold_ns = 1e6;
  double max_slew_ppb = 500e3;
  double max_freq_ppb = 1000e3;
  // Floor of the bound's growth rate, whatever the envelope says.
  double min_freq_uncertainty_ppb = 10;
  // A: how fast the local crystal's frequency may change (ppb per second),
  // in the envelope and while no sample arrives.
  double holdover_wander_ppb_per_s = 1;
  int min_samples_to_lock = 4;
  // The envelope's window: at most this many two-way samples over this long.
  size_t envelope_points = 256;
  int64_t envelope_span_ns = 64'000'000'000;
};

struct Estimate {
  bool valid = false;            // a line exists
  Line line;                     // the line to publish (slew included)
  uint64_t epoch = 0;            // + 1 on every step
  LocalTime as_of;               // the last accepted sample's time
  uint64_t bound_at_as_of_ns = 0;
  double growth_ppb = 0;         // excluding holdover wander
  double freq_est_ppb = 0;       // the servo's, held inside the envelope
  double freq_sigma_ppb = -1;    // the servo's own (statistical) uncertainty
  FreqInterval freq_envelope;    // the hard one
  double slew_ppb = 0;
  double phase_error_ns = 0;     // of the last accepted sample against the line
  int64_t last_delay_ns = 0;
  uint64_t accepted = 0;
  uint64_t rejected = 0;
  uint64_t model_breaks = 0;     // samples contradicted the envelope's assumption
  uint64_t freq_changes = 0;     // frequency changes detected (thermal steps, ramps)
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
  // A sample the filter rejects changes no line, but its hard interval still
  // tightens the bound and moves as_of (the estimate must then be published
  // again, like an accepted one).
  AddResult add(const Exchange& x, LocalTime now);
  // Feeds a sample built elsewhere (a calibrated one-way beacon, see
  // beacon.hpp): the round-trip filter is skipped (its delay is not a round
  // trip; the caller filtered it), the rest is as for add(). A one-way sample
  // enters the bound only through its hard lower side.
  AddResult add_sample(const Sample& s, LocalTime now);
  const Estimate& estimate() const { return est_; }
  // Bound growth that stays honest until `horizon` (e.g. void_after): adds the
  // holdover wander accumulated between as_of and horizon.
  double growth_until(LocalTime horizon) const;
  // Locked: enough samples, and two-way ones that narrow the frequency below
  // the prior (|f| <= max_freq_ppb). Whether the bound is small enough to
  // serve is the caller's policy (alarm.max_error_us).
  bool locked() const;
  // The master changed its timeline: forget everything; the next sample steps.
  void reset();
  // The exchanges now take another path (another transport): the filter's
  // minimum delay belongs to the old one. The line and the bound stay: every
  // hard interval, of either path, still holds.
  void path_changed() { filter_.reset(); deviation_run_ = 0; }
  const char* servo_name() const { return servo_->name(); }
  InnovationStats innovations() const { return servo_->innovations(); }

 private:
  // An accepted sample (r->sample) through the step policy, servo and bound.
  void accept(AddResult* r, LocalTime now);
  // A sample the filter kept from the servo: its hard interval still enters
  // the envelope and the bound.
  void observe(const Sample& s);
  // Keeps s among the recent samples the bound is taken from.
  void remember(const Sample& s);
  // growth and bound(as_of) for the current line.
  void update_bound(LocalTime as_of);
  // The change detector, fed every sample the servo's model should explain
  // (accepted or rejected as deviating; not queued ones). When the frequency
  // changed, returns when (everything before is then forgotten); else 0.
  LocalTime frequency_changed(const Sample& s);
  void restart_from(LocalTime since);
  // The hard interval of a sample: [offset - below, offset + above].
  double below_ns(const Sample& s) const;
  double above_ns(const Sample& s) const;  // infinity for a one-way sample
  // bound(as_of) from the recent samples, against `line` growing at `growth`.
  uint64_t bound_at(const Line& line, LocalTime as_of, double growth) const;

  EstimatorParams p_;
  std::unique_ptr<Servo> servo_;
  SampleFilter filter_;
  FrequencyEnvelope envelope_;
  Estimate est_;
  bool ever_locked_ = false;
  uint64_t since_reset_ = 0;
  static constexpr int kMaxDeviationRun = 8;
  static constexpr size_t kRecentSamples = 16;
  // Accepted since the last reset, newest last: two-way and one-way apart, so
  // a stream of beacons never pushes the last two-way (upper) side out.
  std::deque<Sample> recent_two_way_, recent_one_way_;
  int deviation_run_ = 0;
  // Change detector: |innovation| of recent samples (their median is a robust
  // scale of the path's noise), and the current run of large ones.
  static constexpr size_t kInnovationScaleWindow = 32;
  std::deque<double> innovations_;
  int big_run_ = 0;
  int big_run_sign_ = 0;
  LocalTime big_run_start_;
  LocalTime last_checked_;         // the previous sample the detector saw
  double suspect_rate_ppb_ = 0;    // |last innovation| / time since the one before, when large
  double servo_freq_ppb_ = 0;      // the servo's own frequency, before any clamp
};

}  // namespace timesync::estimator
