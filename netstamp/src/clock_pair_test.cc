// The realtime-to-raw conversion against a simulated pair of clocks: slews
// are converted within their uncertainty, steps between a stamp and its
// conversion are dropped, never converted wrongly.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <deque>
#include <random>

#include "timesync/netstamp/clock_pair.hpp"
#include "timesync/netstamp/phc.hpp"
#include "timesync/netstamp/realtime_to_raw.hpp"

namespace timesync::netstamp {
namespace {

constexpr int64_t kEpoch = 1'795'000'000'000'000'000;  // realtime near 2026, in ns

// CLOCK_MONOTONIC_RAW and a CLOCK_REALTIME that slews at slew_ppm and can be
// stepped. Every read costs read_cost_ns of raw time (or the next of
// scripted_costs), so paired reads have a real width.
class FakeClocks final : public ClockReader {
 public:
  int64_t raw = 1'000'000'000'000;  // the true raw time now
  int64_t read_cost_ns = 20;
  std::deque<int64_t> scripted_costs;
  double slew_ppm = 0;
  int64_t stepped_ns = 0;

  // The realtime value at raw instant r (the model: base + slew + steps).
  int64_t realtime_at(int64_t r) const {
    return kEpoch + r + static_cast<int64_t>(slew_ppm * 1e-6 * static_cast<double>(r - kSlewOrigin)) + stepped_ns;
  }
  void advance(int64_t ns) { raw += ns; }

  int64_t monotonic_raw_ns() override {
    const int64_t v = raw;
    raw += cost();
    return v;
  }
  int64_t realtime_ns() override {
    const int64_t v = realtime_at(raw);
    raw += cost();
    return v;
  }

 private:
  static constexpr int64_t kSlewOrigin = 1'000'000'000'000;
  int64_t cost() {
    if (scripted_costs.empty()) return read_cost_ns;
    const int64_t c = scripted_costs.front();
    scripted_costs.pop_front();
    return c;
  }
};

TEST(PairedRead, MidpointAndHalfWidthCoverTheMiddleRead) {
  const PairedRead p = make_paired_read(1000, kEpoch + 1010, 1021);
  EXPECT_EQ(p.raw_ns, 1010);
  EXPECT_EQ(p.half_width_ns, 11);  // ceil(21 / 2)
  EXPECT_EQ(p.diff_ns, kEpoch);
  // The middle read happened somewhere in [1000, 1021]: inside raw +- hw.
  EXPECT_LE(p.raw_ns - p.half_width_ns, 1000);
  EXPECT_GE(p.raw_ns + p.half_width_ns, 1021);
}

TEST(PairedRead, TheNarrowestOfSeveralTriesIsKept) {
  FakeClocks clocks;
  // Try 1 is preempted for 100 us between its reads; tries 2.. cost 20 ns a read.
  clocks.scripted_costs = {100'000, 20};
  const PairedRead p = read_realtime_pair(clocks, 5);
  EXPECT_EQ(p.half_width_ns, 20);
  EXPECT_EQ(p.diff_ns, kEpoch);
}

TEST(RealtimeToRaw, ConvertsAStampBetweenMarkAndConversion) {
  FakeClocks clocks;
  RealtimeToRaw conv(clocks);
  conv.mark();
  clocks.advance(30'000);
  const int64_t true_raw = clocks.raw;
  const int64_t stamp = clocks.realtime_at(true_raw);
  clocks.advance(70'000);
  const Conversion c = conv.convert(stamp);
  ASSERT_TRUE(c.ok()) << to_string(c.verdict);
  EXPECT_LE(std::llabs(c.raw_ns - true_raw), c.uncertainty_ns);
  EXPECT_LE(c.uncertainty_ns, 25);  // a read's width, not the bracket's length
  EXPECT_EQ(c.moved_ns, 0);
}

TEST(RealtimeToRaw, ASlewWithinTheLimitIsConvertedWithinItsUncertainty) {
  for (const double ppm : {-450.0, -30.0, 12.5, 480.0}) {
    FakeClocks clocks;
    clocks.slew_ppm = ppm;
    RealtimeToRaw conv(clocks);
    conv.mark();
    clocks.advance(400'000);
    const int64_t true_raw = clocks.raw;
    const int64_t stamp = clocks.realtime_at(true_raw);
    clocks.advance(600'000);
    const Conversion c = conv.convert(stamp);
    ASSERT_TRUE(c.ok()) << ppm << " ppm: " << to_string(c.verdict) << " moved " << c.moved_ns;
    EXPECT_LE(std::llabs(c.raw_ns - true_raw), c.uncertainty_ns) << ppm << " ppm";
  }
}

TEST(RealtimeToRaw, AStepBetweenStampAndConversionDropsTheSample) {
  for (const int64_t step : {int64_t{10'000'000}, int64_t{-10'000'000}, int64_t{-1'000'000}, int64_t{5'000},
                             int64_t{-5'000}, int64_t{1'000'000'000'000}}) {
    FakeClocks clocks;
    RealtimeToRaw conv(clocks);
    conv.mark();
    clocks.advance(50'000);
    const int64_t stamp = clocks.realtime_at(clocks.raw);
    clocks.advance(20'000);
    clocks.stepped_ns += step;  // settimeofday / makestep between stamp and conversion
    clocks.advance(20'000);
    const Conversion c = conv.convert(stamp);
    EXPECT_FALSE(c.ok()) << "step " << step << " ns went unnoticed: moved " << c.moved_ns << ", allowed "
                         << c.allowed_ns;
    EXPECT_EQ(c.verdict, Verdict::kStepped) << "step " << step;
    EXPECT_EQ(c.moved_ns, step);
  }
}

TEST(RealtimeToRaw, AStepBetweenMarkAndStampIsDroppedToo) {
  // The conversion cannot tell on which side of the stamp the step fell, so
  // it drops the sample either way.
  FakeClocks clocks;
  RealtimeToRaw conv(clocks);
  conv.mark();
  clocks.advance(20'000);
  clocks.stepped_ns -= 2'000'000;
  clocks.advance(20'000);
  const int64_t stamp = clocks.realtime_at(clocks.raw);
  clocks.advance(20'000);
  EXPECT_EQ(conv.convert(stamp).verdict, Verdict::kStepped);
  // A new mark after the step vouches for later stamps again.
  conv.mark();
  clocks.advance(10'000);
  const int64_t true_raw = clocks.raw;
  const int64_t later = clocks.realtime_at(true_raw);
  clocks.advance(10'000);
  const Conversion c = conv.convert(later);
  ASSERT_TRUE(c.ok());
  EXPECT_LE(std::llabs(c.raw_ns - true_raw), c.uncertainty_ns);
}

TEST(RealtimeToRaw, WithoutAMarkOrForAStampBeforeItNothingIsConverted) {
  FakeClocks clocks;
  RealtimeToRaw conv(clocks);
  const int64_t early = clocks.realtime_at(clocks.raw);
  clocks.advance(10'000);
  EXPECT_EQ(conv.convert(early).verdict, Verdict::kNotBracketed);
  clocks.advance(1'000'000);
  conv.mark();
  clocks.advance(10'000);
  // Stamped 1 ms before the mark: outside the bracket, which only vouches
  // for what came after the mark.
  EXPECT_EQ(conv.convert(early).verdict, Verdict::kNotBracketed);
}

TEST(RealtimeToRaw, TheLimitScalesWithTheBracket) {
  // 500 ppm of a 100 ms bracket is 50 us: a 40 us step inside it looks like a
  // slew, a 60 us one does not. This is the documented price of a long
  // bracket, and the reason callers mark shortly before stamping.
  const PairedRead before{0, kEpoch, 10};
  const PairedRead after40{100'000'000, kEpoch + 40'000, 10};
  const PairedRead after60{100'000'000, kEpoch + 60'000, 10};
  const Conversion c40 = convert_between(kEpoch + 50'000'000, before, after40);
  const Conversion c60 = convert_between(kEpoch + 50'000'000, before, after60);
  EXPECT_EQ(c40.allowed_ns, 50'000 + 2 * 20 + 1'000);
  EXPECT_TRUE(c40.ok());
  EXPECT_EQ(c40.uncertainty_ns, 10 + 20'000 + 1);  // the midpoint is within |moved|/2
  EXPECT_EQ(c60.verdict, Verdict::kStepped);
}

// Random brackets, slews and steps: a slew within the limit is converted
// within its uncertainty, a step beyond the limit is always dropped.
TEST(RealtimeToRaw, RandomisedSlewsAndSteps) {
  uint64_t seed = std::random_device{}();
  if (const char* s = std::getenv("NETSTAMP_SEED")) seed = std::strtoull(s, nullptr, 10);
  std::printf("NETSTAMP_SEED=%llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> ppm(-499.0, 499.0);
  std::uniform_int_distribution<int64_t> gap(0, 5'000'000), cost(5, 2'000);
  std::bernoulli_distribution stepped(0.5);
  for (int i = 0; i < 20'000; ++i) {
    FakeClocks clocks;
    clocks.read_cost_ns = cost(rng);
    clocks.slew_ppm = ppm(rng);
    RealtimeToRaw conv(clocks);
    const PairedRead before = conv.mark();
    clocks.advance(gap(rng));
    const int64_t true_raw = clocks.raw;
    const int64_t stamp = clocks.realtime_at(true_raw);
    clocks.advance(gap(rng));
    int64_t step = 0;
    if (stepped(rng)) {
      // Beyond what the widest bracket here allows: 500 ppm x 10 ms + reads.
      const int64_t magnitude = std::uniform_int_distribution<int64_t>(30'000, 10'000'000'000)(rng);
      step = (rng() & 1) != 0 ? magnitude : -magnitude;
      clocks.stepped_ns += step;
    }
    clocks.advance(gap(rng));
    const Conversion c = conv.convert(stamp, before);
    if (step != 0) {
      ASSERT_FALSE(c.ok()) << "seed " << seed << " case " << i << ": step " << step << " accepted";
    } else {
      ASSERT_TRUE(c.ok()) << "seed " << seed << " case " << i << ": " << to_string(c.verdict);
      ASSERT_LE(std::llabs(c.raw_ns - true_raw), c.uncertainty_ns) << "seed " << seed << " case " << i;
    }
  }
}

TEST(PhcToRaw, AMissingDeviceIsAClearError) {
  // No PHC on this machine: only the failure path of the ioctl code runs here.
  const Result<PhcToRaw> phc = PhcToRaw::open_path("/dev/ptp-timesync-none", {});
  ASSERT_FALSE(phc.ok());
  EXPECT_NE(phc.status().message().find("/dev/ptp-timesync-none"), std::string::npos)
      << phc.status().message();
  EXPECT_EQ(PhcToRaw::open(-1).code(), Errc::kInvalidArgument);
}

}  // namespace
}  // namespace timesync::netstamp
