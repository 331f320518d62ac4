#include "timesync/timebase/sim_oscillator.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <random>
#include <thread>
#include <vector>

#include "../../tests/support/test_seed.hpp"

namespace timesync {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kSec = 1'000'000'000;
constexpr int64_t kStart = 5'000 * kSec;  // an arbitrary shared host origin
constexpr int64_t kSeg = SimulatedOscillator::kSegmentNs;

SimOscillatorParams busy_params(uint64_t seed) {
  SimOscillatorParams p;
  p.initial_offset_s = -1.25;
  p.freq_ppm = 35;
  p.wander_ppb_per_sqrt_s = 20;
  p.step_every_s = 7;
  p.step_ppm = 3;
  p.seed = seed;
  return p;
}

TEST(SimOscillator, FrequencyIsExactOverTenSeconds) {
  SimOscillatorParams p;
  p.freq_ppm = 35;
  SimulatedOscillator osc(p, kStart);
  const int64_t advanced = osc.from_host_raw_ns(kStart + 10 * kSec) - osc.from_host_raw_ns(kStart);
  EXPECT_LE(std::llabs(advanced - (10 * kSec + 350'000)), 1);
  EXPECT_LE(std::llabs(osc.truth_offset_ns(kStart + 10 * kSec) - 350'000), 1);
  EXPECT_DOUBLE_EQ(osc.freq_ppm_at(kStart + 3 * kSec), 35.0);
}

TEST(SimOscillator, InitialOffsetHonoured) {
  SimOscillatorParams p;
  p.initial_offset_s = 2.5;
  p.freq_ppm = -12;
  SimulatedOscillator osc(p, kStart);
  EXPECT_EQ(osc.from_host_raw_ns(kStart), kStart + 2'500'000'000);
  EXPECT_EQ(osc.truth_offset_ns(kStart), 2'500'000'000);
  // Before the origin the base frequency still applies, continuously.
  EXPECT_LE(std::llabs(osc.truth_offset_ns(kStart - 100 * kSec) - (2'500'000'000 + 1'200'000)), 1);
}

TEST(SimOscillator, MonotonicAndNeverJumps) {
  auto rng = testing::seeded_rng("SimOscillator.MonotonicAndNeverJumps");
  SimulatedOscillator osc(busy_params(rng()), kStart);
  std::uniform_int_distribution<int64_t> pick(kStart - 10 * kSec, kStart + 3600 * kSec);
  std::vector<int64_t> hosts(5000);
  for (auto& h : hosts) h = pick(rng);
  std::sort(hosts.begin(), hosts.end());
  int64_t prev = std::numeric_limits<int64_t>::min();
  for (int64_t h : hosts) {
    const int64_t s = osc.from_host_raw_ns(h);
    ASSERT_GE(s, prev) << "host " << h;
    prev = s;
  }
  // Across segment, step and block boundaries one host ns moves sim by 0..2 ns.
  for (int64_t e : {int64_t{0}, kSeg, 7 * kSec, 14 * kSec, 1024 * kSeg, 3000 * kSec}) {
    for (int64_t d = -3; d < 3; ++d) {
      const int64_t h = kStart + e + d;
      const int64_t step = osc.from_host_raw_ns(h + 1) - osc.from_host_raw_ns(h);
      EXPECT_GE(step, 0);
      EXPECT_LE(step, 2);
    }
  }
}

TEST(SimOscillator, HostRoundTripWithinOneNanosecond) {
  auto rng = testing::seeded_rng("SimOscillator.HostRoundTripWithinOneNanosecond");
  SimulatedOscillator osc(busy_params(rng()), kStart);
  std::uniform_int_distribution<int64_t> pick(kStart - 10 * kSec, kStart + 3600 * kSec);
  for (int i = 0; i < 2000; ++i) {
    const int64_t s = pick(rng);
    const int64_t h = osc.to_host_raw_ns(s);
    ASSERT_GE(osc.from_host_raw_ns(h), s);
    ASSERT_LE(osc.from_host_raw_ns(h), s + 1);
    ASSERT_LT(osc.from_host_raw_ns(h - 1), s);  // earliest such host time

    const int64_t h2 = pick(rng);
    ASSERT_LE(std::llabs(osc.to_host_raw_ns(osc.from_host_raw_ns(h2)) - h2), 1);
  }
}

TEST(SimOscillator, SameSeedAndStartAgreeExactlyWhateverTheQueryOrder) {
  const SimOscillatorParams p = busy_params(42);
  SimulatedOscillator a(p, kStart);
  SimulatedOscillator b(p, kStart);
  std::vector<int64_t> hosts;
  for (int64_t t = 0; t <= 2000 * kSec; t += 3 * kSec + 12'345) hosts.push_back(kStart + t);
  std::vector<int64_t> from_a;
  for (int64_t h : hosts) from_a.push_back(a.from_host_raw_ns(h));
  for (size_t i = hosts.size(); i-- > 0;) {  // b is generated back to front
    ASSERT_EQ(b.from_host_raw_ns(hosts[i]), from_a[i]);
    ASSERT_EQ(b.freq_ppm_at(hosts[i]), a.freq_ppm_at(hosts[i]));
  }

  SimulatedOscillator c(busy_params(43), kStart);
  EXPECT_NE(c.freq_ppm_at(kStart + 60 * kSec), a.freq_ppm_at(kStart + 60 * kSec));
  EXPECT_NE(c.truth_offset_ns(kStart + 600 * kSec), a.truth_offset_ns(kStart + 600 * kSec));
}

TEST(SimOscillator, StepsAlternateSignOnSchedule) {
  SimOscillatorParams p;
  p.freq_ppm = 1;
  p.step_every_s = 10;
  p.step_ppm = 5;
  SimulatedOscillator osc(p, kStart);
  EXPECT_DOUBLE_EQ(osc.freq_ppm_at(kStart + 10 * kSec - 1), 1.0);
  EXPECT_DOUBLE_EQ(osc.freq_ppm_at(kStart + 10 * kSec), 6.0);   // +step
  EXPECT_DOUBLE_EQ(osc.freq_ppm_at(kStart + 20 * kSec - 1), 6.0);
  EXPECT_DOUBLE_EQ(osc.freq_ppm_at(kStart + 20 * kSec), 1.0);   // -step
  EXPECT_DOUBLE_EQ(osc.freq_ppm_at(kStart + 30 * kSec), 6.0);   // +step
  // Phase: 25 s at 1 ppm plus 15 s "on" at 5 ppm (10..20 s and 30..35 s).
  EXPECT_LE(std::llabs(osc.truth_offset_ns(kStart + 35 * kSec) - (35'000 + 75'000)), 1);
  // The rate the agent folds into what it publishes, through the interface.
  const TimeSource& src = osc;
  EXPECT_DOUBLE_EQ(src.rate_vs_host_ppb(kStart + 15 * kSec), 6'000.0);
  EXPECT_DOUBLE_EQ(src.rate_vs_host_ppb(kStart + 25 * kSec), 1'000.0);
  EXPECT_EQ(make_monotonic_raw_source()->rate_vs_host_ppb(kStart), 0.0);
}

// A ramped step (a heater switched on): the frequency moves linearly over
// step_ramp_s, holds, and ramps back down; the phase is its exact integral.
TEST(SimOscillator, RampedStepsMoveLinearlyAndIntegrateExactly) {
  SimOscillatorParams p;
  p.freq_ppm = 2;
  p.step_every_s = 10;
  p.step_ppm = 20;
  p.step_ramp_s = 4;
  SimulatedOscillator osc(p, kStart);
  EXPECT_DOUBLE_EQ(osc.freq_ppm_at(kStart + 10 * kSec), 2.0);
  EXPECT_NEAR(osc.freq_ppm_at(kStart + 11 * kSec), 7.0, 1e-9);    // a quarter up
  EXPECT_NEAR(osc.freq_ppm_at(kStart + 14 * kSec), 22.0, 1e-9);   // at the top
  EXPECT_NEAR(osc.freq_ppm_at(kStart + 19 * kSec), 22.0, 1e-9);
  EXPECT_NEAR(osc.freq_ppm_at(kStart + 22 * kSec), 12.0, 1e-9);   // half way down
  EXPECT_NEAR(osc.freq_ppm_at(kStart + 25 * kSec), 2.0, 1e-9);
  EXPECT_NEAR(osc.freq_ppm_at(kStart + 31 * kSec), 7.0, 1e-9);    // the next one
  // Phase at 33 s: 33 s at 2 ppm, plus the step's area: up ramp 4 s x 20 / 2,
  // 6 s on, down ramp 4 s x 20 / 2, then 3 s into the next up ramp (20 x 9 / 8).
  const double area_us = 2 * 33 + 20 * (2 + 6) + 20 * 2 + 20 * 9.0 / 8;
  EXPECT_LE(std::llabs(osc.truth_offset_ns(kStart + 33 * kSec) - std::llround(area_us * 1e3)), 1);
  // Numerically: the phase is the integral of the frequency, ns by ns.
  long double sum = 0;
  const int64_t dt = 1'000'000;
  for (int64_t t = 0; t < 45 * kSec; t += dt) {
    sum += osc.freq_ppm_at(kStart + t + dt / 2) * 1e-6L * static_cast<long double>(dt);
  }
  EXPECT_LE(std::fabs(static_cast<double>(sum) - static_cast<double>(osc.truth_offset_ns(kStart + 45 * kSec))), 2.0);
  p.step_ramp_s = 11;
  EXPECT_NE(sim_params_error(p), "");
}

// The frequency's 1 s increments have sigma = wander * sqrt(1 s), and the phase
// is exactly the integral of the frequency (to < 1 ns rounding) over an hour.
TEST(SimOscillator, WanderMatchesSigmaAndIntegratesExactly) {
  auto rng = testing::seeded_rng("SimOscillator.WanderMatchesSigmaAndIntegratesExactly");
  SimOscillatorParams p;
  p.freq_ppm = 10;
  p.wander_ppb_per_sqrt_s = 50;
  p.seed = rng();
  SimulatedOscillator osc(p, kStart);

  double sum_sq = 0;
  int n = 0;
  for (int64_t t = 0; t < 3600; ++t) {
    const double d = osc.freq_ppm_at(kStart + (t + 1) * kSec) - osc.freq_ppm_at(kStart + t * kSec);
    sum_sq += d * d;
    ++n;
  }
  const double sigma_ppb = std::sqrt(sum_sq / n) * 1e3;
  EXPECT_GT(sigma_ppb, 50 * 0.8);
  EXPECT_LT(sigma_ppb, 50 * 1.2);

  long double phase = 0;
  for (int64_t k = 0; k < 3600 * kSec / kSeg; ++k) {
    phase += static_cast<long double>(osc.freq_ppm_at(kStart + k * kSeg + kSeg / 2)) * 1e-6L *
             static_cast<long double>(kSeg);
  }
  EXPECT_LE(std::fabs(static_cast<double>(phase) -
                      static_cast<double>(osc.truth_offset_ns(kStart + 3600 * kSec))),
            1.0);
}

// Readers in several threads touching different blocks see the single-thread values.
TEST(SimOscillator, ConcurrentReadersAgree) {
  const SimOscillatorParams p = busy_params(7);
  SimulatedOscillator shared(p, kStart);
  SimulatedOscillator reference(p, kStart);
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int64_t i = 0; i < 400; ++i) {
        const int64_t h = kStart + ((i * 7919 + t * 104729) % 4000) * kSec + i;
        if (shared.from_host_raw_ns(h) != reference.from_host_raw_ns(h)) ++mismatches[t];
      }
      int64_t prev = shared.now_ns();
      for (int i = 0; i < 1000; ++i) {
        const int64_t now = shared.now_ns();
        if (now < prev) ++mismatches[t];
        prev = now;
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int m : mismatches) EXPECT_EQ(m, 0);
}

TEST(SimOscillator, SleepUntilConvertsTheDeadlineToHostTime) {
  SimOscillatorParams p = busy_params(9);
  p.freq_ppm = 500;
  auto osc = make_sim_oscillator(p, host_raw_now_ns());
  ASSERT_NE(osc, nullptr);
  const int64_t deadline = osc->now_ns() + 30 * kMs;
  EXPECT_TRUE(osc->sleep_until(deadline));
  const int64_t host = host_raw_now_ns();
  EXPECT_GE(osc->from_host_raw_ns(host), deadline);
  EXPECT_GE(host, osc->to_host_raw_ns(deadline));
  EXPECT_LT(osc->now_ns(), deadline + 2 * kSec);  // loose: loaded CI

  // A far deadline never needs the far future generated: a signalled waker
  // returns at once.
  Result<Waker> w = Waker::create();
  ASSERT_TRUE(w.ok());
  w.value().signal();
  EXPECT_FALSE(osc->sleep_until(std::numeric_limits<int64_t>::max(), &w.value()));
}

TEST(SimOscillator, InvalidParamsAreRefused) {
  SimOscillatorParams p;
  EXPECT_EQ(sim_params_error(p), "");
  p.freq_ppm = std::nan("");
  EXPECT_NE(sim_params_error(p), "");
  EXPECT_EQ(make_sim_oscillator(p, kStart), nullptr);
  p = {};
  p.wander_ppb_per_sqrt_s = -1;
  EXPECT_NE(sim_params_error(p), "");
  p = {};
  p.step_every_s = 1e-6;
  EXPECT_NE(sim_params_error(p), "");
  // The constructor clamps instead: NaN reads as 0.
  p = {};
  p.freq_ppm = std::nan("");
  SimulatedOscillator osc(p, kStart);
  EXPECT_EQ(osc.truth_offset_ns(kStart + 100 * kSec), 0);
}

}  // namespace
}  // namespace timesync
