#include "timesync/estimator/filter.hpp"

#include <gtest/gtest.h>

namespace timesync::estimator {
namespace {

// An exchange with the given one-way delays, master 1 s ahead of local.
Exchange exchange(int64_t at_ns, int64_t up_ns, int64_t down_ns) {
  constexpr int64_t kOffset = 1'000'000'000, kHold = 5'000;
  Exchange x;
  x.t0 = LocalTime{at_ns};
  x.t1_ns = at_ns + up_ns + kOffset;
  x.t2_ns = x.t1_ns + kHold;
  x.t3 = LocalTime{at_ns + up_ns + kHold + down_ns};
  return x;
}

TEST(Sample, OffsetAndDelayFollowTheFourTimestampFormulas) {
  Sample s;
  ASSERT_TRUE(make_sample(exchange(1'000'000, 30'000, 50'000), &s));
  EXPECT_EQ(s.delay_ns, 80'000);
  // Asymmetry of 20 us shows up as half of it in the offset, within delay/2.
  EXPECT_EQ(s.offset_ns, 1'000'000'000 - 10'000);
  EXPECT_LE(std::llabs(s.offset_ns - 1'000'000'000), static_cast<int64_t>(s.measurement_error_ns()));
  EXPECT_EQ(s.local.ns, 1'000'000 + (30'000 + 5'000 + 50'000) / 2);
}

TEST(Sample, CalibrationCorrectsTheOffsetAndWidensTheHardInterval) {
  // The request leg is 20 us slower than the answer: uncorrected, the offset
  // reads 10 us high, so this SoM's time runs 10 us ahead and its pulses come
  // 10 us early. The probe reports -10 us; that mean is the correction.
  Exchange x = exchange(1'000'000, 50'000, 30'000);
  Sample plain;
  ASSERT_TRUE(make_sample(x, &plain));
  EXPECT_EQ(plain.offset_ns, 1'000'000'000 + 10'000);
  x.correction_ns = -10'000;
  Sample s;
  ASSERT_TRUE(make_sample(x, &s));
  EXPECT_EQ(s.offset_ns, 1'000'000'000);
  EXPECT_EQ(s.measurement_error_ns(), plain.measurement_error_ns() + 10'000);
  // Even a wrong calibration keeps the truth inside the interval.
  for (int64_t c : {-300'000, -40'000, 40'000, 300'000}) {
    x.correction_ns = c;
    ASSERT_TRUE(make_sample(x, &s));
    EXPECT_LE(std::llabs(s.offset_ns - 1'000'000'000),
              static_cast<int64_t>(s.measurement_error_ns()))
        << c;
  }
}

TEST(Sample, ImpossibleTimestampsAreInvalid) {
  Sample s;
  Exchange x = exchange(1'000'000, 30'000, 30'000);
  std::swap(x.t0, x.t3);
  EXPECT_FALSE(make_sample(x, &s));
  x = exchange(1'000'000, 30'000, 30'000);
  std::swap(x.t1_ns, x.t2_ns);
  EXPECT_FALSE(make_sample(x, &s));
  x = exchange(1'000'000, 30'000, 30'000);
  x.t2_ns += 1'000'000;  // the master claims to have held it longer than the round trip
  EXPECT_FALSE(make_sample(x, &s));
}

TEST(Filter, RejectsQueuedSamples) {
  SampleFilter f(FilterParams{});
  Sample s;
  for (int i = 0; i < 32; ++i) {
    ASSERT_EQ(f.add(exchange(i * 100'000'000LL, 25'000, 25'000), std::nullopt, &s), Verdict::kAccepted);
  }
  EXPECT_EQ(f.min_delay_ns(), 50'000);
  // 400 us queued on the way back: eight times the minimum round trip.
  EXPECT_EQ(f.add(exchange(4'000'000'000, 25'000, 425'000), std::nullopt, &s), Verdict::kDelayRatio);
  // Slightly slower than the best, but fine.
  EXPECT_EQ(f.add(exchange(4'100'000'000, 30'000, 30'000), std::nullopt, &s), Verdict::kAccepted);
  EXPECT_NEAR(s.weight, (50.0 / 60.0) * (50.0 / 60.0), 1e-9);
}

TEST(Filter, RejectsOffsetsTheExcessDelayCannotExplain) {
  SampleFilter f(FilterParams{});
  Sample s;
  for (int i = 0; i < 8; ++i) f.add(exchange(i * 100'000'000LL, 25'000, 25'000), std::nullopt, &s);
  const double predicted = 1'000'000'000.0;
  // 10 us of excess delay, but the offset is 1 ms off the prediction.
  Exchange x = exchange(900'000'000, 30'000, 30'000);
  x.t1_ns += 1'000'000;
  x.t2_ns += 1'000'000;
  EXPECT_EQ(f.add(x, predicted, &s), Verdict::kDelayDeviation);
  EXPECT_EQ(f.add(exchange(1'000'000'000, 30'000, 30'000), predicted, &s), Verdict::kAccepted);
}

TEST(Filter, MinimumFollowsTheWindow) {
  FilterParams p;
  p.window = 4;
  p.delay_floor_ns = 0;
  SampleFilter f(p);
  Sample s;
  f.add(exchange(0, 10'000, 10'000), std::nullopt, &s);
  for (int i = 1; i <= 4; ++i) f.add(exchange(i * 1'000'000LL, 30'000, 30'000), std::nullopt, &s);
  EXPECT_EQ(f.min_delay_ns(), 60'000);  // the 20 us sample has left the window
}

}  // namespace
}  // namespace timesync::estimator
