#include "timesync/estimator/estimator.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace timesync::estimator {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
// Larger than any bound a reader would accept, small enough to add to.
constexpr double kNoBound = 1e18;

EnvelopeParams envelope_params(const EstimatorParams& p) {
  EnvelopeParams e;
  e.prior_ppb = p.max_freq_ppb;
  e.accel_ppb_per_s = p.holdover_wander_ppb_per_s;
  e.max_points = p.envelope_points;
  e.max_span_ns = p.envelope_span_ns;
  return e;
}
}  // namespace

Estimator::Estimator(EstimatorParams p, std::unique_ptr<Servo> servo)
    : p_(p), servo_(std::move(servo)), filter_(p.filter), envelope_(envelope_params(p)) {
  est_.freq_envelope = envelope_.frequency();
}

bool Estimator::locked() const {
  return est_.valid && since_reset_ >= static_cast<uint64_t>(p_.min_samples_to_lock) &&
         envelope_.informed();
}

void Estimator::reset() {
  servo_->reset();
  filter_.reset();
  envelope_.reset();
  const uint64_t epoch = est_.epoch;
  const uint64_t accepted = est_.accepted, rejected = est_.rejected, breaks = est_.model_breaks;
  est_ = Estimate{};
  est_.epoch = epoch;
  est_.accepted = accepted;
  est_.rejected = rejected;
  est_.model_breaks = breaks;
  est_.freq_envelope = envelope_.frequency();
  ever_locked_ = false;
  since_reset_ = 0;
  servo_freq_ppb_ = 0;
  recent_two_way_.clear();
  recent_one_way_.clear();
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
  if (r.verdict == Verdict::kInvalid) {
    ++est_.rejected;
    return r;
  }
  if (r.verdict != Verdict::kDelayRatio) {
    const LocalTime since = frequency_changed(r.sample);
    if (since.ns != 0) {
      ++est_.freq_changes;
      restart_from(since);
      // The servo's prediction is what just failed: the deviation test must
      // not keep the samples that would correct it away from the servo.
      deviation_run_ = kMaxDeviationRun;
    }
  }
  if (r.verdict != Verdict::kAccepted) {
    ++est_.rejected;
    observe(r.sample);
    return r;
  }
  accept(&r, now);
  return r;
}

LocalTime Estimator::frequency_changed(const Sample& s) {
  if (!locked()) return LocalTime{0};
  // Hard: the sample's interval lies wholly outside the band the published
  // bound promised at its time. The truth is inside the interval, so the
  // promise was broken: the frequency moved more than the growth allowed.
  // Nothing before this sample is to be trusted.
  if (est_.valid && s.local.ns >= est_.as_of.ns) {
    const double age_s = static_cast<double>(s.local.ns - est_.as_of.ns) / 1e9;
    const double band = static_cast<double>(est_.bound_at_as_of_ns) + growth_until(s.local) * age_s;
    const double rel = static_cast<double>(s.offset_ns - (est_.line.at(s.local).ns - s.local.ns));
    if (rel - below_ns(s) > band || rel + above_ns(s) < -band) {
      big_run_ = 0;
      suspect_rate_ppb_ = age_s > 0 ? std::fabs(rel) / age_s : 0;
      last_checked_ = s.local;
      return s.local;
    }
  }
  // Statistical: innovations against the servo's prediction, against their
  // own recent median and scatter. The median, not zero: a servo may predict
  // with a steady bias (the Kalman filter did, by 8 us), and scaled by raw
  // |innovation| such a bias inflated the threshold tenfold and blinded the
  // detector to a 20 ppm step.
  double pred = 0;
  if (!servo_->predict_offset(s.local, &pred)) return LocalTime{0};
  const double innov = static_cast<double>(s.offset_ns) - pred;
  const double mag = std::fabs(innov);
  // Queueing of `q` ns beyond the path's minimum moves a two-way offset by up
  // to q/2: that much of an innovation is the path, not the frequency. Two
  // queued samples in a row on a busy link otherwise read as a change, and a
  // restart throws away a good frequency (1 in 20 one-minute runs at 10 %
  // queueing). The bound's widening below still takes the whole innovation.
  const double queueing =
      s.one_way ? 0.0
                : std::max(0.0, static_cast<double>(s.delay_ns - filter_.min_delay_ns())) / 2;
  bool big = false;
  double threshold = 0, excess = 0, center = 0;
  if (innovations_.size() >= kInnovationScaleWindow / 2) {
    std::vector<double> v(innovations_.begin(), innovations_.end());
    const auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
    std::nth_element(v.begin(), mid, v.end());
    center = *mid;
    for (double& x : v) x = std::fabs(x - center);
    std::nth_element(v.begin(), mid, v.end());
    // 1.4826 x the median absolute deviation is the standard deviation of
    // Gaussian noise; 5 of them, and never below 2 us (a quiet link's scatter
    // is not a model).
    const double sigma = 1.4826 * *mid;
    threshold = std::max(5 * sigma, 2'000.0);
    big = std::fabs(innov - center) - queueing > threshold;
    // What the path's noise does not explain (beyond 2 sigma) may be the
    // start of a ramp: the bound grows by it until the next sample.
    excess = std::max(0.0, mag - std::max(2 * sigma, 1'000.0));
  }
  // A large one enters the window only at the threshold: the scale follows a
  // noisier path within a window, but a change does not move it at once.
  innovations_.push_back(big ? center + std::copysign(threshold, innov - center) : innov);
  if (innovations_.size() > kInnovationScaleWindow) innovations_.pop_front();
  const int sign = innov > center ? 1 : -1;
  // One large innovation is not yet a change, but until the next sample says
  // which it was, the bound grows as fast as the frequency error it implies
  // (the offset moved that far since the previous sample).
  const double since_s = static_cast<double>(s.local.ns - last_checked_.ns) / 1e9;
  suspect_rate_ppb_ = since_s <= 0 ? 0 : (big ? mag : excess) / since_s;
  last_checked_ = s.local;
  if (!big) {
    big_run_ = 0;
    return LocalTime{0};
  }
  if (big_run_ == 0 || sign != big_run_sign_) {
    big_run_ = 0;
    big_run_start_ = s.local;
  }
  big_run_sign_ = sign;
  if (++big_run_ < 2) return LocalTime{0};
  big_run_ = 0;
  return big_run_start_;
}

void Estimator::restart_from(LocalTime since) {
  envelope_.restart_from(since.ns);
  auto drop_older = [&](std::deque<Sample>& d) {
    while (!d.empty() && d.front().local.ns < since.ns) d.pop_front();
  };
  drop_older(recent_two_way_);
  drop_older(recent_one_way_);
  servo_->restart(since);
}

void Estimator::observe(const Sample& s) {
  // The filter keeps queued or deviating samples out of the servo, whose
  // estimate they would pull; their hard intervals still hold, and one that
  // deviates is often the first sign of a frequency step. So they enter the
  // envelope and the bound: the line stays, as_of moves to the sample.
  if (!est_.valid) return;
  const uint64_t breaks = envelope_.breaks();
  envelope_.add(s.local.ns, s.offset_ns, static_cast<uint64_t>(below_ns(s)));
  est_.model_breaks += envelope_.breaks() - breaks;
  remember(s);
  if (s.local.ns < est_.as_of.ns) return;  // older than what is published: nothing to move
  update_bound(s.local);
}

AddResult Estimator::add_sample(const Sample& s, LocalTime now) {
  AddResult r;
  r.verdict = Verdict::kAccepted;
  r.sample = s;
  accept(&r, now);
  return r;
}

double Estimator::below_ns(const Sample& s) const {
  if (s.one_way) return static_cast<double>(s.one_way_below_ns);
  // The clocks drift apart by up to max_freq x the round trip while the
  // exchange is in flight (sample.hpp): 100 ns per 100 us at 1000 ppm.
  return static_cast<double>(s.measurement_error_ns()) +
         std::ceil(p_.max_freq_ppb * 1e-9 * static_cast<double>(std::max<int64_t>(s.round_trip_ns, 0)));
}

double Estimator::above_ns(const Sample& s) const { return s.one_way ? kInf : below_ns(s); }

uint64_t Estimator::bound_at(const Line& line, LocalTime as_of, double growth) const {
  // The truth minus the line at as_of lies in [lower, upper]: each recent
  // sample's hard interval, relative to the line at its time, widened by what
  // the line's rate error can add between then and as_of.
  double lower = -kInf, upper = kInf;
  const double a = p_.holdover_wander_ppb_per_s;
  auto take = [&](const Sample& q) {
    const double age_s = std::fabs(static_cast<double>(as_of.ns - q.local.ns)) / 1e9;
    // Carried at twice the growth: an older sample may tighten the bound, but
    // a growth a step made too small (until the detector sees it) must not
    // let it cut off the truth. The sample at as_of carries nothing.
    const double carry = 2 * growth * age_s + a * age_s * age_s;
    // offset - (line - local) at q, in int64 first: offsets may be seconds.
    const double rel = static_cast<double>(q.offset_ns - (line.at(q.local).ns - q.local.ns));
    lower = std::max(lower, rel - below_ns(q) - carry);
    upper = std::min(upper, rel + above_ns(q) + carry);
  };
  for (const Sample& q : recent_two_way_) take(q);
  for (const Sample& q : recent_one_way_) take(q);
  if (upper == kInf || lower == -kInf) return static_cast<uint64_t>(kNoBound);
  if (lower > upper) {
    // Hard intervals cannot disagree unless the rate error exceeded `growth`
    // somewhere between them (the crystal broke the envelope's assumption
    // between two checks): widen both sides by the disagreement.
    const double gap = lower - upper;
    lower -= gap;
    upper += gap;
  }
  // +2: Line::at rounds to the nearest ns, here and in the reader.
  return static_cast<uint64_t>(std::ceil(std::min(kNoBound, std::max(std::fabs(lower), std::fabs(upper))))) + 2;
}

void Estimator::remember(const Sample& s) {
  std::deque<Sample>& recent = s.one_way ? recent_one_way_ : recent_two_way_;
  recent.push_back(s);
  if (recent.size() <= kRecentSamples) return;
  // Forget the least useful: the widest interval once carried to now at the
  // current growth. A run of queued samples then cannot push the last good
  // ones out (it did: a route change turned 16 wide samples into the bound).
  auto width = [&](const Sample& q) {
    const double age_s = std::fabs(static_cast<double>(s.local.ns - q.local.ns)) / 1e9;
    return std::min(below_ns(q), kNoBound) + est_.growth_ppb * age_s;
  };
  auto worst = std::max_element(recent.begin(), recent.end() - 1, [&](const Sample& a, const Sample& b) {
    return width(a) < width(b);
  });
  recent.erase(worst);
}

void Estimator::update_bound(LocalTime as_of) {
  // The line's rate against every frequency the envelope allows at its newest
  // sample, plus what the crystal may have moved since: the bound's growth.
  // Everything the servo and the clamps did is in the line's rate.
  const double since_env_s = std::fabs(static_cast<double>(as_of.ns - envelope_.newest_ns())) / 1e9;
  est_.as_of = as_of;
  // The servo's own frequency too: where it leaves the envelope (the
  // envelope's assumption broke before its samples can show it, as in a
  // thermal ramp of ppm per second), the line's rate error is at least that.
  const double rate_error = std::max(envelope_.frequency().farthest_from(est_.line.freq_ppb),
                                     std::fabs(servo_freq_ppb_ - est_.line.freq_ppb));
  est_.growth_ppb = rate_error +
                    p_.holdover_wander_ppb_per_s * since_env_s + p_.min_freq_uncertainty_ppb +
                    suspect_rate_ppb_;
  est_.bound_at_as_of_ns = bound_at(est_.line, as_of, est_.growth_ppb);
  est_.freq_envelope = envelope_.frequency();
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
  if (!s.one_way) {
    const uint64_t breaks = envelope_.breaks();
    envelope_.add(s.local.ns, s.offset_ns, static_cast<uint64_t>(below_ns(s)));
    est_.model_breaks += envelope_.breaks() - breaks;
  }
  const FreqInterval& env = envelope_.frequency();
  ServoDecision d = servo_->update(s, phase_error);
  // The servo's frequency, where the hard intervals allow it to be, and never
  // beyond max_freq (the growth covers a clamp against the envelope).
  double freq = d.freq_est_ppb;
  servo_freq_ppb_ = freq;
  if (envelope_.informed()) freq = std::clamp(freq, env.lo, env.hi);
  freq = std::clamp(freq, -p_.max_freq_ppb, p_.max_freq_ppb);
  const double slew = std::clamp(d.slew_ppb, -p_.max_slew_ppb, p_.max_slew_ppb);

  // Re-anchor at `now` so the new rate only applies from here on: sync(t) stays
  // continuous, and monotonic for any reader that read before `now`.
  const LocalTime anchor = std::max(now, line.ref_local);
  const Line next{anchor, line.at(anchor), freq + slew};

  remember(s);

  est_.valid = true;
  est_.line = next;
  update_bound(s.local);
  est_.freq_est_ppb = freq;
  est_.freq_sigma_ppb = d.freq_sigma_ppb;
  est_.freq_envelope = env;
  est_.slew_ppb = slew;
  est_.phase_error_ns = phase_error;
  est_.last_delay_ns = s.delay_ns;
  if (locked()) ever_locked_ = true;
}

}  // namespace timesync::estimator
