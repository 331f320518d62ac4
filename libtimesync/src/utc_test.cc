// evaluate_utc: UTC beside the timeline, on chosen inputs (pure maths).
#include "timesync/utc.hpp"

#include <gtest/gtest.h>

#include <limits>

namespace timesync {
namespace {

constexpr int64_t kSec = 1'000'000'000;
constexpr int64_t kDayS = 86'400;

// Timeline = local + 5000 s exactly, bound 1 us + 10 ppm of the age; UTC =
// timeline + 1.7e9 s at timeline 5000 s, error 4 us, moving at -2 ppm +/- 3 ppm.
TransformSnapshot synced() {
  TransformSnapshot s;
  s.epoch = 3;
  s.status = ClockStatus::kSynchronized;
  s.as_of = LocalTime{100 * kSec};
  s.void_after = LocalTime{110 * kSec};
  s.ref_local = LocalTime{100 * kSec};
  s.ref_sync = SyncTime{5000 * kSec};
  s.bound_at_as_of_ns = 1'000;
  s.bound_growth_ppb = 10'000;
  s.max_error_ns = 1'000'000;
  s.utc.flags = kUtcValid | kUtcReferenceSynchronized;
  s.utc.offset_ns = 1'700'000'000 * kSec;
  s.utc.as_of = SyncTime{5000 * kSec};
  s.utc.error_ns = 4'000;
  s.utc.rate_ppb = -2'000;
  s.utc.rate_error_ppb = 3'000;
  s.utc.tai_minus_utc_s = 37;
  return s;
}

TEST(Utc, TheOffsetMovesAtItsRateAndTheBoundAddsTheReferenceError) {
  const TransformSnapshot s = synced();
  // Two seconds after as_of: timeline 5002 s, bound 1 us + 20 us.
  const UtcWithError u = evaluate_utc(s, LocalTime{102 * kSec});
  ASSERT_EQ(u.error, Error::kOk);
  EXPECT_EQ(u.time.ns, 5002 * kSec);
  EXPECT_EQ(u.utc_ns, 5002 * kSec + 1'700'000'000 * kSec - 4'000);  // -2 ppm x 2 s
  EXPECT_EQ(u.bound_ns, 21'000u + 4'000u + 6'000u + 1u);           // + 3 ppm x 2 s, + 1 for rounding
  EXPECT_EQ(u.status, ClockStatus::kSynchronized);
  EXPECT_EQ(u.epoch, 3u);
  EXPECT_EQ(u.tai_minus_utc_s, 37);
  EXPECT_TRUE(u.reference_synchronized);
  EXPECT_FALSE(u.leap_list_expired);
  EXPECT_EQ(u.leap, LeapState::kNone);
}

TEST(Utc, AnOffsetFromTheFutureCountsItsAgeBothWays) {
  TransformSnapshot s = synced();
  s.utc.as_of = SyncTime{5004 * kSec};  // the answer came after this reading's instant
  const UtcWithError u = evaluate_utc(s, LocalTime{102 * kSec});
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u.utc_ns, 5002 * kSec + 1'700'000'000 * kSec + 4'000);
  EXPECT_EQ(u.bound_ns, 21'000u + 4'000u + 6'000u + 1u);
}

TEST(Utc, RefusedWithTheTimelinesReasonFirstThenWithoutUtc) {
  TransformSnapshot s = synced();
  s.status = ClockStatus::kUnsynchronized;
  EXPECT_EQ(evaluate_utc(s, LocalTime{102 * kSec}).error, Error::kNotSynchronized);
  s = synced();
  EXPECT_EQ(evaluate_utc(s, LocalTime{111 * kSec}).error, Error::kStale);
  s.utc = UtcInfo{};
  const UtcWithError u = evaluate_utc(s, LocalTime{102 * kSec});
  EXPECT_EQ(u.error, Error::kNoUtc);
  EXPECT_EQ(u.utc_ns, 0);
}

TEST(Utc, ImpossibleOrOverflowingFieldsAreCorrupt) {
  TransformSnapshot s = synced();
  s.utc.flags |= 1u << 7;
  EXPECT_EQ(evaluate_utc(s, LocalTime{102 * kSec}).error, Error::kCorrupt);
  s = synced();
  s.utc.rate_error_ppb = static_cast<uint64_t>(kMaxUtcRatePpb) + 1;
  EXPECT_EQ(evaluate_utc(s, LocalTime{102 * kSec}).error, Error::kCorrupt);
  s = synced();
  s.utc.offset_ns = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(evaluate_utc(s, LocalTime{102 * kSec}).error, Error::kCorrupt);
  s = synced();
  s.utc.error_ns = std::numeric_limits<uint64_t>::max();
  EXPECT_EQ(evaluate_utc(s, LocalTime{102 * kSec}).error, Error::kCorrupt);
  s = synced();
  s.utc.as_of = SyncTime{std::numeric_limits<int64_t>::min()};
  EXPECT_EQ(evaluate_utc(s, LocalTime{102 * kSec}).error, Error::kCorrupt);
}

TEST(Utc, ALeapSecondIsAnnouncedOnItsDayOnly) {
  UtcInfo u = synced().utc;
  const int64_t midnight = 20'000 * kDayS;
  u.next_leap_utc_s = midnight;
  u.next_tai_minus_utc_s = 38;
  EXPECT_EQ(leap_at(u, midnight - 1), LeapState::kInsert);
  EXPECT_EQ(leap_at(u, midnight - kDayS), LeapState::kInsert);  // 00:00:00 of that day
  EXPECT_EQ(leap_at(u, midnight - kDayS - 1), LeapState::kNone);  // the day before
  EXPECT_EQ(leap_at(u, midnight), LeapState::kNone);  // after it
  u.next_tai_minus_utc_s = 36;
  EXPECT_EQ(leap_at(u, midnight - 1), LeapState::kDelete);
  u.tai_minus_utc_s = 0;  // unknown: no announcement can be trusted
  EXPECT_EQ(leap_at(u, midnight - 1), LeapState::kNone);

  // Through evaluate_utc: a reading on the leap day says so.
  TransformSnapshot s = synced();
  s.utc.next_tai_minus_utc_s = 38;
  const int64_t utc_s = (5000 * kSec + s.utc.offset_ns) / kSec;  // the reading's UTC second
  s.utc.next_leap_utc_s = (utc_s / kDayS + 1) * kDayS;
  EXPECT_EQ(evaluate_utc(s, LocalTime{100 * kSec}).leap, LeapState::kInsert);
}

}  // namespace
}  // namespace timesync
