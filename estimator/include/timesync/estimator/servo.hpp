// Servo interface: turns accepted samples into a local -> synchronized line.
//
// A servo only decides; it never reads or adjusts a clock, and knows nothing of
// the policy (first-lock step, slew and frequency clamps) that Estimator applies
// once for every servo. Times are the agent's local clock.
//
// The line: sync(L) = ref_sync + (L - ref_local) * (1 + freq_ppb * 1e-9).
// freq_ppb > 0 means the local clock runs slow of the master.
//
// Thread safety: none; one servo per agent loop.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <utility>

#include "timesync/estimator/sample.hpp"

namespace timesync::estimator {

struct Line {
  LocalTime ref_local;
  SyncTime ref_sync;
  double freq_ppb = 0;
  SyncTime at(LocalTime t) const;
};

struct ServoDecision {
  // Frequency of the master relative to the local clock (the slow stage).
  double freq_est_ppb = 0;
  // 1-sigma uncertainty of freq_est_ppb, estimated from the samples; negative
  // when too few samples exist to estimate it.
  double freq_sigma_ppb = -1;
  // Extra rate applied to remove the phase error (the fast stage).
  double slew_ppb = 0;
};

// Innovation statistics: how far each accepted sample fell from what the servo
// predicted just before it (sample offset minus predicted offset), over the
// last `window` samples. A servo whose model fits the data has a mean near 0
// and, for the Kalman filter, a normalized deviation (innovation / its
// predicted sigma) near 1: a self-check that needs no ground truth (seed 004).
struct InnovationStats {
  int count = 0;                 // innovations in the window
  double mean_ns = 0;
  double std_ns = 0;             // sample standard deviation; 0 below 2
  double normalized_std = -1;    // std of innovation / predicted sigma; -1: the servo has no sigma
};

// A sliding window of innovations. Plain value; no thread safety.
class InnovationWindow {
 public:
  explicit InnovationWindow(int window) : window_(window < 2 ? 2 : window) {}
  // normalized: the innovation over its predicted sigma, or NaN when unknown.
  void add(double innovation_ns, double normalized);
  void clear();
  InnovationStats stats() const;

 private:
  int window_;
  std::deque<std::pair<double, double>> v_;
};

class Servo {
 public:
  virtual ~Servo() = default;
  virtual const char* name() const = 0;
  virtual void reset() = 0;
  // phase_error_ns: master minus the current line at the sample's time.
  virtual ServoDecision update(const Sample& s, double phase_error_ns) = 0;
  // The offset (master minus local) the servo expects at t, if it can say.
  virtual bool predict_offset(LocalTime t, double* offset_ns) const = 0;
  // The frequency changed at about `since` (the estimator's change detector:
  // a thermal step or ramp): forget what came before it, or stop trusting it,
  // so the next samples set the new frequency quickly.
  virtual void restart(LocalTime since) = 0;
  // Innovations of the samples seen since the last reset.
  virtual InnovationStats innovations() const = 0;
};

struct PllParams {
  double phase_time_constant_s = 2.0;   // fast loop: phase error removed over ~this
  double freq_time_constant_s = 32.0;   // slow loop: frequency from this much history
  int max_samples = 1024;  // 2 x freq_time_constant_s at 16 polls a second
  int innovation_window = 64;
};

// Two-stage loop (seed 001, step 3). Stage 1, slow: the frequency is the slope
// of a weighted least-squares fit of raw offsets over the last
// ~2 x freq_time_constant_s, which also yields its standard error. Stage 2, fast:
// the phase error against the published line is slewed away over
// phase_time_constant_s, weighted by the sample's quality. The stages cannot
// fight: the fit sees raw offsets, never the slewed clock.
std::unique_ptr<Servo> make_pll_servo(const PllParams& p);

struct KalmanParams {
  // The phase error against the published line is slewed away over this long
  // (the filter estimates; the line follows it smoothly, as with the PLL).
  double phase_time_constant_s = 2.0;
  // Oscillator model (the two-state clock model): white frequency noise,
  // which random-walks the phase, and random-walk frequency noise (the
  // wander a crystal shows with temperature). Both are square roots of their
  // spectral densities, so they read as "ns after 1 s" and "ppb after 1 s".
  double phase_noise_ns_per_sqrt_s = 20;
  double freq_wander_ppb_per_sqrt_s = 2;
  // Measurement noise of a sample: floor x delay / (smallest delay in the
  // filter's window), i.e. floor / sqrt(weight), the PLL's weighting. The
  // default suits a LAN of a few hundred us round trip; the normalized
  // innovation deviation says when it does not.
  double measurement_floor_ns = 5000;
  int innovation_window = 64;
};

// Kalman filter over state (offset ns, frequency ppb) with the model above
// (seed 004's tracker): predict with the frequency, correct with each sample,
// its gain set by the two noises. The frequency and its sigma come from the
// covariance; the filtered phase error is slewed away like the PLL's fast
// stage, so the published line never jumps.
std::unique_ptr<Servo> make_kalman_servo(const KalmanParams& p);

}  // namespace timesync::estimator
