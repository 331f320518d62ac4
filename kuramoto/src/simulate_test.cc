// Kuramoto peers in simulated time: convergence within a handful of cycles at
// the seed's K = 0.5, and the coupling threshold K_c = 2 pi |d_j - d_i| below
// which two peers never lock, checked on both sides with margin.
//
// Randomised (drifts, jitter draws): the seed is printed, and
// TIMESYNC_TEST_SEED=<n> replays a run.
#include "timesync/kuramoto/simulate.hpp"

#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "support/test_seed.hpp"
#include "timesync/kuramoto/update.hpp"

namespace timesync::kuramoto {
namespace {

// The seed's 100 Hz run on a noisy host: wake-ups up to 50 us late, 5 us of
// timestamp noise, a watcher that publishes an edge 20 us after it happened.
SimParams noisy(double hz, double k, std::vector<SimPeer> peers, uint64_t cycles, uint64_t seed) {
  SimParams p;
  p.hz = hz;
  p.coupling = k;
  p.peers = std::move(peers);
  p.cycles = cycles;
  p.wake_jitter_ns = 50'000;
  p.stamp_jitter_ns = 5'000;
  p.visible_after_ns = 20'000;
  p.seed = seed;
  return p;
}

int64_t tolerance(double hz) { return period_ns_for(hz) / 20; }

TEST(Simulate, RefusesBadParameters) {
  SimParams p = noisy(100, 0.5, {{0, 0}}, 10, 1);
  EXPECT_NE(sim_params_error(p).find("at least 2"), std::string::npos);
  p.peers.push_back({0, 0});
  EXPECT_EQ(sim_params_error(p), "");
  p.hz = 600;
  EXPECT_NE(sim_params_error(p).find("frequency"), std::string::npos);
  p.hz = 100;
  p.coupling = 2;
  EXPECT_NE(sim_params_error(p).find("coupling"), std::string::npos);
  EXPECT_TRUE(simulate(p).empty());
}

TEST(Simulate, SameSeedSameRun) {
  const SimParams p = noisy(100, 0.5, {{30, 0}, {-20, 150}}, 200, 42);
  const auto a = simulate(p), b = simulate(p);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].peers[0].delta_ns, b[0].peers[0].delta_ns);
  EXPECT_EQ(a[1].cycles, 200u);
}

TEST(Simulate, TwoPeersAt100HzConvergeInAHandfulOfCyclesAtKHalf) {
  auto rng = testing::seeded_rng("two peers, K 0.5");
  std::uniform_real_distribution<double> drift(-50, 50);
  for (int run = 0; run < 20; ++run) {
    // 150 degrees apart: far from the in-phase state, not on the antiphase
    // equilibrium (180 degrees, where sin gives no pull at all).
    const SimParams p = noisy(100, 0.5, {{drift(rng), 0}, {drift(rng), 150}}, 300, rng());
    const auto logs = simulate(p);
    for (size_t i = 0; i < logs.size(); ++i) {
      const Report r = build_report(logs[i], tolerance(100), 5);
      ASSERT_TRUE(r.cycles_to_converge.has_value()) << render_text(r);
      // phi' = phi - K sin(phi) from 150 degrees reaches 18 degrees (P/20) in 6 cycles.
      EXPECT_LE(*r.cycles_to_converge, 8u) << render_text(r);
      const PeerSummary& s = r.peers[0];
      EXPECT_EQ(s.slips, 0u);
      // Locked, the noise is the wake-up jitter (uniform 0-50 us per side).
      EXPECT_LT(s.abs_converged.p50_ns, 40'000) << render_text(r);
      EXPECT_LT(s.abs_converged.max_ns, 120'000) << render_text(r);
    }
  }
}

TEST(Simulate, ThreeAndFivePeersConvergeFromSpreadPhases) {
  auto rng = testing::seeded_rng("N peers, K 0.5");
  std::uniform_real_distribution<double> drift(-50, 50);
  for (int run = 0; run < 10; ++run) {
    const auto three = simulate(
        noisy(100, 0.5, {{drift(rng), 0}, {drift(rng), 100}, {drift(rng), 220}}, 300, rng()));
    for (const CycleLog& log : three) {
      const Report r = build_report(log, tolerance(100), 5);
      ASSERT_TRUE(r.cycles_to_converge.has_value()) << render_text(r);
      // The third peer pulls the first two apart for a while: 13 cycles
      // without noise.
      EXPECT_LE(*r.cycles_to_converge, 16u) << render_text(r);
    }
    const auto five = simulate(noisy(
        100, 0.5,
        {{drift(rng), 0}, {drift(rng), 60}, {drift(rng), 130}, {drift(rng), 200}, {drift(rng), 290}},
        300, rng()));
    for (const CycleLog& log : five) {
      const Report r = build_report(log, tolerance(100), 5);
      ASSERT_TRUE(r.cycles_to_converge.has_value()) << render_text(r);
      EXPECT_LE(*r.cycles_to_converge, 20u) << render_text(r);
    }
  }
}

TEST(Simulate, RandomStartPhasesAlwaysEndLocked) {
  auto rng = testing::seeded_rng("random phases");
  std::uniform_real_distribution<double> drift(-50, 50), phase(-180, 180);
  for (int run = 0; run < 50; ++run) {
    std::vector<SimPeer> peers;
    const int n = 2 + run % 4;
    for (int i = 0; i < n; ++i) peers.push_back({drift(rng), phase(rng)});
    const auto logs = simulate(noisy(100, 0.5, peers, 400, rng()));
    for (const CycleLog& log : logs) {
      const Report r = build_report(log, tolerance(100), 5);
      // Near the unstable antiphase or splay states only noise pushes the
      // peers off, so no handful here: just that they always get there.
      EXPECT_TRUE(r.cycles_to_converge.has_value()) << "run " << run << "\n" << render_text(r);
    }
  }
}

// K_c = 2 pi |d_1 - d_0| does not depend on the frequency: drift and
// correction are both counted per cycle.
class Threshold : public ::testing::TestWithParam<double> {};

TEST_P(Threshold, TwoPeersLockAboveKcAndSlipForeverBelow) {
  const double hz = GetParam();
  auto rng = testing::seeded_rng("threshold");
  std::uniform_real_distribution<double> spread(20, 40);
  const double d = spread(rng);  // the seed's boards: tens of ppm apart
  const double kc = critical_coupling(2 * d);
  const std::vector<SimPeer> peers{{d, 0}, {-d, 90}};
  constexpr uint64_t kCycles = 200'000;

  // Below: the phase difference keeps going round. The beat is
  // 2 d sqrt(1 - (K/K_c)^2) turns per cycle: 0.8 * 2d * 200k = 6-13 turns.
  {
    const auto logs = simulate(noisy(hz, 0.6 * kc, peers, kCycles, rng()));
    const PeerSummary s = summarize_peer(logs[0].peers[0], period_ns_for(hz), tolerance(hz), 5);
    const double turns = 0.8 * 2 * d * 1e-6 * kCycles;
    EXPECT_GE(static_cast<double>(s.slips), 0.7 * turns) << "K = 0.6 K_c = " << 0.6 * kc;
    EXPECT_LE(static_cast<double>(s.slips), 1.3 * turns + 1);
    // Each turn passes through zero, slowly (2 pi * 2d a cycle), so a run can
    // even end inside the tolerance; but most of the time the pair is apart:
    // about 8% of the cycles within P/20.
    uint64_t within = 0;
    for (const auto& v : logs[0].peers[0].delta_ns) within += v && std::llabs(*v) <= tolerance(hz);
    EXPECT_LT(static_cast<double>(within), 0.25 * kCycles);
  }
  // Above: locked, at the phase asin(K_c / K) where coupling balances drift.
  {
    const double k = 1.5 * kc;
    const auto logs = simulate(noisy(hz, k, peers, kCycles, rng()));
    const auto& d01 = logs[0].peers[0].delta_ns;
    // Settling takes a few 1 / (K cos(phi*)) ~ 3000 cycles: judge the second half.
    const PeerTrace second{"peer1", {d01.begin() + kCycles / 2, d01.end()}};
    const int64_t period = period_ns_for(hz);
    const PeerSummary s = summarize_peer(second, period, period / 4, 5);
    EXPECT_EQ(s.slips, 0u) << "K = 1.5 K_c = " << k;
    EXPECT_TRUE(s.locked());
    // Peer 0 is fast, so it leads: peer 1 pulses later, delta > 0.
    const double want_ns = rad_to_ns(*locked_phase_rad(k, 2 * d), hz);
    EXPECT_NEAR(s.mean_delta_ns, want_ns, 0.05 * want_ns) << "hz " << hz;
  }
}

INSTANTIATE_TEST_SUITE_P(Rates, Threshold, ::testing::Values(1.0, 100.0, 500.0));

TEST(Simulate, WithoutCouplingTheOffsetOnlyDrifts) {
  // K = 0: the starting 90 degrees stay 90 degrees plus the drift, which the
  // other tests rely on to show that it is the coupling that converges.
  const auto logs = simulate(noisy(100, 0, {{25, 0}, {-25, 90}}, 1000, 7));
  const PeerSummary s = summarize_peer(logs[0].peers[0], period_ns_for(100), tolerance(100), 5);
  EXPECT_FALSE(s.cycles_to_converge.has_value());
  // Peer 0 is fast, so it pulls ahead by 50 ppm of 10 ms = 500 ns a cycle:
  // 2.5 ms apart at first, 3 ms after 1000 cycles, 2.75 ms on average.
  EXPECT_NEAR(s.mean_delta_ns, 2'750'000, 30'000);
}

}  // namespace
}  // namespace timesync::kuramoto
