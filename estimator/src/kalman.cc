// Kalman servo: state x = (offset ns, frequency ppb), offset = master minus
// local at the state's local time, frequency = d(offset)/dt (ppb = ns/s; > 0:
// the local clock runs slow of the master, the sign the Line uses).
//
// Model between two samples dt seconds apart (the two-state clock model):
//   x' = F x + w,  F = [1 dt; 0 1],
//   Q  = [q1 dt + q2 dt^3/3   q2 dt^2/2]
//        [q2 dt^2/2           q2 dt    ]
// q1 = phase_noise^2 (white FM), q2 = freq_wander^2 (random-walk FM).
// Measurement z = offset of the sample, H = [1 0], R from the sample's delay.
//
// The frequency sigma the error bound grows with is the covariance's, scaled
// up by the RMS of the normalized innovations when that exceeds 1: a noise
// model set too optimistic for the link (measurement_floor_ns too small) then
// costs a wider bound, never a dishonest one.
//
// A frequency step (a thermal transient, or a crystal the model says cannot
// move that fast) shows as innovations many sigmas out. After three such in a
// row, all of one sign, the covariance is widened by what they imply, so the filter re-learns
// instead of trusting a stale frequency for minutes: the fading-memory answer
// to a manoeuvre. A single outlier (the sample filter lets a few through)
// does not trigger it.
#include <algorithm>
#include <cmath>

#include "timesync/estimator/servo.hpp"

namespace timesync::estimator {

namespace {

// Prior frequency uncertainty: crystals are specified within +/-100 ppm.
constexpr double kInitialFreqSigmaPpb = 100e3;
// An innovation beyond this many sigmas counts towards a manoeuvre.
constexpr double kManoeuvreSigmas = 5;
constexpr int kManoeuvreRun = 3;
// After a detected frequency change the frequency is this uncertain again.
constexpr double kRestartFreqSigmaPpb = 50e3;
// Below this many samples the frequency's sigma is the prior's, not the data's.
constexpr int kMinSamplesForSigma = 3;

class KalmanServo final : public Servo {
 public:
  explicit KalmanServo(const KalmanParams& p) : p_(p), innov_(p.innovation_window) {}
  const char* name() const override { return "kalman"; }

  void reset() override {
    n_ = 0;
    run_ = 0;
    innov_.clear();
  }

  InnovationStats innovations() const override { return innov_.stats(); }

  void restart(LocalTime /*since*/) override {
    if (n_ == 0) return;
    // As uncertain about the frequency as after a step: the samples from now
    // on set it (the manoeuvre response, on the estimator's word).
    p11_ = std::max(p11_, kRestartFreqSigmaPpb * kRestartFreqSigmaPpb);
    p01_ = 0;
    run_ = 0;
  }

  ServoDecision update(const Sample& s, double phase_error_ns) override {
    const double r = measurement_variance(s);
    if (n_ == 0) {
      // Offsets can be seconds or hours; keep the state near zero so the
      // doubles keep their nanoseconds.
      origin_ns_ = s.offset_ns;
      t_ns_ = s.local.ns;
      x0_ = 0;
      x1_ = 0;
      p00_ = r;
      p01_ = 0;
      p11_ = kInitialFreqSigmaPpb * kInitialFreqSigmaPpb;
      n_ = 1;
      return decide(s, phase_error_ns);
    }
    const double dt = std::max(0.0, static_cast<double>(s.local.ns - t_ns_) / 1e9);
    predict(dt);
    t_ns_ = s.local.ns;

    const double z = static_cast<double>(s.offset_ns - origin_ns_);
    double y = z - x0_;
    double sv = p00_ + r;
    const double nu = y / std::sqrt(sv);
    // Noise changes sign; a manoeuvre pushes the same way every time.
    const int sign = nu > 0 ? 1 : -1;
    run_ = std::fabs(nu) > kManoeuvreSigmas ? (sign == run_sign_ ? run_ + 1 : 1) : 0;
    run_sign_ = sign;
    innov_.add(y, nu);
    if (run_ >= kManoeuvreRun && dt > 0) {
      // Widen by what the innovation says: its size as a phase error, and as
      // a frequency error accumulated over the last interval.
      p00_ += y * y;
      p11_ += (y / dt) * (y / dt);
      sv = p00_ + r;
      run_ = 0;
    }
    const double k0 = p00_ / sv, k1 = p01_ / sv;
    if (s.one_way) {
      // A beacon shares its calibrated delay with every other beacon: its
      // error is not independent of theirs, so it may move the offset but not
      // teach the frequency (gain [k0, 0], Joseph form for that gain).
      x0_ += k0 * y;
      const double p00 = (1 - k0) * (1 - k0) * p00_ + k0 * k0 * r, p01 = (1 - k0) * p01_;
      p00_ = p00;
      p01_ = p01;
    } else {
      x0_ += k0 * y;
      x1_ += k1 * y;
      const double p00 = (1 - k0) * p00_, p01 = (1 - k0) * p01_, p11 = p11_ - k1 * p01_;
      p00_ = p00;
      p01_ = p01;
      p11_ = std::max(p11, 0.0);
    }
    ++n_;
    return decide(s, phase_error_ns);
  }

  bool predict_offset(LocalTime t, double* offset_ns) const override {
    if (n_ < kMinSamplesForSigma) return false;
    *offset_ns = static_cast<double>(origin_ns_) + x0_ +
                 x1_ * static_cast<double>(t.ns - t_ns_) / 1e9;
    return true;
  }

 private:
  double measurement_variance(const Sample& s) const {
    // weight = (min delay / delay)^2: the noise grows in proportion to the
    // delay, the PLL's model too. Half the excess delay (all of the queueing
    // on one leg) overstated it on the test bed, where most of a slow
    // exchange's extra delay is scheduling on both ends and cancels.
    const double w = std::clamp(s.weight, 1e-6, 1.0);
    return p_.measurement_floor_ns * p_.measurement_floor_ns / w + 1;
  }

  void predict(double dt) {
    const double q1 = p_.phase_noise_ns_per_sqrt_s * p_.phase_noise_ns_per_sqrt_s;
    const double q2 = p_.freq_wander_ppb_per_sqrt_s * p_.freq_wander_ppb_per_sqrt_s;
    x0_ += x1_ * dt;
    // P' = F P F^T + Q
    const double p00 = p00_ + 2 * dt * p01_ + dt * dt * p11_ + q1 * dt + q2 * dt * dt * dt / 3;
    const double p01 = p01_ + dt * p11_ + q2 * dt * dt / 2;
    const double p11 = p11_ + q2 * dt;
    p00_ = p00;
    p01_ = p01;
    p11_ = p11;
  }

  ServoDecision decide(const Sample& s, double phase_error_ns) const {
    ServoDecision d;
    d.freq_est_ppb = x1_;
    const double overconfidence = std::max(1.0, innov_.stats().normalized_std);
    d.freq_sigma_ppb = n_ >= kMinSamplesForSigma ? std::sqrt(p11_) * overconfidence : -1;
    // The line's offset at the sample is (sample offset - phase error); the
    // filter's offset there is origin + x0. Slew their difference away.
    const double line_offset = static_cast<double>(s.offset_ns) - phase_error_ns;
    const double filtered_error = static_cast<double>(origin_ns_) + x0_ - line_offset;
    d.slew_ppb = filtered_error / p_.phase_time_constant_s;
    return d;
  }

  KalmanParams p_;
  InnovationWindow innov_;
  int n_ = 0;         // samples since reset
  int run_ = 0;       // consecutive innovations beyond kManoeuvreSigmas, one sign
  int run_sign_ = 0;
  int64_t origin_ns_ = 0;
  int64_t t_ns_ = 0;  // local time of the state
  double x0_ = 0, x1_ = 0;
  double p00_ = 0, p01_ = 0, p11_ = 0;
};

}  // namespace

std::unique_ptr<Servo> make_kalman_servo(const KalmanParams& p) {
  return std::make_unique<KalmanServo>(p);
}

}  // namespace timesync::estimator
