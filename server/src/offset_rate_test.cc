// OffsetRateMeter: the rate UTC moves at against the timeline, and its error.
#include "offset_rate.hpp"

#include <gtest/gtest.h>

namespace timesync::master {
namespace {

constexpr int64_t kSec = 1'000'000'000;

TEST(OffsetRate, UnknownUntilASecondOfPoints) {
  OffsetRateMeter m;
  EXPECT_EQ(m.rate(1'000).error_ppb, kUnknownRateErrorPpb);
  m.add(100 * kSec, 0, 1'000);
  m.add(100 * kSec + kSec / 2, 10'000, 1'000);
  const auto r = m.rate(1'000);
  EXPECT_EQ(r.ppb, 0);
  EXPECT_EQ(r.error_ppb, kUnknownRateErrorPpb);
}

TEST(OffsetRate, TheSlopeWithTheEndsUncertaintyAndTheDriftAsItsError) {
  OffsetRateMeter m;
  // realtime gains 20 ppm on the timeline; 1 us uncertain at each point.
  for (int i = 0; i <= 40; ++i) m.add(100 * kSec + i * kSec / 4, i * 5'000, 1'000);
  const auto r = m.rate(1'000);
  EXPECT_NEAR(r.ppb, 20'000, 1e-6);
  // The longest span kept (about 32 s, at most 10 s here): 2 us over 10 s is
  // 200 ppb; + 1 ppm of drift; + 1 for the agent's rounding.
  EXPECT_EQ(r.error_ppb, 200u + 1'000u + 1u);
}

TEST(OffsetRate, AGoodOldPointIsPreferredToAPoorOne) {
  OffsetRateMeter m;
  m.add(100 * kSec, 0, 1'000'000);      // the reference was poor then (1 ms)
  m.add(110 * kSec, 100'000, 1'000);    // good since
  m.add(120 * kSec, 200'000, 1'000);
  const auto r = m.rate(0);
  EXPECT_NEAR(r.ppb, 10'000, 1e-6);
  EXPECT_EQ(r.error_ppb, 200u + 1u);    // from the point at 110 s, not 100 s
}

TEST(OffsetRate, ARealtimeStepBackForgetsThePast) {
  OffsetRateMeter m;
  for (int i = 0; i <= 8; ++i) m.add(100 * kSec + i * kSec, 0, 1'000);
  m.add(50 * kSec, 0, 1'000);  // realtime stepped back 58 s
  EXPECT_EQ(m.size(), 1u);
  EXPECT_EQ(m.rate(0).error_ppb, kUnknownRateErrorPpb);
}

TEST(OffsetRate, KeepsAWindowNotEverything) {
  OffsetRateMeter m;
  for (int i = 0; i <= 3'600 * 10; ++i) m.add(100 * kSec + i * kSec / 10, 0, 1'000);
  EXPECT_LE(m.size(), 70u);  // one point a second or so over 32 s
  EXPECT_GE(m.size(), 30u);
}

}  // namespace
}  // namespace timesync::master
