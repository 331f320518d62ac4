#include "timesync/estimator/estimator.hpp"

#include <algorithm>
#include <cmath>

namespace timesync::estimator {

namespace {
uint64_t ceil_abs(double v) { return static_cast<uint64_t>(std::ceil(std::fabs(v))); }
}  // namespace

Estimator::Estimator(EstimatorParams p, std::unique_ptr<Servo> servo)
    : p_(p), servo_(std::move(servo)), filter_(p.filter) {}

bool Estimator::locked() const {
  return est_.valid && since_reset_ >= static_cast<uint64_t>(p_.min_samples_to_lock) &&
         est_.freq_sigma_ppb >= 0;
}

void Estimator::reset() {
  servo_->reset();
  filter_.reset();
  const uint64_t epoch = est_.epoch;
  const uint64_t accepted = est_.accepted, rejected = est_.rejected;
  est_ = Estimate{};
  est_.epoch = epoch;
  est_.accepted = accepted;
  est_.rejected = rejected;
  ever_locked_ = false;
  since_reset_ = 0;
  recent_.clear();
}

double Estimator::growth_until(LocalTime horizon) const {
  const double age_s = std::max(0.0, static_cast<double>(horizon.ns - est_.as_of.ns) / 1e9);
  return est_.growth_ppb + p_.holdover_wander_ppb_per_s * age_s;
}

AddResult Estimator::add(const Exchange& x, LocalTime now) {
  AddResult r;
  std::optional<double> predicted;
  double pred = 0;
  // A run of deviation rejections means the prediction, not the path, is wrong
  // (e.g. a frequency fitted on a queued sample): stop trusting it.
  if (locked() && deviation_run_ < kMaxDeviationRun &&
      servo_->predict_offset(LocalTime{(x.t0.ns + x.t3.ns) / 2}, &pred)) {
    predicted = pred;
  }
  r.verdict = filter_.add(x, predicted, &r.sample);
  deviation_run_ = r.verdict == Verdict::kDelayDeviation ? deviation_run_ + 1 : 0;
  if (r.verdict != Verdict::kAccepted) {
    ++est_.rejected;
    return r;
  }
  accept(&r, now);
  return r;
}

AddResult Estimator::add_sample(const Sample& s, LocalTime now) {
  AddResult r;
  r.verdict = Verdict::kAccepted;
  r.sample = s;
  accept(&r, now);
  return r;
}

void Estimator::accept(AddResult* out, LocalTime now) {
  AddResult& r = *out;
  ++est_.accepted;
  ++since_reset_;
  const Sample& s = r.sample;
  const double master_at_sample = static_cast<double>(s.local.ns + s.offset_ns);

  double phase_error = 0;
  if (!est_.valid) {
    r.stepped = true;
  } else {
    phase_error = master_at_sample - static_cast<double>(est_.line.at(s.local).ns);
    r.stepped = !ever_locked_ && std::fabs(phase_error) > p_.step_threshold_ns;
  }
  Line line = est_.line;
  if (r.stepped) {
    // Start the timeline at the sample: the one place time may jump.
    line = Line{s.local, SyncTime{s.local.ns + s.offset_ns}, est_.valid ? est_.line.freq_ppb : 0};
    ++est_.epoch;
    phase_error = 0;
  }
  ServoDecision d = servo_->update(s, phase_error);
  const double freq = std::clamp(d.freq_est_ppb, -p_.max_freq_ppb, p_.max_freq_ppb);
  const double slew = std::clamp(d.slew_ppb, -p_.max_slew_ppb, p_.max_slew_ppb);

  // Re-anchor at `now` so the new rate only applies from here on: sync(t) stays
  // continuous, and monotonic for any reader that read before `now`.
  const LocalTime anchor = std::max(now, line.ref_local);
  Line next{anchor, line.at(anchor), freq + slew};
  // The new line and the old one differ by (anchor - as_of) x (rate change) at
  // the sample's time; the bound must include that too.
  const double shift = static_cast<double>(anchor.ns - s.local.ns) * 1e-9 *
                       (next.freq_ppb - line.freq_ppb);

  est_.valid = true;
  est_.line = next;
  est_.as_of = s.local;
  est_.bound_at_as_of_ns = ceil_abs(phase_error) + ceil_abs(shift) + s.measurement_error_ns() + 1;
  est_.growth_ppb = (d.freq_sigma_ppb < 0 || since_reset_ < static_cast<uint64_t>(p_.min_samples_to_lock))
                        ? p_.max_freq_ppb + p_.max_slew_ppb
                        : std::fabs(slew) + p_.sigma_multiplier * d.freq_sigma_ppb +
                              p_.min_freq_uncertainty_ppb;
  // Every recent sample is a hard constraint on the new line: the truth at t_i
  // lies within offset_i +/- its measurement error, and the line's error can
  // change from t_i to as_of by at most the growth rate (plus the holdover
  // wander over that span). The tightest constraint bounds the error at
  // as_of, so one queued sample does not inflate the bound the good ones set.
  if (r.stepped) recent_.clear();
  for (const Sample& q : recent_) {
    const double age_s = static_cast<double>(s.local.ns - q.local.ns) / 1e9;
    const double err = std::fabs(static_cast<double>(next.at(q.local).ns - q.local.ns - q.offset_ns)) +
                       static_cast<double>(q.measurement_error_ns()) +
                       (est_.growth_ppb + p_.holdover_wander_ppb_per_s * age_s) * age_s + 2;
    est_.bound_at_as_of_ns = std::min(est_.bound_at_as_of_ns, static_cast<uint64_t>(std::ceil(err)));
  }
  recent_.push_back(s);
  if (recent_.size() > kRecentSamples) recent_.pop_front();
  est_.freq_est_ppb = freq;
  est_.freq_sigma_ppb = d.freq_sigma_ppb;
  est_.slew_ppb = slew;
  est_.phase_error_ns = phase_error;
  est_.last_delay_ns = s.delay_ns;
  if (locked()) ever_locked_ = true;
}

}  // namespace timesync::estimator
