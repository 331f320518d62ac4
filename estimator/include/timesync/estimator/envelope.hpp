// FrequencyEnvelope: the frequencies the samples' hard intervals allow. No
// statistics: what it says holds for certain, under one stated assumption.
//
// A two-way sample says the true offset theta (master minus local, ns) at its
// local time t lay within [lo, hi] (its offset -/+ its hard half-width): a fact
// of the four timestamps, not an estimate. The assumption: the frequency
// f = d theta / dt (ppb, the sign Line uses) changes no faster than A ppb per
// second (EnvelopeParams::accel_ppb_per_s). Then any two samples i < j
// (dt = t_j - t_i, mid = (t_i + t_j) / 2) bound the frequency at the newest
// sample's time T, because their mean frequency differs from f(T) by at most
// A (T - mid):
//     (lo_j - hi_i) / dt - A (T - mid)  <=  f(T)  <=  (hi_j - lo_i) / dt + A (T - mid)
// A frequency f is consistent with every interval (for A = 0: a line of slope
// f crosses them all) exactly when it satisfies every pair, so the envelope is
// the intersection over all pairs, and of the prior |f| <= prior_ppb (what
// max_freq_ppm says any crystal does).
//
// Few samples, close together: a wide envelope (the warm-up widening, by
// itself: four samples 50 ms apart with 200 us intervals allow +-4000 ppm). A
// long window: a narrow one. When the pairs contradict each other, the
// samples broke the assumption (a thermal step or ramp faster than A): the
// oldest samples are dropped until the newer ones agree, and breaks() counts
// it. The estimator grows its bound at the distance between its line's rate
// and the envelope's far edge, so neither a clamp nor an overconfident fit
// can make the bound lie.
//
// Cost: O(n^2) pairs per recompute over at most max_points samples (256:
// 33,000 pairs, tens of microseconds). Units: local ns for times, ns for
// offsets, ppb for frequencies. Pure; thread safety: none.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>

namespace timesync::estimator {

struct EnvelopeParams {
  double prior_ppb = 1e6;          // |f| never exceeds this (max_freq_ppm)
  double accel_ppb_per_s = 1;      // A: |df/dt| never exceeds this
  size_t max_points = 256;
  int64_t max_span_ns = 64'000'000'000;  // oldest kept sample, before the newest
};

// A closed frequency interval, ppb. Empty when lo > hi.
struct FreqInterval {
  double lo = 0, hi = 0;
  double half_width() const { return (hi - lo) / 2; }
  double mid() const { return (lo + hi) / 2; }
  // The farthest any allowed frequency lies from `rate`.
  double farthest_from(double rate) const;
};

class FrequencyEnvelope {
 public:
  explicit FrequencyEnvelope(EnvelopeParams p);

  // theta(t_ns) lies within [offset_ns - half_ns, offset_ns + half_ns].
  // Samples must come in nondecreasing t_ns (an earlier one is ignored).
  void add(int64_t t_ns, int64_t offset_ns, uint64_t half_ns);
  // f at newest_ns(); the prior while fewer than two samples agree.
  const FreqInterval& frequency() const { return f_; }
  // True once two or more samples narrow the prior.
  bool informed() const { return informed_; }
  size_t size() const { return pts_.size(); }
  int64_t newest_ns() const { return pts_.empty() ? 0 : pts_.back().t; }
  int64_t oldest_ns() const { return pts_.empty() ? 0 : pts_.front().t; }
  // Times older samples were dropped because newer ones contradicted them.
  uint64_t breaks() const { return breaks_; }
  // Drops the samples taken before t_ns (the estimator saw the frequency
  // change then): the envelope starts again, wide, from what follows.
  void restart_from(int64_t t_ns);
  void reset();
  const EnvelopeParams& params() const { return p_; }

 private:
  struct Point {
    int64_t t;
    int64_t lo, hi;  // ns
  };
  void recompute();

  EnvelopeParams p_;
  std::deque<Point> pts_;
  FreqInterval f_;
  bool informed_ = false;
  uint64_t breaks_ = 0;
};

}  // namespace timesync::estimator
