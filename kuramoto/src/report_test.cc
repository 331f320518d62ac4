// The report: convergence detection, slips, |delta| statistics, histogram, JSON.
#include "timesync/kuramoto/report.hpp"

#include "timesync/kuramoto/update.hpp"

#include <gtest/gtest.h>

namespace timesync::kuramoto {
namespace {

constexpr int64_t kP = 10'000'000;  // 100 Hz

PeerTrace trace(std::vector<std::optional<int64_t>> d) { return PeerTrace{"p", std::move(d)}; }

TEST(AbsStats, MagnitudesAndNearestRankPercentiles) {
  std::vector<int64_t> v;
  for (int i = 1; i <= 100; ++i) v.push_back(i % 2 ? -i : i);
  const AbsStats s = abs_stats(v);
  EXPECT_EQ(s.count, 100u);
  EXPECT_DOUBLE_EQ(s.mean_ns, 50.5);
  EXPECT_EQ(s.p50_ns, 50);
  EXPECT_EQ(s.p99_ns, 99);
  EXPECT_EQ(s.max_ns, 100);
  EXPECT_EQ(abs_stats({}).count, 0u);
}

TEST(Histogram, OneTwoFiveBinsCoverNegativeValues) {
  const DeltaHistogram h = make_histogram({-150, -1, 0, 10, 149});
  EXPECT_EQ(h.bin_ns, 20);  // span 299: 10 would need 30 bins, 20 needs 15
  EXPECT_EQ(h.lo_ns, -160);
  uint64_t total = 0;
  for (uint64_t c : h.counts) total += c;
  EXPECT_EQ(total, 5u);
  EXPECT_EQ(h.counts.front(), 1u);  // -150 in [-160, -140)
  EXPECT_EQ(h.counts[(-1 - h.lo_ns) / h.bin_ns], 1u);  // -1 in [-20, 0)
  EXPECT_EQ(h.counts.back(), 1u);   // 149 in [140, 160)
}

TEST(Summary, ConvergesAtTheStartOfTheFirstRunWithinTolerance) {
  // Not heard for 2 cycles, then large, a one-cycle dip, then settled.
  const PeerSummary s = summarize_peer(
      trace({std::nullopt, std::nullopt, 4'000'000, 2'000'000, 50, 3'000'000, 900, -800, 100, 20,
             -5, 7}),
      kP, 1'000, 3);
  EXPECT_EQ(s.first_heard_cycle, 2u);
  EXPECT_EQ(s.samples, 10u);
  ASSERT_TRUE(s.cycles_to_converge.has_value());
  EXPECT_EQ(*s.cycles_to_converge, 4u);  // index 6 (900) minus first heard 2
  EXPECT_EQ(s.abs_converged.count, 3u);   // after the settle window: 20, -5, 7
  EXPECT_EQ(s.abs_converged.max_ns, 20);
  EXPECT_EQ(s.abs_all.max_ns, 4'000'000);
  EXPECT_EQ(s.slips, 0u);
  // Second half of the 10 samples: -800, 100, 20, -5, 7.
  EXPECT_DOUBLE_EQ(s.mean_delta_second_half_ns, -678.0 / 5);
}

// delta going round the circle in steps of P/10, as two peers below the
// coupling threshold do: start, then `turns` full turns and a little more.
std::vector<std::optional<int64_t>> ramp(int64_t start_ns, int turns) {
  std::vector<std::optional<int64_t>> d;
  for (int i = 0; i <= turns * 10 + 3; ++i) d.push_back(wrap_ns(start_ns + i * kP / 10, kP));
  return d;
}

TEST(Summary, PassingThroughZeroOnTheWayElsewhereIsNotConvergence) {
  // In tolerance for 5 cycles, then settled at 2 ms (a lock just above K_c).
  std::vector<std::optional<int64_t>> d{-3'000'000, -1'500'000, -900, -300, 200, 700, 950,
                                        1'500'000};
  d.resize(60, 2'000'000);
  PeerSummary s = summarize_peer(trace(d), kP, 1'000, 5);
  EXPECT_FALSE(s.cycles_to_converge.has_value());
  EXPECT_EQ(s.slips, 0u);
  // The same pass followed by staying near zero, with one hiccup in ten: converged.
  for (size_t i = 7; i < d.size(); ++i) d[i] = i % 10 ? 100 : 3'000'000;
  s = summarize_peer(trace(d), kP, 1'000, 5);
  ASSERT_TRUE(s.cycles_to_converge.has_value());
  EXPECT_EQ(*s.cycles_to_converge, 2u);
}

TEST(Summary, AGapBreaksTheRunAndFullTurnsAreSlips) {
  auto d = ramp(0, 2);
  d[5] = std::nullopt;
  const PeerSummary s = summarize_peer(trace(d), kP, 1'000, 3);
  EXPECT_FALSE(s.cycles_to_converge.has_value());
  EXPECT_EQ(s.slips, 2u);
  EXPECT_EQ(s.abs_converged.count, 0u);
  EXPECT_EQ(s.abs_all.count, d.size() - 1);
}

TEST(Summary, NoiseAtHalfAPeriodAndSchedulingSpikesAreNotSlips) {
  EXPECT_EQ(summarize_peer(trace({4'900'000, -4'900'000, 4'950'000, -4'950'000, 4'900'000,
                                  -4'990'000}),
                           kP, 1'000, 3)
                .slips,
            0u);
  // Locked near 0, with hiccups of 4 ms one way and 3.5 ms the other: each
  // pair of opposite spikes unwraps to a net -10 ms unless they are filtered.
  std::vector<std::optional<int64_t>> d(40, 20'000);
  for (size_t i = 5; i < 40; i += 8) {
    d[i] = -4'000'000;
    d[i + 1] = 1'500'000;
  }
  EXPECT_EQ(summarize_peer(trace(d), kP, 1'000, 3).slips, 0u);
}

TEST(Summary, ASlipAfterConvergingIsLostLock) {
  // A slow slip below the coupling threshold passes through zero on its way round.
  std::vector<std::optional<int64_t>> d{3'000'000};
  d.resize(101, 10);
  for (const auto& v : ramp(10, 1)) d.push_back(v);
  d.resize(d.size() + 100, 10);
  const PeerSummary s = summarize_peer(trace(d), kP, 1'000, 3);
  ASSERT_TRUE(s.cycles_to_converge.has_value());
  EXPECT_EQ(*s.cycles_to_converge, 1u);
  EXPECT_EQ(s.slips_after_converge, 1u);
  EXPECT_FALSE(s.locked());
}

TEST(Report, AllPeersMustConvergeAndJsonCarriesTheNumbers) {
  CycleLog log;
  log.hz = 100;
  log.coupling = 0.5;
  log.participants = 3;
  log.cycles = 5;
  log.peers = {PeerTrace{"wire:ku:1", {100, 10, 10, 10, 10}},
               PeerTrace{"wire:ku:2", {9'000'000, 3'000'000, 10, 10, 10}}};
  Report r = build_report(log, 1'000, 2);
  ASSERT_TRUE(r.cycles_to_converge.has_value());
  EXPECT_EQ(*r.cycles_to_converge, 2u);
  const std::string json = render_json(r);
  EXPECT_NE(json.find("\"converged\": true, \"cycles_to_converge\": 2"), std::string::npos) << json;
  EXPECT_NE(json.find("\"name\": \"wire:ku:2\""), std::string::npos);
  EXPECT_NE(json.find("\"abs_delta_converged\": {\"count\": 1"), std::string::npos) << json;
  const std::string text = render_text(r);
  EXPECT_NE(text.find("all peers within 2 cycles"), std::string::npos) << text;

  log.peers[1].delta_ns = {9'000'000, 3'000'000, 10, 3'000'000, 10};
  r = build_report(log, 1'000, 2);
  EXPECT_FALSE(r.cycles_to_converge.has_value());
  EXPECT_NE(render_json(r).find("\"converged\": false, \"cycles_to_converge\": null"),
            std::string::npos);
  EXPECT_NE(render_text(r).find("NOT CONVERGED"), std::string::npos);
}

TEST(Trace, OneLinePerCyclePerPeerWithGapsEmpty) {
  CycleLog log;
  log.cycles = 2;
  log.peers = {PeerTrace{"a", {5, std::nullopt}}};
  EXPECT_EQ(render_trace_csv(log), "cycle,peer,delta_ns\n0,a,5\n1,a,\n");
}

}  // namespace
}  // namespace timesync::kuramoto
