#include "timesync/transform.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "../../tests/support/test_seed.hpp"

namespace timesync {
namespace {

constexpr int64_t kSec = 1'000'000'000;

TransformSnapshot synced() {
  TransformSnapshot s;
  s.epoch = 3;
  s.status = ClockStatus::kSynchronized;
  s.as_of = LocalTime{100 * kSec};
  s.void_after = LocalTime{110 * kSec};
  s.ref_local = LocalTime{100 * kSec};
  s.ref_sync = SyncTime{5000 * kSec};
  s.bound_at_as_of_ns = 1'000;
  s.bound_growth_ppb = 10'000;  // 10 ppm
  s.max_error_ns = 1'000'000;
  return s;
}

SyncTime sync_at(const TransformSnapshot& s, int64_t t) {
  SyncTime out;
  EXPECT_TRUE(to_sync(s, LocalTime{t}, &out));
  return out;
}

TEST(Transform, IdentityWithoutFrequencyCorrection) {
  TransformSnapshot s = synced();
  EXPECT_EQ(sync_at(s, 100 * kSec).ns, 5000 * kSec);
  EXPECT_EQ(sync_at(s, 100 * kSec + 123).ns, 5000 * kSec + 123);
  EXPECT_EQ(sync_at(s, 99 * kSec).ns, 4999 * kSec);
}

// Seed 001's worked example, local 1000 s -> 5000 s with the local clock 100 ppm
// fast and a +2 ms phase correction: 5 s later synchronized time is 5005.0015 s.
TEST(Transform, SeedExampleFiveSecondsAtMinus100Ppm) {
  TransformSnapshot s = synced();
  s.ref_local = LocalTime{1000 * kSec};
  s.ref_sync = SyncTime{5000 * kSec + 2'000'000};
  s.freq_adj_q48 = ppb_to_q48(-100'000.0);
  const int64_t expected = 5005 * kSec + 1'500'000;
  EXPECT_LE(std::llabs(sync_at(s, 1005 * kSec).ns - expected), 1);
}

// Over one second of extrapolation the result is the exact value rounded down
// to whole nanoseconds (within 1 ns), for any rate inside the valid range.
TEST(Transform, OneSecondExtrapolationExactToSubNanosecond) {
  for (double ppb : {-9'999'999.0, -100'000.0, -35.123, 0.0, 0.5, 20'000.0, 35'000.0, 9'999'999.0}) {
    TransformSnapshot s = synced();
    s.freq_adj_q48 = ppb_to_q48(ppb);
    const int64_t got = sync_at(s, 101 * kSec).ns - 5000 * kSec;
    const double exact = 1e9 * (1.0 + ppb * 1e-9);
    EXPECT_LE(static_cast<double>(got), exact + 1e-3) << ppb << " ppb";
    EXPECT_GT(static_cast<double>(got), exact - 1.0 - 1e-3) << ppb << " ppb";
  }
}

// Ten years of uptime at the extreme rates: no overflow, and the error stays
// below 1 ns per second extrapolated (in fact a few microseconds in total).
TEST(Transform, TenYearsOfUptimeDoesNotOverflow) {
  const int64_t ten_years = int64_t{10} * 365 * 86'400 * kSec;
  for (double ppb : {-9'999'999.0, -35'000.0, 35'000.0, 9'999'999.0}) {
    TransformSnapshot s = synced();
    s.ref_local = LocalTime{0};
    s.ref_sync = SyncTime{1'700'000'000 * kSec};  // a realtime-like epoch
    s.freq_adj_q48 = ppb_to_q48(ppb);
    const int64_t got = sync_at(s, ten_years).ns - s.ref_sync.ns;
    const long double exact = static_cast<long double>(ten_years) * (1.0L + ppb * 1e-9L);
    const long double err = std::fabs(static_cast<long double>(got) - exact);
    EXPECT_LT(err, 10'000.0L) << ppb << " ppb";  // < 1e-6 ns per second
    EXPECT_LT(err / (static_cast<long double>(ten_years) / kSec), 1.0L);
  }
}

TEST(Transform, FrequencyRoundTripsToQ48Resolution) {
  for (double ppb : {-1e7, -35'000.0, -1.0, 0.0, 0.001, 1.0, 20'000.0, 1e7}) {
    EXPECT_NEAR(q48_to_ppb(ppb_to_q48(ppb)), ppb, 1e9 / std::ldexp(1.0, 48));
  }
}

TEST(Transform, ResultOutsideInt64IsReportedNotWrapped) {
  TransformSnapshot s = synced();
  s.ref_sync = SyncTime{std::numeric_limits<int64_t>::max() - kSec};
  SyncTime out;
  EXPECT_FALSE(to_sync(s, LocalTime{s.ref_local.ns + 2 * kSec}, &out));
  s.void_after = LocalTime{std::numeric_limits<int64_t>::max()};
  s.max_error_ns = std::numeric_limits<uint64_t>::max();
  EXPECT_EQ(evaluate(s, LocalTime{s.ref_local.ns + 2 * kSec}).error, Error::kCorrupt);
}

TEST(Transform, SyncTimeIsMonotonicInLocalTime) {
  auto rng = timesync::testing::seeded_rng("SyncTimeIsMonotonicInLocalTime");
  std::uniform_int_distribution<int64_t> freq(-kMaxFreqAdjQ48, kMaxFreqAdjQ48);
  std::uniform_int_distribution<int64_t> t(-1'000 * kSec, 1'000 * kSec);
  std::uniform_int_distribution<int64_t> step(0, 3);
  for (int i = 0; i < 100'000; ++i) {
    TransformSnapshot s = synced();
    s.freq_adj_q48 = freq(rng);
    const int64_t t1 = s.ref_local.ns + t(rng);
    const int64_t t2 = t1 + step(rng);
    ASSERT_LE(sync_at(s, t1).ns, sync_at(s, t2).ns) << "freq_q48=" << s.freq_adj_q48;
  }
}

TEST(Transform, BoundGrowsLinearlyBothSidesOfAsOf) {
  const TransformSnapshot s = synced();
  EXPECT_EQ(bound_at(s, s.as_of), 1'000u);
  EXPECT_EQ(bound_at(s, LocalTime{s.as_of.ns + 5 * kSec}), 1'000u + 50'000u);
  EXPECT_EQ(bound_at(s, LocalTime{s.as_of.ns - 5 * kSec}), 1'000u + 50'000u);
}

TEST(Transform, BoundRoundsUpAndSaturates) {
  TransformSnapshot s = synced();
  s.bound_growth_ppb = 1;
  EXPECT_EQ(bound_at(s, LocalTime{s.as_of.ns + 1}), 1'001u);  // never rounds a bound down
  s.bound_growth_ppb = kMaxBoundGrowthPpb;
  s.bound_at_as_of_ns = std::numeric_limits<uint64_t>::max() - 5;
  EXPECT_EQ(bound_at(s, LocalTime{std::numeric_limits<int64_t>::max()}),
            std::numeric_limits<uint64_t>::max());
  s.as_of = LocalTime{std::numeric_limits<int64_t>::min()};
  s.bound_at_as_of_ns = 0;
  EXPECT_EQ(bound_at(s, LocalTime{std::numeric_limits<int64_t>::max()}),
            std::numeric_limits<uint64_t>::max());
}

TEST(Transform, SynchronizedWithinLimitsReturnsTime) {
  const TransformSnapshot s = synced();
  const auto r = evaluate(s, LocalTime{105 * kSec});
  ASSERT_EQ(r.error, Error::kOk);
  EXPECT_EQ(r.status, ClockStatus::kSynchronized);
  EXPECT_EQ(r.time.ns, 5005 * kSec);
  EXPECT_EQ(r.bound_ns, 1'000u + 50'000u);
  EXPECT_EQ(r.epoch, 3u);
  EXPECT_EQ(r.local.ns, 105 * kSec);
}

TEST(Transform, HoldoverWithinLimitsStillReturnsTime) {
  TransformSnapshot s = synced();
  s.status = ClockStatus::kHoldover;
  const auto r = evaluate(s, LocalTime{101 * kSec});
  EXPECT_EQ(r.error, Error::kOk);
  EXPECT_EQ(r.status, ClockStatus::kHoldover);
}

TEST(Transform, WriterUnsynchronizedRefusesTime) {
  TransformSnapshot s = synced();
  s.status = ClockStatus::kUnsynchronized;
  const auto r = evaluate(s, LocalTime{101 * kSec});
  EXPECT_EQ(r.error, Error::kNotSynchronized);
  EXPECT_EQ(r.status, ClockStatus::kUnsynchronized);
  EXPECT_EQ(r.time.ns, 0);
}

TEST(Transform, PastVoidAfterIsStale) {
  const TransformSnapshot s = synced();
  EXPECT_EQ(evaluate(s, s.void_after).error, Error::kOk);
  const auto r = evaluate(s, LocalTime{s.void_after.ns + 1});
  EXPECT_EQ(r.error, Error::kStale);
  EXPECT_EQ(r.status, ClockStatus::kUnsynchronized);
}

TEST(Transform, BoundCrossingTheLimitDowngradesAtTheCrossing) {
  TransformSnapshot s = synced();
  s.void_after = LocalTime{1'000 * kSec};
  s.max_error_ns = 11'000;  // 1 us + 10 ppm x 1 s
  const auto at_limit = evaluate(s, LocalTime{s.as_of.ns + kSec});
  EXPECT_EQ(at_limit.error, Error::kOk);
  EXPECT_EQ(at_limit.bound_ns, 11'000u);
  const auto beyond = evaluate(s, LocalTime{s.as_of.ns + kSec + 100});
  EXPECT_EQ(beyond.error, Error::kBoundExceeded);
  EXPECT_EQ(beyond.status, ClockStatus::kUnsynchronized);
  EXPECT_GT(beyond.bound_ns, s.max_error_ns);
}

TEST(Transform, ValidateRefusesImpossibleContents) {
  TransformSnapshot s = synced();
  EXPECT_EQ(validate(s), Error::kOk);
  s.status = static_cast<ClockStatus>(7);
  EXPECT_EQ(validate(s), Error::kCorrupt);
  s = synced();
  s.void_after = LocalTime{s.as_of.ns - 1};
  EXPECT_EQ(validate(s), Error::kCorrupt);
  s = synced();
  s.freq_adj_q48 = kMaxFreqAdjQ48 + 1;
  EXPECT_EQ(validate(s), Error::kCorrupt);
  s = synced();
  s.bound_growth_ppb = kMaxBoundGrowthPpb + 1;
  EXPECT_EQ(validate(s), Error::kCorrupt);
  s = synced();
  s.master_id.fill('x');  // unterminated name: refused by snapshot readers
  EXPECT_EQ(validate(s), Error::kCorrupt);
}

TEST(Transform, MasterNameIsTruncatedAndTerminated) {
  TransformSnapshot s;
  s.set_master_name(std::string(100, 'm'));
  EXPECT_EQ(s.master_name().size(), kMasterIdSize - 1);
  EXPECT_EQ(validate(s), Error::kOk);
  s.set_master_name("som-master");
  EXPECT_EQ(s.master_name(), "som-master");
}

}  // namespace
}  // namespace timesync
