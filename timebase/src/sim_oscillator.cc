#include "timesync/timebase/sim_oscillator.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <mutex>
#include <numbers>
#include <vector>

namespace timesync {

namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
// The wander walk is held inside this (fractional) so 1 + freq stays > 0.
constexpr long double kMaxWander = 0.1L;
// Segments per checkpoint; the most recently used block is kept whole.
constexpr int64_t kBlock = 1024;

int64_t sat_add(int64_t a, int64_t b) {
  int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? kMax : kMin;
  return r;
}

int64_t sat_sub(int64_t a, int64_t b) {
  int64_t r = 0;
  if (__builtin_sub_overflow(a, b, &r)) return b < 0 ? kMax : kMin;
  return r;
}

// Round to ns, clamped so the conversion is always defined.
int64_t round_ns(long double x) {
  return static_cast<int64_t>(std::llround(std::clamp(x, -9.0e18L, 9.0e18L)));
}

// Counter-based randomness (the splitmix64 finaliser over a Weyl sequence):
// draw n depends only on (seed, n), so any segment can be regenerated alone.
uint64_t draw(uint64_t key, uint64_t n) {
  uint64_t z = key + (n + 1) * 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Standard normal for segment k (Box-Muller on two draws).
double normal_at(uint64_t key, uint64_t k) {
  constexpr double kTwoPow53 = 9007199254740992.0;
  const double u1 = static_cast<double>((draw(key, 2 * k) >> 11) + 1) / kTwoPow53;  // (0, 1]
  const double u2 = static_cast<double>(draw(key, 2 * k + 1) >> 11) / kTwoPow53;    // [0, 1)
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

double finite_clamp(double x, double lo, double hi) {
  return std::isfinite(x) ? std::clamp(x, lo, hi) : 0.0;
}

}  // namespace

// The wander path: segment k has fractional frequency w_k (w_0 = 0,
// w_k = clamp(w_{k-1} + sigma * N_k)) and phi_k = integral of wander from start
// to the start of segment k, in ns. Only every kBlock-th state is stored
// (checkpoints) plus one whole block, so memory stays small over long runs;
// both are produced by the same loop, so values never depend on query order.
struct SimulatedOscillator::Wander {
  struct Seg {
    long double w;
    long double phi;
  };

  Wander(long double sigma_per_segment, uint64_t seed)
      : sigma(sigma_per_segment), key(seed), checkpoints{Seg{0, 0}}, block(kBlock) {}

  Seg segment(int64_t k) {
    const auto b = static_cast<size_t>(k / kBlock);
    std::lock_guard<std::mutex> lock(mu);
    while (checkpoints.size() <= b) fill_block(checkpoints.size() - 1);
    if (block_index != b) fill_block(b);
    return block[static_cast<size_t>(k % kBlock)];
  }

  // Requires mu. Regenerates block b from its checkpoint; appends the next
  // checkpoint when b is the newest block.
  void fill_block(size_t b) {
    Seg s = checkpoints[b];
    const uint64_t first = static_cast<uint64_t>(b) * kBlock;
    for (uint64_t i = 0; i < kBlock; ++i) {
      block[i] = s;
      s.phi += s.w * static_cast<long double>(kSegmentNs);
      s.w = std::clamp(s.w + sigma * normal_at(key, first + i + 1), -kMaxWander, kMaxWander);
    }
    if (checkpoints.size() == b + 1) checkpoints.push_back(s);
    block_index = b;
  }

  const long double sigma;
  const uint64_t key;
  std::mutex mu;
  std::vector<Seg> checkpoints;  // guarded by mu
  std::vector<Seg> block;        // guarded by mu
  size_t block_index = static_cast<size_t>(-1);  // guarded by mu
};

std::string sim_params_error(const SimOscillatorParams& p) {
  auto bad = [](double x, double lo, double hi) {
    return !(std::isfinite(x) && x >= lo && x <= hi);
  };
  if (bad(p.initial_offset_s, -1e9, 1e9)) return "initial_offset_s must be within +-1e9 s";
  if (bad(p.freq_ppm, -1e5, 1e5)) return "freq_ppm must be within +-1e5";
  if (bad(p.wander_ppb_per_sqrt_s, 0, 1e5)) return "wander_ppb_per_sqrt_s must be in [0, 1e5]";
  if (!(p.step_every_s == 0 || !bad(p.step_every_s, 1e-3, 1e9))) {
    return "step_every_s must be 0 (off) or in [1e-3, 1e9] s";
  }
  if (bad(p.step_ppm, -1e5, 1e5)) return "step_ppm must be within +-1e5";
  if (bad(p.step_ramp_s, 0, 1e9) || (p.step_ramp_s > 0 && p.step_ramp_s > p.step_every_s)) {
    return "step_ramp_s must be in [0, step_every_s]";
  }
  return "";
}

SimulatedOscillator::SimulatedOscillator(const SimOscillatorParams& params, int64_t start_host_ns,
                                         const HostClock* host)
    : params_(params), host_(host != nullptr ? host : &real_host_clock()), start_(start_host_ns) {
  params_.initial_offset_s = finite_clamp(params.initial_offset_s, -1e9, 1e9);
  params_.freq_ppm = finite_clamp(params.freq_ppm, -1e5, 1e5);
  params_.wander_ppb_per_sqrt_s = finite_clamp(params.wander_ppb_per_sqrt_s, 0, 1e5);
  params_.step_every_s = finite_clamp(params.step_every_s, 0, 1e9);
  params_.step_ppm = finite_clamp(params.step_ppm, -1e5, 1e5);
  params_.step_ramp_s = finite_clamp(params.step_ramp_s, 0, params_.step_every_s);

  offset_ns_ = round_ns(static_cast<long double>(params_.initial_offset_s) * 1e9L);
  base_ = static_cast<long double>(params_.freq_ppm) / 1e6L;
  step_ = static_cast<long double>(params_.step_ppm) / 1e6L;
  step_period_ns_ = round_ns(static_cast<long double>(params_.step_every_s) * 1e9L);
  step_ramp_ns_ = std::min(step_period_ns_, round_ns(static_cast<long double>(params_.step_ramp_s) * 1e9L));
  if (params_.wander_ppb_per_sqrt_s > 0) {
    // Random walk: variance grows linearly in time, so per 100 ms segment the
    // step sigma is the per-sqrt(s) figure times sqrt(0.1 s).
    const long double seg_s = static_cast<long double>(kSegmentNs) / 1e9L;
    wander_ = std::make_unique<Wander>(
        static_cast<long double>(params_.wander_ppb_per_sqrt_s) / 1e9L * std::sqrt(seg_s),
        params_.seed);
  }
}

SimulatedOscillator::~SimulatedOscillator() = default;

long double SimulatedOscillator::step_level(int64_t e) const {
  if (step_period_ns_ <= 0 || e < 0) return 0;
  const int64_t n = e / step_period_ns_;
  if (n == 0) return 0;
  // Fraction of the way through this period's ramp (1 once it is done).
  const int64_t x = e - n * step_period_ns_;
  const long double r = step_ramp_ns_ > 0 && x < step_ramp_ns_
                            ? static_cast<long double>(x) / static_cast<long double>(step_ramp_ns_)
                            : 1.0L;
  return n % 2 == 1 ? step_ * r : step_ * (1 - r);
}

// Integral of (freq) over [start, start + e], in ns.
long double SimulatedOscillator::drift_ns(int64_t e) const {
  long double d = base_ * static_cast<long double>(e);
  if (e <= 0) return d;
  if (step_period_ns_ > 0 && step_ != 0) {
    // Whole periods, then the running one. An "on" period (odd) ramps up over
    // R and holds: T - R/2 of full-step time; an "off" one (even, from 2) ramps
    // down: R/2. Counted in integer ns where it can be, so a square wave
    // (R = 0) integrates exactly.
    const int64_t n = e / step_period_ns_;
    const int64_t x = e - n * step_period_ns_;
    const long double T = static_cast<long double>(step_period_ns_);
    const long double R = static_cast<long double>(step_ramp_ns_);
    const long double X = static_cast<long double>(x);
    long double full = static_cast<long double>(n / 2) * (T - R / 2);
    if (n >= 1) full += static_cast<long double>((n - 1) / 2) * (R / 2);
    long double part = 0;
    if (n % 2 == 1) {
      part = X < R ? X * X / (2 * R) : X - R / 2;
    } else if (n >= 2) {
      part = X < R ? X - X * X / (2 * R) : R / 2;
    }
    d += step_ * (full + part);
  }
  if (wander_) {
    const int64_t k = std::min(e / kSegmentNs, kHorizonSegments - 1);
    const Wander::Seg s = wander_->segment(k);
    d += s.phi + s.w * static_cast<long double>(e - k * kSegmentNs);
  }
  return d;
}

int64_t SimulatedOscillator::from_host_raw_ns(int64_t host_raw_ns) const {
  const int64_t drift = round_ns(drift_ns(sat_sub(host_raw_ns, start_)));
  return sat_add(sat_add(host_raw_ns, offset_ns_), drift);
}

int64_t SimulatedOscillator::to_host_raw_ns(int64_t source_ns) const {
  // Fixed-point iteration h = s - offset - drift(h) contracts by |freq| (~1e-5),
  // so a few passes land within a ns or two of the answer.
  const int64_t s0 = sat_sub(source_ns, offset_ns_);
  int64_t h = s0;
  for (int i = 0; i < 4; ++i) h = sat_sub(s0, round_ns(drift_ns(sat_sub(h, start_))));
  // Bracket sim(lo) < source_ns <= sim(hi), then bisect to the earliest such host time.
  int64_t lo = h;
  int64_t hi = h;
  for (int64_t step = 1; from_host_raw_ns(lo) >= source_ns; step = std::min(step * 2, kMax / 2)) {
    if (lo == kMin) return kMin;
    lo = sat_sub(lo, step);
  }
  for (int64_t step = 1; from_host_raw_ns(hi) < source_ns; step = std::min(step * 2, kMax / 2)) {
    if (hi == kMax) return kMax;
    hi = sat_add(hi, step);
  }
  while (static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo) > 1) {
    const int64_t mid =
        lo + static_cast<int64_t>((static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo)) / 2);
    if (from_host_raw_ns(mid) >= source_ns) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  return hi;
}

int64_t SimulatedOscillator::now_ns() const { return from_host_raw_ns(host_->now_ns()); }

bool SimulatedOscillator::sleep_until(int64_t deadline_ns, const Waker* wake) const {
  if (host_ == &real_host_clock()) return sleep_until_via_host_raw(deadline_ns, wake);
  return host_->sleep_until(to_host_raw_ns(deadline_ns), wake);
}

double SimulatedOscillator::freq_ppm_at(int64_t host_ns) const {
  const int64_t e = sat_sub(host_ns, start_);
  long double f = base_ + step_level(e);
  if (wander_ && e >= 0) f += wander_->segment(std::min(e / kSegmentNs, kHorizonSegments - 1)).w;
  return static_cast<double>(f * 1e6L);
}

int64_t SimulatedOscillator::truth_offset_ns(int64_t host_ns) const {
  return sat_sub(from_host_raw_ns(host_ns), host_ns);
}

std::string SimulatedOscillator::describe() const {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "simulated oscillator: offset %.9g s, freq %.6g ppm, wander %.6g ppb/sqrt(s), "
                "steps +-%.6g ppm every %.6g s (ramp %.6g s), seed %llu",
                params_.initial_offset_s, params_.freq_ppm, params_.wander_ppb_per_sqrt_s,
                params_.step_ppm, params_.step_every_s, params_.step_ramp_s,
                static_cast<unsigned long long>(params_.seed));
  return buf;
}

std::unique_ptr<SimulatedOscillator> make_sim_oscillator(const SimOscillatorParams& params,
                                                         int64_t start_host_ns) {
  if (!sim_params_error(params).empty()) return nullptr;
  return std::make_unique<SimulatedOscillator>(params, start_host_ns);
}

}  // namespace timesync
