// BeaconCombiner against a simulated master, local oscillator and path: the
// one-way delay (seed 003's TX_CHAIN_DELAY, 43.75 us) is known, so calibration,
// the drop of queued beacons and the honesty of the bound are checked on numbers.
#include "timesync/estimator/beacon.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "../../tests/support/test_seed.hpp"
#include "timesync/estimator/estimator.hpp"

namespace timesync::estimator {
namespace {

constexpr double kSec = 1e9;
constexpr double kTxChainDelayNs = 43'750;  // the seed's hand-measured value

// Host time h is the truth. local(h) = h (1 + ppm); master(h) = h + offset.
struct World {
  double local_ppm = 40;
  double offset_ns = 2.5e8;
  double local(double h) const { return h * (1 + local_ppm * 1e-6); }
  double host_of_local(double l) const { return l / (1 + local_ppm * 1e-6); }
  double master(double h) const { return h + offset_ns; }
  double true_offset_at_local(double l) const { return master(host_of_local(l)) - l; }
  // A beacon stamped at host time h, arriving after `delay` host ns.
  Beacon beacon(double h, double delay) const {
    return Beacon{LocalTime{std::llround(local(h + delay))}, std::llround(master(h)), 0};
  }
  // A two-way exchange sent at host h with the two legs' delays.
  Exchange exchange(double h, double up, double down, double hold = 5'000) const {
    Exchange x;
    x.t0 = LocalTime{std::llround(local(h))};
    x.t1_ns = std::llround(master(h + up));
    x.t2_ns = std::llround(master(h + up + hold));
    x.t3 = LocalTime{std::llround(local(h + up + hold + down))};
    return x;
  }
};

// A line that knows the truth: the ideal estimator.
Line true_line(const World& w) {
  return Line{LocalTime{0}, SyncTime{std::llround(w.true_offset_at_local(0))},
              (1 / (1 + w.local_ppm * 1e-6) - 1) * 1e9};
}

TEST(BeaconCombiner, UncalibratedUntilATwoWaySampleAndAFewBeacons) {
  World w;
  BeaconCombiner c(BeaconParams{});
  const Line line = true_line(w);
  Sample s;
  Sample two;
  ASSERT_TRUE(make_sample(w.exchange(0, 30'000, 30'000), &two));
  EXPECT_FALSE(c.calibrate(two, line, 10)) << "no beacons yet";
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(c.add(w.beacon(i * 1e8, kTxChainDelayNs), line, 10, &s),
              BeaconVerdict::kUncalibrated);
  }
  EXPECT_FALSE(c.calibrate(two, line, 10)) << "3 beacons are not a floor";
  c.add(w.beacon(3e8, kTxChainDelayNs), line, 10, &s);
  EXPECT_TRUE(c.calibrate(two, line, 10));
  EXPECT_TRUE(c.calibrated());
  c.reset();
  EXPECT_FALSE(c.calibrated());
  EXPECT_EQ(c.add(w.beacon(4e8, kTxChainDelayNs), line, 10, &s), BeaconVerdict::kUncalibrated);
}

TEST(BeaconCombiner, MeasuresTheTxChainDelayWithinTheExchangesUncertainty) {
  World w;
  BeaconCombiner c(BeaconParams{});
  const Line line = true_line(w);
  Sample s;
  for (int i = 0; i < 10; ++i) c.add(w.beacon(i * 1e8, kTxChainDelayNs + 700 * (i % 3)), line, 10, &s);
  // Asymmetric exchange: 20 us up, 60 us down; its offset is off by 20 us.
  Sample two;
  ASSERT_TRUE(make_sample(w.exchange(1.05e9, 20'000, 60'000), &two));
  ASSERT_TRUE(c.calibrate(two, line, 10));
  EXPECT_NEAR(static_cast<double>(c.delay_ns()), kTxChainDelayNs,
              static_cast<double>(c.delay_uncertainty_ns()));
  EXPECT_GE(c.delay_uncertainty_ns(), 40'000u);  // delay/2 of an 80 us round trip
  EXPECT_LT(c.delay_uncertainty_ns(), 41'000u);

  // A floor beacon: offset = r + d_hat, its interval covers the truth.
  const Beacon b = w.beacon(1.1e9, kTxChainDelayNs);
  ASSERT_EQ(c.add(b, line, 10, &s), BeaconVerdict::kSample);
  const double truth = w.true_offset_at_local(static_cast<double>(b.rx.ns));
  EXPECT_LE(std::fabs(static_cast<double>(s.offset_ns) - truth),
            static_cast<double>(s.measurement_error_ns()));
  EXPECT_DOUBLE_EQ(s.weight, 1.0);
}

TEST(BeaconCombiner, WidensDelayedBeaconsAndDropsQueuedOnes) {
  World w;
  BeaconParams p;
  p.max_excess_ns = 100'000;
  BeaconCombiner c(p);
  const Line line = true_line(w);
  Sample s, floor_s;
  for (int i = 0; i < 8; ++i) c.add(w.beacon(i * 1e8, kTxChainDelayNs), line, 10, &s);
  Sample two;
  ASSERT_TRUE(make_sample(w.exchange(0.75e9, 30'000, 30'000), &two));
  ASSERT_TRUE(c.calibrate(two, line, 10));
  ASSERT_EQ(c.add(w.beacon(0.8e9, kTxChainDelayNs), line, 10, &floor_s), BeaconVerdict::kSample);

  // 60 us late: still a sample, but its interval grows by the excess (and so
  // still holds the truth) and it weighs less.
  const Beacon late = w.beacon(0.9e9, kTxChainDelayNs + 60'000);
  ASSERT_EQ(c.add(late, line, 10, &s), BeaconVerdict::kSample);
  EXPECT_GE(s.measurement_error_ns(), floor_s.measurement_error_ns() + 59'000);
  EXPECT_LT(s.weight, 0.5);
  const double truth = w.true_offset_at_local(static_cast<double>(late.rx.ns));
  EXPECT_LE(std::fabs(static_cast<double>(s.offset_ns) - truth),
            static_cast<double>(s.measurement_error_ns()));

  // 150 us late: queued, dropped.
  EXPECT_EQ(c.add(w.beacon(1.0e9, kTxChainDelayNs + 150'000), line, 10, &s),
            BeaconVerdict::kQueued);
}

struct SimResult {
  int checks = 0;
  int violations = 0;
  int beacon_samples = 0;
  int queued = 0;
  double max_late_err_ns = 0;
};

// The estimator fed like the agent feeds it: two-way exchanges every poll_s
// until locked, then every calibrate_s; a beacon every 1/rate_hz, with random
// queueing on both paths. After every sample the bound at as_of must hold the
// truth.
SimResult simulate(uint64_t seed, double seconds, bool beacons) {
  World w;
  std::mt19937_64 rng(seed);
  std::exponential_distribution<double> queue(1 / 80'000.0);  // mean 80 us
  std::uniform_real_distribution<double> u(0, 1);
  auto path = [&](double floor) { return floor + (u(rng) < 0.2 ? queue(rng) : u(rng) * 3'000); };

  Estimator est(EstimatorParams{}, make_pll_servo(PllParams{.max_samples = 2048}));
  BeaconCombiner comb(BeaconParams{});
  SimResult run;
  const double rate_hz = 10, poll_s = 0.125, calibrate_s = 10;
  double next_exchange = 0, next_beacon = 0.05e9;
  int queued_run = 0;
  auto check = [&](double h) {
    const Estimate& e = est.estimate();
    if (!est.locked()) return;
    const double as_of_local = static_cast<double>(e.as_of.ns);
    const double err = static_cast<double>(e.line.at(e.as_of).ns) -
                       (as_of_local + w.true_offset_at_local(as_of_local));
    ++run.checks;
    if (std::fabs(err) > static_cast<double>(e.bound_at_as_of_ns)) ++run.violations;
    if (h > seconds * kSec / 2) run.max_late_err_ns = std::max(run.max_late_err_ns, std::fabs(err));
  };
  for (double h = 0; h < seconds * kSec;) {
    if (next_exchange <= next_beacon) {
      h = next_exchange;
      const Exchange x = w.exchange(h, path(25'000), path(25'000));
      const AddResult r = est.add(x, LocalTime{std::llround(w.local(h + 60'000))});
      if (r.verdict == Verdict::kAccepted && beacons && est.locked()) {
        comb.calibrate(r.sample, reference_line(est.estimate().line, est.estimate().freq_est_ppb),
                       est.estimate().growth_ppb);
      }
      check(h);
      // As the agent: a window's worth of queued beacons in a row, and the
      // exchanges come at the polling rate again.
      const bool usable = comb.calibrated() && queued_run < 32;
      next_exchange += (beacons && est.locked() && usable ? calibrate_s : poll_s) * kSec;
    } else {
      h = next_beacon;
      next_beacon += kSec / rate_hz;
      if (!beacons) continue;
      const Beacon b = w.beacon(h, path(kTxChainDelayNs));
      Sample s;
      const BeaconVerdict v =
          comb.add(b, reference_line(est.estimate().line, est.estimate().freq_est_ppb),
                   est.estimate().growth_ppb, &s);
      if (v == BeaconVerdict::kQueued) ++run.queued;
      queued_run = v == BeaconVerdict::kQueued ? queued_run + 1 : 0;
      if (v != BeaconVerdict::kSample) continue;
      ++run.beacon_samples;
      est.add_sample(s, LocalTime{b.rx.ns + 1'000});
      check(h);
    }
  }
  return run;
}

TEST(BeaconSimulation, BoundHoldsTheTruthAndBeaconsCarryTheLine) {
  std::mt19937_64 seeds = testing::seeded_rng("BeaconSimulation");
  for (int i = 0; i < 4; ++i) {
    const uint64_t seed = seeds();
    const SimResult r = simulate(seed, 120, true);
    SCOPED_TRACE("run seed " + std::to_string(seed));
    EXPECT_EQ(r.violations, 0) << "of " << r.checks;
    EXPECT_GT(r.beacon_samples, 700);  // ~1200 beacons, minus queued and uncalibrated
    EXPECT_GT(r.queued, 0);
    // Queueing of 80 us on a fifth of the messages, both kinds: the line
    // stays within a fraction of that (polling alone is printed beside it).
    const SimResult p = simulate(seed, 120, false);
    std::cerr << "max |error| in the second half: beacons " << r.max_late_err_ns / 1e3
              << " us (two-way every 10 s), polling every 0.125 s " << p.max_late_err_ns / 1e3
              << " us\n";
    EXPECT_EQ(p.violations, 0);
    EXPECT_LT(r.max_late_err_ns, 150'000);
  }
}

}  // namespace
}  // namespace timesync::estimator
