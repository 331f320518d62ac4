// The Kalman servo against a simulated master and drifting local clock: the
// truth is known, so the drift estimate, the bound's honesty and what the
// innovation statistics say about the noise model are checked on numbers.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>

#include "../../tests/support/test_seed.hpp"
#include "timesync/estimator/estimator.hpp"

namespace timesync::estimator {
namespace {

constexpr double kSec = 1e9;

struct Truth {
  double local_ppm;         // the local crystal against the master's
  double step_ppm = 0;      // added to local_ppm from step_at_s on
  double step_at_s = 1e18;
  double offset_ns = 0.7e9;
};

struct SimRun {
  int checks = 0;
  int bound_violations = 0;
  double max_err_late_ns = 0;
  double freq_err_ppb = 0;
  InnovationStats innov;
  uint64_t epoch = 0;
};

// How the path's noise looks.
enum class Noise {
  kLegs,       // each leg late by an independent half-normal delay of sigma_ns
  kAsymmetry,  // the request leg sigma-Gaussian longer, the answer leg as much
               // shorter: the delay never changes, the offset's noise is exactly
               // sigma_ns, which is what measurement_floor_ns models
};

// Exchanges every poll_s. Integrates the local clock so a step in its rate is
// a true frequency change, not a jump.
SimRun simulate(Truth t, KalmanParams kp, double seconds, double poll_s, double sigma_ns, uint64_t seed,
                Noise noise = Noise::kLegs) {
  Estimator est(EstimatorParams{}, make_kalman_servo(kp));
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> leg(0, sigma_ns);
  SimRun run;
  double h = 0, local = 5 * kSec;  // host (= master - offset) and local time
  auto ppm_at = [&](double host) { return t.local_ppm + (host >= t.step_at_s * kSec ? t.step_ppm : 0); };
  auto advance = [&](double dh) {  // local time after dh of host time from h
    return local + dh * (1 + ppm_at(h) * 1e-6);
  };
  const double rtt = 100'000;
  for (; h < seconds * kSec;) {
    double up, down;
    if (noise == Noise::kLegs) {
      up = rtt / 2 + std::fabs(leg(rng));
      down = rtt / 2 + std::fabs(leg(rng));
    } else {
      const double e = leg(rng);
      up = rtt / 2 + e;
      down = rtt / 2 - e;
    }
    Exchange x;
    x.t0 = LocalTime{std::llround(local)};
    x.t1_ns = std::llround(h + up + t.offset_ns);
    x.t2_ns = x.t1_ns;
    x.t3 = LocalTime{std::llround(advance(up + down))};
    est.add(x, x.t3);
    const Estimate& e = est.estimate();
    // The published line against the truth, up to the next poll.
    for (double k = 0; k <= 1.0 && est.locked(); k += 0.5) {
      const double dh = up + down + k * (poll_s * kSec - up - down);
      const double l = advance(dh);
      const double truth = h + dh + t.offset_ns;
      const double err = static_cast<double>(e.line.at(LocalTime{std::llround(l)}).ns) - truth;
      const double bound = static_cast<double>(e.bound_at_as_of_ns) +
                           (l - static_cast<double>(e.as_of.ns)) / kSec * est.growth_until(LocalTime{std::llround(l)});
      ++run.checks;
      if (std::fabs(err) > bound) ++run.bound_violations;
      if (h > seconds * kSec * 0.75) run.max_err_late_ns = std::max(run.max_err_late_ns, std::fabs(err));
    }
    local = advance(poll_s * kSec);
    h += poll_s * kSec;
  }
  const double ppm = ppm_at(h);
  run.freq_err_ppb = est.estimate().freq_est_ppb - (1.0 / (1 + ppm * 1e-6) - 1) * 1e9;
  run.innov = est.innovations();
  run.epoch = est.estimate().epoch;
  return run;
}

void print(const char* what, const SimRun& r) {
  std::fprintf(stderr,
               "%s: late max |err| %.0f ns, freq err %.1f ppb, innovations n=%d mean %.0f ns std %.0f ns "
               "normalized %.2f, %d checks, %d bound violations\n",
               what, r.max_err_late_ns, r.freq_err_ppb, r.innov.count, r.innov.mean_ns, r.innov.std_ns,
               r.innov.normalized_std, r.checks, r.bound_violations);
}

TEST(Kalman, TracksTheDriftAndKeepsTheBoundHonest) {
  auto rng = timesync::testing::seeded_rng("Kalman.TracksTheDriftAndKeepsTheBoundHonest");
  for (double ppm : {-48.0, -7.5, 12.5, 35.0}) {
    KalmanParams kp;
    kp.measurement_floor_ns = 5'000;
    const SimRun r = simulate(Truth{ppm}, kp, 120, 0.5, 5'000, rng());
    print("drift", r);
    EXPECT_EQ(r.bound_violations, 0) << ppm;
    EXPECT_GT(r.checks, 300) << ppm;
    EXPECT_EQ(r.epoch, 1u) << ppm;
    // 5 us of noise a leg, 240 samples: the drift is known to a few ppb.
    EXPECT_LT(std::fabs(r.freq_err_ppb), 50) << ppm;
    EXPECT_LT(r.max_err_late_ns, 10'000) << ppm;
  }
}

TEST(Kalman, InnovationsSayWhetherTheNoiseModelFits) {
  auto rng = timesync::testing::seeded_rng("Kalman.InnovationsSayWhetherTheNoiseModelFits");
  const uint64_t seed = rng();
  const double offset_sigma = 10'000;
  KalmanParams right;
  right.measurement_floor_ns = offset_sigma;
  const SimRun fits = simulate(Truth{20}, right, 200, 0.5, offset_sigma, seed, Noise::kAsymmetry);
  print("model fits", fits);
  EXPECT_NEAR(fits.innov.mean_ns, 0, 3 * offset_sigma / std::sqrt(fits.innov.count) + 500);
  EXPECT_GT(fits.innov.normalized_std, 0.7);
  EXPECT_LT(fits.innov.normalized_std, 1.4);

  KalmanParams overconfident = right;  // claims 10x less noise than there is
  overconfident.measurement_floor_ns = offset_sigma / 10;
  const SimRun off = simulate(Truth{20}, overconfident, 200, 0.5, offset_sigma, seed, Noise::kAsymmetry);
  print("model 10x overconfident", off);
  EXPECT_GT(off.innov.normalized_std, 3);
  // ... and the bound stays honest all the same: the frequency sigma it grows
  // with is scaled by that overconfidence.
  EXPECT_EQ(off.bound_violations, 0);
  // The innovations' spread is the data's, whatever the model claims.
  EXPECT_GT(off.innov.std_ns, 0.5 * offset_sigma);
}

TEST(Kalman, FollowsAFrequencyStepWithoutLosingTheBound) {
  auto rng = timesync::testing::seeded_rng("Kalman.FollowsAFrequencyStepWithoutLosingTheBound");
  KalmanParams kp;
  kp.measurement_floor_ns = 3'000;
  // A +5 ppm thermal transient: 2500 sigmas of the model's 2 ppb/sqrt(s).
  const SimRun r = simulate(Truth{35, 5, 60}, kp, 180, 0.5, 3'000, rng());
  print("5 ppm step at 60 s", r);
  EXPECT_EQ(r.bound_violations, 0);
  EXPECT_LT(std::fabs(r.freq_err_ppb), 50);
  EXPECT_LT(r.max_err_late_ns, 10'000);
}

TEST(Kalman, ResetForgetsTheState) {
  auto servo = make_kalman_servo(KalmanParams{});
  Sample s;
  s.delay_ns = 50'000;
  for (int i = 0; i < 5; ++i) {
    s.local = LocalTime{i * 1'000'000'000LL};
    s.offset_ns = 1'000'000 + i * 10'000;  // 10 ppm
    servo->update(s, 0);
  }
  double off = 0;
  ASSERT_TRUE(servo->predict_offset(LocalTime{5'000'000'000}, &off));
  EXPECT_NEAR(off, 1'050'000, 5'000);
  EXPECT_GT(servo->innovations().count, 0);
  servo->reset();
  EXPECT_FALSE(servo->predict_offset(LocalTime{5'000'000'000}, &off));
  EXPECT_EQ(servo->innovations().count, 0);
  EXPECT_STREQ(servo->name(), "kalman");
}

}  // namespace
}  // namespace timesync::estimator
