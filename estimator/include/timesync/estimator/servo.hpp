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
#include <memory>

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

class Servo {
 public:
  virtual ~Servo() = default;
  virtual const char* name() const = 0;
  virtual void reset() = 0;
  // phase_error_ns: master minus the current line at the sample's time.
  virtual ServoDecision update(const Sample& s, double phase_error_ns) = 0;
  // The offset (master minus local) the servo expects at t, if it can say.
  virtual bool predict_offset(LocalTime t, double* offset_ns) const = 0;
};

struct PllParams {
  double phase_time_constant_s = 2.0;   // fast loop: phase error removed over ~this
  double freq_time_constant_s = 32.0;   // slow loop: frequency from this much history
  int max_samples = 128;
};

// Two-stage loop (seed 001, step 3). Stage 1, slow: the frequency is the slope
// of a weighted least-squares fit of raw offsets over the last
// ~2 x freq_time_constant_s, which also yields its standard error. Stage 2, fast:
// the phase error against the published line is slewed away over
// phase_time_constant_s, weighted by the sample's quality. The stages cannot
// fight: the fit sees raw offsets, never the slewed clock.
std::unique_ptr<Servo> make_pll_servo(const PllParams& p);

}  // namespace timesync::estimator
