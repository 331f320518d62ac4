// The counter map in simulated time: a counter whose truth is a known line
// (or a line that changes), pairs with random bracket widths, and every map
// the calibrator gives checked against the truth over the whole span it
// vouches for. Also where the agent refuses the counter (counter_refusal).
#include <cmath>
#include <cstdio>
#include <limits>
#include <cstdint>
#include <random>

#include <gtest/gtest.h>

#include "counter_calibrator.hpp"
#include "counter_host.hpp"
#include "timesync/read_path.hpp"

namespace timesync::agent {
namespace {

using Verdict = CounterCalibrator::Verdict;

// A simulated counter: raw(c) = raw0 + (c - c0) x ns_per_count exactly.
struct SimCounter {
  double ns_per_count = 1.0 / 2.1;  // 2.1 GHz
  uint64_t c0 = 5'000'000'000'000;
  int64_t raw0 = 1'000'000'000'000;
  int64_t suspended_ns = 0;
  double raw_at(uint64_t c) const {
    return static_cast<double>(raw0) + static_cast<double>(static_cast<int64_t>(c - c0)) * ns_per_count;
  }
  uint64_t count_at(double raw) const {
    return c0 + static_cast<uint64_t>(std::llround((raw - static_cast<double>(raw0)) / ns_per_count));
  }
  // The pair the agent would take at raw time t: a bracket of 2 x half
  // counts, the clock's read somewhere inside it (at either end a third of
  // the time each: the worst case), truncated to the ns.
  CounterPair pair_at(double t, uint64_t half, std::mt19937_64& rng) const {
    const uint64_t mid = count_at(t);
    const auto h = static_cast<int64_t>(half);
    const int64_t where = rng() % 3 == 0   ? -h
                          : rng() % 2 == 0 ? h
                                           : std::uniform_int_distribution<int64_t>(-h, h)(rng);
    CounterPair p;
    p.count = mid;
    p.half_width = half;
    p.raw_ns = static_cast<int64_t>(std::floor(raw_at(mid + static_cast<uint64_t>(where))));
    p.suspended_ns = suspended_ns;
    return p;
  }
};

Transform slot_until(double void_after) {
  Transform s;
  s.void_after.ns = static_cast<int64_t>(void_after);
  return s;
}

// The worst |map - truth| over the span the map vouches for, in ns.
double worst_error(const CounterMap& m, const SimCounter& sim, int64_t until) {
  double worst = 0;
  const uint64_t last = sim.count_at(static_cast<double>(until));
  for (int i = 0; i <= 1000; ++i) {
    const uint64_t c = m.ref_count + (last - m.ref_count) / 1000 * static_cast<uint64_t>(i);
    int64_t raw = 0;
    EXPECT_TRUE(counter_to_raw(m, c, &raw));
    worst = std::max(worst, std::fabs(static_cast<double>(raw) - sim.raw_at(c)));
  }
  return worst;
}

// What a reader gets through the map (read_path.hpp) against the truth: the
// transform's exact line at the counter's true raw instant, whose own error
// the transform's bound covers. Honest when |time - line| <= the returned
// bound minus the transform's bound there (what the reader added for the
// counter). Returns the worst ratio of the two over the map's span, or -1 if
// the reader gave no time.
double worst_reader_ratio(const detail::FastSlot& s, const SimCounter& sim) {
  double worst = -1;
  const uint64_t last = sim.count_at(static_cast<double>(s.void_after.ns));
  const double f = q48_to_ppb(s.freq_adj_q48) * 1e-9;
  for (int i = 0; i <= 1000; ++i) {
    const uint64_t c = s.counter.ref_count + (last - s.counter.ref_count) / 1000 * static_cast<uint64_t>(i);
    TimestampWithError r;
    if (!detail::fast_counter_timestamp(s, c, &r)) continue;
    const double raw = sim.raw_at(c);
    const double line = static_cast<double>(s.ref_sync.ns) + (raw - static_cast<double>(s.ref_local.ns)) * (1 + f);
    const double own = static_cast<double>(s.bound_at_as_of_ns) +
                       (raw - static_cast<double>(s.as_of.ns)) * static_cast<double>(s.bound_growth_ppb) * 1e-9;
    const double room = static_cast<double>(r.bound_ns) - own;
    worst = std::max(worst, room > 0 ? std::fabs(static_cast<double>(r.time.ns) - line) / room
                                     : std::numeric_limits<double>::infinity());
  }
  return worst;
}

TEST(CounterCalibratorTest, EveryMapHoldsItsErrorOverItsWholeSpan) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    std::mt19937_64 rng(seed);
    SimCounter sim;
    sim.ns_per_count = 1.0 / std::uniform_real_distribution<double>(0.024, 4.0)(rng);  // 24 MHz-4 GHz
    CounterCalibrator cal;
    std::uniform_int_distribution<uint64_t> half(1, 400);
    double t = static_cast<double>(sim.raw0);
    double worst_map = 0, worst_reader = 0;
    CounterMap m;
    for (int i = 0; i < 200; ++i) {
      const Verdict v = cal.add(sim.pair_at(t, half(rng), rng));
      ASSERT_EQ(v, i == 0 ? Verdict::kFirst : Verdict::kAgrees) << "seed " << seed << " pair " << i;
      // A slot as the agent publishes it: its transform measured 1 ms before
      // the pair, valid for 10 s, any frequency and bound growth it may carry.
      detail::FastSlot s;
      s.status = ClockStatus::kSynchronized;
      s.as_of.ns = s.ref_local.ns = static_cast<int64_t>(t) - 1'000'000;
      s.ref_sync.ns = s.ref_local.ns + 123'456'789;
      s.void_after.ns = static_cast<int64_t>(t + 10e9);
      s.freq_adj_q48 = static_cast<int64_t>(rng() % (2 * kMaxFreqAdjQ48 + 1)) - kMaxFreqAdjQ48;
      s.bound_growth_ppb = rng() % 4 == 0 ? rng() % (kMaxBoundGrowthPpb + 1) : rng() % 100'000;
      s.bound_at_as_of_ns = 1000;
      s.max_error_ns = UINT64_MAX;
      m = s.counter = cal.map_for(s);
      if (i < 2) {
        EXPECT_FALSE(m.valid()) << "pair " << i << ": no pair has confirmed a line yet";
        EXPECT_NE(cal.why_none().find("calibrating"), std::string::npos) << cal.why_none();
      } else if (m.valid()) {
        const double w = worst_error(m, sim, s.void_after.ns);
        EXPECT_LE(w, static_cast<double>(m.error_ns)) << "seed " << seed << " pair " << i;
        worst_map = std::max(worst_map, w / static_cast<double>(m.error_ns));
        const double reader = worst_reader_ratio(s, sim);
        EXPECT_LE(reader, 1.0) << "seed " << seed << " pair " << i;
        worst_reader = std::max(worst_reader, reader);
      }
      t += std::uniform_real_distribution<double>(0.2e9, 2e9)(rng);
    }
    // After 200 pairs (a few minutes) the map exists and its error is little
    // more than the last pair's half width and the 1 ppb allowance over 10 s
    // (at the 2 % of a 1 % frequency and growth).
    ASSERT_TRUE(m.valid()) << "seed " << seed;
    EXPECT_LT(m.error_ns, (400 * sim.ns_per_count + 10 + 30) * 2.02) << "seed " << seed;
    // The reader's time and bound were checked, and the error came close to
    // what the reader added for the counter.
    EXPECT_GT(worst_reader, 0.3) << "seed " << seed;
    std::fprintf(stderr, "seed %2llu: worst map error / claimed %.2f, worst reader error / bound %.3f\n",
                 static_cast<unsigned long long>(seed), worst_map, worst_reader);
  }
}

TEST(CounterCalibratorTest, ABadFirstPairIsCaughtBeforeItsLineIsPublished) {
  std::mt19937_64 rng(11);
  SimCounter sim;
  CounterCalibrator cal;
  CounterPair bad = sim.pair_at(1e12, 40, rng);
  bad.raw_ns += 50'000;  // 50 us off its bracket: a clock read that lied
  EXPECT_EQ(cal.add(bad), Verdict::kFirst);
  EXPECT_EQ(cal.add(sim.pair_at(1e12 + 4e9, 40, rng)), Verdict::kAgrees);
  EXPECT_FALSE(cal.map_for(slot_until(1e12 + 14e9)).valid()) << "a line no pair confirmed";
  // The third pair is 12.5 ppm x 4 s = 50 us off that line.
  EXPECT_EQ(cal.add(sim.pair_at(1e12 + 8e9, 40, rng)), Verdict::kOffLine);
  EXPECT_FALSE(cal.map_for(slot_until(1e12 + 18e9)).valid());
  EXPECT_EQ(cal.add(sim.pair_at(1e12 + 12e9, 40, rng)), Verdict::kAgrees);
  EXPECT_EQ(cal.add(sim.pair_at(1e12 + 16e9, 40, rng)), Verdict::kAgrees);
  const CounterMap m = cal.map_for(slot_until(1e12 + 26e9));
  ASSERT_TRUE(m.valid());
  EXPECT_LE(worst_error(m, sim, static_cast<int64_t>(1e12 + 26e9)), static_cast<double>(m.error_ns));
}

TEST(CounterCalibratorTest, ErrorGrowsWithTheSlotsValidityAndRates) {
  std::mt19937_64 rng(7);
  SimCounter sim;
  CounterCalibrator cal;
  cal.add(sim.pair_at(1e12 - 1e9, 40, rng));
  cal.add(sim.pair_at(1e12, 40, rng));
  cal.add(sim.pair_at(1e12 + 1e9, 40, rng));
  const CounterMap near = cal.map_for(slot_until(1e12 + 1e9 + 1e9));
  const CounterMap far = cal.map_for(slot_until(1e12 + 1e9 + 10e9));
  ASSERT_TRUE(near.valid());
  ASSERT_TRUE(far.valid());
  EXPECT_GT(far.error_ns, near.error_ns);
  Transform fast = slot_until(1e12 + 1e9 + 10e9);
  fast.freq_adj_q48 = kMaxFreqAdjQ48;  // 1 %
  fast.bound_growth_ppb = 10'000'000;  // 1 %
  const CounterMap scaled = cal.map_for(fast);
  ASSERT_TRUE(scaled.valid());
  EXPECT_GE(static_cast<double>(scaled.error_ns), 1.02 * static_cast<double>(far.error_ns) - 1);
  // A reference before the slot's as_of: no map (the reader carries the
  // time on from the reference).
  Transform later = slot_until(1e12 + 11e9);
  later.as_of.ns = static_cast<int64_t>(1e12 + 2e9);
  EXPECT_FALSE(cal.map_for(later).valid());
  // An error over max_error_ns: no map at all.
  CounterCalibrator tight(CounterCalibrator::Options{5, 1});
  tight.add(sim.pair_at(1e12 - 1e9, 40, rng));
  tight.add(sim.pair_at(1e12, 40, rng));
  tight.add(sim.pair_at(1e12 + 1e9, 40, rng));
  EXPECT_FALSE(tight.map_for(slot_until(1e12 + 11e9)).valid());
  EXPECT_NE(tight.why_none().find("alarm.void_after_s too long?"), std::string::npos)
      << tight.why_none();
}

TEST(CounterCalibratorTest, AChangedCounterDropsTheMapUntilAPairConfirmsANewLine) {
  std::mt19937_64 rng(3);
  SimCounter sim;
  CounterCalibrator cal;
  double t = 1e12;
  for (int i = 0; i < 10; ++i, t += 1e9) cal.add(sim.pair_at(t, 40, rng));
  ASSERT_TRUE(cal.map_for(slot_until(t)).valid());
  // Migrated to a host whose counter runs 20 ppm faster, from the same value.
  const uint64_t c_now = sim.count_at(t);
  sim.c0 = c_now;
  sim.raw0 = static_cast<int64_t>(t);
  sim.ns_per_count /= 1 + 20e-6;
  t += 1e9;
  EXPECT_EQ(cal.add(sim.pair_at(t, 40, rng)), Verdict::kOffLine);
  EXPECT_NE(cal.why().find("off the line"), std::string::npos) << cal.why();
  EXPECT_FALSE(cal.map_for(slot_until(t + 10e9)).valid());
  t += 1e9;
  EXPECT_EQ(cal.add(sim.pair_at(t, 40, rng)), Verdict::kAgrees);
  EXPECT_FALSE(cal.map_for(slot_until(t + 10e9)).valid()) << "a new line, not yet confirmed";
  t += 1e9;
  EXPECT_EQ(cal.add(sim.pair_at(t, 40, rng)), Verdict::kAgrees);
  const CounterMap m = cal.map_for(slot_until(t + 10e9));
  ASSERT_TRUE(m.valid());
  EXPECT_LE(worst_error(m, sim, static_cast<int64_t>(t + 10e9)), static_cast<double>(m.error_ns));

  // Restored from a snapshot: the counter jumped by 1 ms worth of counts.
  t += 1e9;
  sim.c0 += static_cast<uint64_t>(1e6 / sim.ns_per_count);
  EXPECT_EQ(cal.add(sim.pair_at(t, 40, rng)), Verdict::kOffLine);

  // A counter that went backwards (a reset) and a suspend.
  t += 1e9;
  sim.c0 -= uint64_t{1} << 40;
  EXPECT_EQ(cal.add(sim.pair_at(t, 40, rng)), Verdict::kBackwards);
  t += 1e9;
  cal.add(sim.pair_at(t, 40, rng));
  t += 1e9;
  sim.suspended_ns += 30'000'000'000;
  EXPECT_EQ(cal.add(sim.pair_at(t, 40, rng)), Verdict::kSuspended);
  EXPECT_FALSE(cal.map_for(slot_until(t + 10e9)).valid());

  // A read that gave no pair: no map, and the next pair starts afresh.
  for (int i = 0; i < 2; ++i) {
    t += 1e9;
    EXPECT_EQ(cal.add(sim.pair_at(t, 40, rng)), Verdict::kAgrees);
  }
  ASSERT_TRUE(cal.map_for(slot_until(t + 10e9)).valid());
  CounterPair none;
  none.valid = false;
  EXPECT_EQ(cal.add(none), Verdict::kNoPair);
  EXPECT_FALSE(cal.map_for(slot_until(t + 10e9)).valid());
  t += 1e9;
  EXPECT_EQ(cal.add(sim.pair_at(t, 40, rng)), Verdict::kFirst);
}

TEST(CounterCalibratorTest, RefusesWhatIsNoCounter) {
  std::mt19937_64 rng(5);
  SimCounter sim;
  sim.ns_per_count = 1000;  // 1 MHz: below what a map describes
  CounterCalibrator cal;
  cal.add(sim.pair_at(1e12, 1, rng));
  EXPECT_EQ(cal.add(sim.pair_at(1e12 + 1e9, 1, rng)), Verdict::kOffLine);
  EXPECT_NE(cal.why().find("outside"), std::string::npos) << cal.why();
  EXPECT_FALSE(cal.map_for(slot_until(1e12 + 2e9)).valid());
}

TEST(CounterRefusalTest, SaysWhyTheCounterIsNotUsed) {
  CounterFacts kvm;
  kvm.have_counter = kvm.x86 = kvm.constant_tsc = kvm.nonstop_tsc = true;
  kvm.clocksource = "kvm-clock";
  kvm.available = "kvm-clock";
  const std::string auto_kvm = counter_refusal(config::CounterUse::kAuto, kvm);
  EXPECT_NE(auto_kvm.find("clocksource is kvm-clock, not tsc"), std::string::npos) << auto_kvm;
  EXPECT_NE(auto_kvm.find("does not trust the TSC"), std::string::npos) << auto_kvm;
  EXPECT_EQ(counter_refusal(config::CounterUse::kOn, kvm), "");
  EXPECT_EQ(counter_refusal(config::CounterUse::kOff, kvm), "counter: off");

  CounterFacts metal = kvm;
  metal.clocksource = "tsc";
  metal.available = "tsc hpet acpi_pm";
  EXPECT_EQ(counter_refusal(config::CounterUse::kAuto, metal), "");
  metal.nonstop_tsc = false;  // stops in deep sleep states: not even with `on`
  EXPECT_NE(counter_refusal(config::CounterUse::kOn, metal).find("nonstop_tsc"), std::string::npos);

  CounterFacts arm;
  arm.have_counter = true;
  arm.clocksource = "arch_sys_counter";
  EXPECT_EQ(counter_refusal(config::CounterUse::kAuto, arm), "");
  CounterFacts none;
  EXPECT_NE(counter_refusal(config::CounterUse::kOn, none).find("no counter"), std::string::npos);
}

}  // namespace
}  // namespace timesync::agent
