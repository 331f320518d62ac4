// SimulatedOscillator: a drifting crystal whose truth is exactly computable.
//
// The simulated clock is derived from the host's CLOCK_MONOTONIC_RAW h (ns):
//   sim(h) = h + initial_offset + integral from start to h of freq(u) du
//   freq(u) = freq_ppm + wander(u) + steps(u)      (fractional; positive = fast)
// so truth_offset_ns(h) = sim(h) - h is positive when the simulated clock is
// ahead of the host.
//   - wander: a random walk in frequency, constant over fixed 100 ms segments,
//     with standard deviation wander_ppb_per_sqrt_s * sqrt(t / 1 s) after t.
//     Segment k's value is a pure function of (seed, k), so two processes built
//     with the same params and start_host_ns read identical times whatever order
//     they query in. The walk is held inside +-100000 ppm so sim stays monotonic,
//     and frozen after kHorizonSegments (~9.7 days) so far-future queries stay cheap.
//   - steps: every step_every_s the frequency changes by +step_ppm, then
//     -step_ppm, then +step_ppm ... (a thermal transient that comes and goes):
//     freq is base for [0, T), base + step for [T, 2T), base for [2T, 3T), ...
//     With step_ramp_s = R > 0 each change is a linear ramp over R instead of
//     a jump (a heater switched on: tens of ppm over seconds): base + step x
//     min(1, (e - T) / R) in [T, 2T), then back down over R from 2T, ...
//   - before start_host_ns the frequency is freq_ppm alone.
// Integration is per segment in long double and rounded to the nearest ns once,
// so the accumulated error stays far below 1 ns over days.
//
// Thread safety: all methods are const and safe to call concurrently; the lazily
// generated wander path is guarded by an internal mutex.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "timesync/timebase/time_source.hpp"

namespace timesync {

struct SimOscillatorParams {
  double initial_offset_s = 0;        // sim - host at start_host_ns; |.| <= 1e9
  double freq_ppm = 0;                // |.| <= 1e5
  double wander_ppb_per_sqrt_s = 0;   // [0, 1e5]; 0 disables wander
  double step_every_s = 0;            // 0 disables steps, else [1e-3, 1e9]
  double step_ppm = 0;                // |.| <= 1e5
  double step_ramp_s = 0;             // [0, step_every_s]; 0 = instant steps
  uint64_t seed = 1;
};

// "" when params are usable, else a message naming the first bad field.
std::string sim_params_error(const SimOscillatorParams& params);

class SimulatedOscillator final : public TimeSource {
 public:
  static constexpr int64_t kSegmentNs = 100'000'000;
  static constexpr int64_t kHorizonSegments = int64_t{1} << 23;

  // Precondition: sim_params_error(params) is empty. Out-of-range values are
  // clamped (non-finite ones read as 0) rather than misbehaving; use
  // make_sim_oscillator() to have them refused instead.
  // `host` is the clock it drifts against; null: the real CLOCK_MONOTONIC_RAW.
  // A VirtualHostClock runs it (and whatever sleeps on it) in simulated time.
  SimulatedOscillator(const SimOscillatorParams& params, int64_t start_host_ns,
                      const HostClock* host = nullptr);
  ~SimulatedOscillator() override;

  int64_t now_ns() const override;
  // Earliest host time at which sim >= source_ns (exact; sim(result) is
  // source_ns or, where sim skips a value, source_ns + 1).
  int64_t to_host_raw_ns(int64_t source_ns) const override;
  int64_t from_host_raw_ns(int64_t host_raw_ns) const override;
  bool sleep_until(int64_t deadline_ns, const Waker* wake = nullptr) const override;
  std::string describe() const override;
  double rate_vs_host_ppb(int64_t host_raw_ns) const override {
    return freq_ppm_at(host_raw_ns) * 1e3;
  }
  int64_t host_now_ns() const override { return host_->now_ns(); }

  // Total fractional frequency at host time, in ppm (for tests and the demo).
  double freq_ppm_at(int64_t host_ns) const;
  // sim(host_ns) - host_ns: the true error of this clock against host raw.
  int64_t truth_offset_ns(int64_t host_ns) const;

  const SimOscillatorParams& params() const { return params_; }
  int64_t start_host_ns() const { return start_; }

 private:
  struct Wander;
  long double drift_ns(int64_t elapsed_ns) const;
  long double step_level(int64_t elapsed_ns) const;

  SimOscillatorParams params_;
  const HostClock* host_;
  int64_t start_;
  int64_t offset_ns_;
  long double base_;           // fractional
  long double step_;           // fractional
  int64_t step_period_ns_;     // 0 = no steps
  int64_t step_ramp_ns_;       // 0 = instant steps
  std::unique_ptr<Wander> wander_;  // null when wander is 0
};

// nullptr when sim_params_error(params) is not empty.
std::unique_ptr<SimulatedOscillator> make_sim_oscillator(const SimOscillatorParams& params,
                                                         int64_t start_host_ns);

}  // namespace timesync
