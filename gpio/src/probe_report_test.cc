#include <algorithm>
#include <numeric>
#include <random>

#include <gtest/gtest.h>

#include "timesync/gpio/probe_report.hpp"

namespace timesync::gpio {
namespace {

constexpr int64_t kP = 10'000'000;  // 10 ms

TEST(ProbeReport, PairsEachPeriodOnceAndCountsTheGaps) {
  std::vector<int64_t> ref, other;
  for (int64_t k = 1; k <= 100; ++k) {
    ref.push_back(k * kP + 7);
    if (k % 10 != 0) other.push_back(k * kP + 7 + 1000 * (k % 3) - 1000);  // -1, 0, +1 us
  }
  other.push_back(250 * kP);  // far from every reference edge
  std::shuffle(other.begin(), other.end(), std::mt19937(42));
  uint64_t unmatched = 0;
  auto off = pair_offsets(ref, other, kP, &unmatched);
  EXPECT_EQ(off.size(), 90u);
  EXPECT_EQ(unmatched, 10u);
  for (int64_t v : off) EXPECT_TRUE(v == -1000 || v == 0 || v == 1000) << v;
}

TEST(ProbeReport, AnOffsetBeyondHalfAPeriodIsUnmatchedNotFolded) {
  uint64_t unmatched = 0;
  auto off = pair_offsets({kP, 2 * kP, 3 * kP}, {kP + kP / 2 + 1, 2 * kP + kP / 2 + 1}, kP,
                          &unmatched);
  // Edge 1.5P+1 is nearer to 2P than to P: it pairs with 2P at -(P/2-1).
  ASSERT_EQ(off.size(), 2u);
  EXPECT_EQ(off[0], -(kP / 2 - 1));
  EXPECT_EQ(unmatched, 1u);
}

TEST(ProbeReport, StatisticsOfKnownOffsets) {
  std::vector<int64_t> v(1000);
  std::iota(v.begin(), v.end(), -500);  // -500 .. 499 ns
  const PairStats s = summarize("ref", "x", v, 3);
  EXPECT_EQ(s.count, 1000u);
  EXPECT_EQ(s.unmatched, 3u);
  EXPECT_DOUBLE_EQ(s.mean_ns, -0.5);
  EXPECT_NEAR(s.std_ns, 288.82, 0.01);
  EXPECT_EQ(s.min_ns, -500);
  EXPECT_EQ(s.p50_ns, -1);
  EXPECT_EQ(s.p99_ns, 489);
  EXPECT_EQ(s.max_ns, 499);
  EXPECT_EQ(s.max_abs_ns, 500);
  // 1-2-5 bins, at most 40 of them, covering every value once.
  EXPECT_EQ(s.hist.bin_ns, 50);
  EXPECT_LE(s.hist.counts.size(), 40u);
  EXPECT_LE(s.hist.lo_ns, -500);
  EXPECT_EQ(std::accumulate(s.hist.counts.begin(), s.hist.counts.end(), uint64_t{0}), 1000u);
}

TEST(ProbeReport, GridOffsetsAreSignedAroundTheNearestBoundary) {
  auto g = grid_offsets({kP + 300, 2 * kP - 300, -kP - 5, kP / 2}, kP);
  EXPECT_EQ(g, (std::vector<int64_t>{300, -300, -5, -kP / 2}));
}

TEST(ProbeReport, ReferencePairsComeFirstAndKeepTheSign) {
  std::vector<ProbeLine> lines{{"camera", {}, 0}, {"master", {}, 2}, {"sensor", {}, 0}};
  for (int64_t k = 1; k <= 20; ++k) {
    lines[0].rising_ns.push_back(k * kP + 40'000);  // camera 40 us late
    lines[1].rising_ns.push_back(k * kP);
    lines[2].rising_ns.push_back(k * kP - 10'000);  // sensor 10 us early
  }
  const ProbeReport r = build_report(lines, "master", kP, "CLOCK_MONOTONIC_RAW");
  ASSERT_EQ(r.pairs.size(), 3u);
  EXPECT_EQ(r.pairs[0].a, "master");
  EXPECT_EQ(r.pairs[0].b, "camera");
  EXPECT_DOUBLE_EQ(r.pairs[0].mean_ns, 40'000);
  EXPECT_EQ(r.pairs[1].b, "sensor");
  EXPECT_DOUBLE_EQ(r.pairs[1].mean_ns, -10'000);
  EXPECT_EQ(r.pairs[2].a, "camera");
  EXPECT_EQ(r.pairs[2].b, "sensor");
  EXPECT_DOUBLE_EQ(r.pairs[2].mean_ns, -50'000);
  EXPECT_EQ(r.lost[1], 2u);

  const ProbeReport g = build_report(lines, kGridReference, kP, "CLOCK_MONOTONIC_RAW");
  ASSERT_EQ(g.pairs.size(), 3u);
  EXPECT_DOUBLE_EQ(g.pairs[0].mean_ns, 40'000);
  EXPECT_DOUBLE_EQ(g.pairs[2].mean_ns, -10'000);

  const std::string text = render_text(r);
  EXPECT_NE(text.find("camera - master"), std::string::npos) << text;
  EXPECT_NE(text.find("40.00"), std::string::npos) << text;
  const std::string json = render_json(r);
  EXPECT_NE(json.find("\"a\": \"master\", \"b\": \"camera\", \"count\": 20, \"unmatched\": 0, "
                      "\"mean_ns\": 40000.0"),
            std::string::npos)
      << json;
  const std::string svg = render_svg(r);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("camera - master: n=20, mean 40.00 us"), std::string::npos);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
}

}  // namespace
}  // namespace timesync::gpio
