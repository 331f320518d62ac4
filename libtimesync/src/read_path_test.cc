// The inline read path (read_path.hpp) against evaluate() (transform.hpp), the
// definition: on random transforms and instants, with edge values mixed in,
// whenever the fast path gives a time it must be exactly evaluate()'s answer,
// with the instant whole or split as clock_gettime gives it (seconds in ns
// plus nanoseconds). The seed is printed; TIMESYNC_TEST_SEED replays it.
#include "timesync/read_path.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "../../tests/support/test_seed.hpp"

namespace timesync {
namespace {

using detail::fast_evaluate;
using detail::fast_usable;

TEST(ReadPath, TheInlineEvaluationIsExactlyEvaluate) {
  std::mt19937_64 g = testing::seeded_rng("read_path");
  const int64_t edges[] = {0,          1,          -1,         INT64_MAX,      INT64_MIN,
                           INT64_MAX - 1, INT64_MIN + 1, 1'000'000'000, -1'000'000'000,
                           int64_t{1} << 62, -(int64_t{1} << 62)};
  auto wrap = [](int64_t a, int64_t b) {
    return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
  };
  auto pick = [&](int64_t base) -> int64_t {
    switch (g() % 6) {
      case 0: return edges[g() % std::size(edges)];
      case 1: return static_cast<int64_t>(g());
      case 2: return wrap(base, static_cast<int64_t>(g() % 2'000'000'000'000) - 1'000'000'000'000);
      case 3: return wrap(base, static_cast<int64_t>(g() % 2000) - 1000);
      default: return wrap(base, static_cast<int64_t>(g() % 100'000'000'000'000));
    }
  };
  uint64_t served = 0, fast = 0, mismatches = 0;
  for (int i = 0; i < 2'000'000; ++i) {
    Transform s;
    const int64_t base = pick(0);
    s.epoch = g();
    s.as_of.ns = pick(base);
    s.void_after.ns = pick(s.as_of.ns);
    s.ref_local.ns = pick(base);
    s.ref_sync.ns = pick(base);
    const uint64_t k = g() % 5;
    s.freq_adj_q48 =
        k == 0   ? static_cast<int64_t>(g())
        : k == 1 ? kMaxFreqAdjQ48 * ((g() & 1) ? 1 : -1) + static_cast<int64_t>(g() % 3) - 1
                 : static_cast<int64_t>(g() % (2 * kMaxFreqAdjQ48 + 1)) - kMaxFreqAdjQ48;
    s.bound_at_as_of_ns = (g() & 3) == 0 ? g() : g() % 1'000'000;
    s.bound_growth_ppb = (g() & 7) == 0 ? g() % (2 * kMaxBoundGrowthPpb) : g() % 100'000;
    s.max_error_ns = (g() & 7) == 0 ? g() : g() % 10'000'000'000;
    s.status = static_cast<ClockStatus>(g() % 4);
    const LocalTime t{pick(s.as_of.ns)};
    const TimestampWithError e = evaluate(s, t);
    int64_t nsec = t.ns % 1'000'000'000;
    if (nsec < 0) nsec += 1'000'000'000;
    const int64_t sec_ns =
        static_cast<int64_t>(static_cast<uint64_t>(t.ns) - static_cast<uint64_t>(nsec));
    TimestampWithError f;
    const bool split = (g() & 1) != 0;
    const bool got = fast_usable(s) && (split ? fast_evaluate(s, sec_ns, nsec, &f)
                                              : fast_evaluate(s, t, &f));
    served += e.ok() ? 1 : 0;
    if (!got) continue;
    ++fast;
    if (!e.ok() || f.time != e.time || f.bound_ns != e.bound_ns || f.local != e.local ||
        f.epoch != e.epoch || f.status != e.status || f.error != e.error) {
      if (++mismatches <= 5) {
        ADD_FAILURE() << "t=" << t.ns << " split=" << split << " as_of=" << s.as_of.ns
                      << " evaluate: ok=" << e.ok() << " time=" << e.time.ns
                      << " bound=" << e.bound_ns << "; inline: time=" << f.time.ns
                      << " bound=" << f.bound_ns;
      }
    }
  }
  EXPECT_EQ(mismatches, 0u);
  // The comparison means something only if both paths give many times.
  EXPECT_GT(served, 10'000u);
  EXPECT_GT(fast, 10'000u);
}

// The counter path (fast_counter_timestamp) against its definition:
// evaluate() at the map's raw instant, plus the map's error. Whenever it gives
// a time, evaluate() gives one at that instant too, the same local instant,
// a time within 2 ns, and a bound at least evaluate()'s plus the error, and
// not more than the rounding of its growth line above it.
TEST(ReadPath, TheCounterPathIsEvaluateAtTheMapsInstant) {
  std::mt19937_64 g = testing::seeded_rng("counter_path");
  uint64_t fast = 0;
  for (int i = 0; i < 1'000'000; ++i) {
    detail::FastSlot s;
    const int64_t base = static_cast<int64_t>(g() >> 3);
    const bool wild = (g() & 7) == 0;  // any values, mostly refused
    s.epoch = g();
    s.status = wild ? static_cast<ClockStatus>(g() % 4) : ClockStatus::kSynchronized;
    s.as_of.ns = base;
    s.void_after.ns = wild ? static_cast<int64_t>(g()) : base + static_cast<int64_t>(g() % 100'000'000'000);
    s.ref_local.ns = base - static_cast<int64_t>(g() % 10'000'000'000);
    s.ref_sync.ns = wild ? static_cast<int64_t>(g()) : base + static_cast<int64_t>(g() % 1'000'000'000'000);
    s.freq_adj_q48 = static_cast<int64_t>(g() % (2 * kMaxFreqAdjQ48 + 1)) - kMaxFreqAdjQ48;
    s.bound_at_as_of_ns = g() % 1'000'000;
    s.bound_growth_ppb = (g() & 3) == 0 ? g() % (kMaxBoundGrowthPpb + 1) : g() % 100'000;
    s.max_error_ns = wild ? g() : 1'000'000'000'000;
    CounterMap& m = s.counter;
    m.ref_count = g();
    m.ref_raw_ns = base + static_cast<int64_t>(g() % 1'000'000'000);
    // Mostly counters from 24 MHz to 4 GHz read within the slot's validity;
    // now and then any factor and any count.
    const bool any = (g() & 7) == 0;
    m.ns_per_count_q56 = any ? kMinNsPerCountQ56 + g() % (UINT64_MAX - kMinNsPerCountQ56)
                             : (uint64_t{1} << 54) + g() % ((uint64_t{42} << 56) - (uint64_t{1} << 54));
    m.error_ns = g() % 10'000;
    const double ns_per_count = std::ldexp(static_cast<double>(m.ns_per_count_q56), -kCounterShift);
    const double span_ns = static_cast<double>(s.void_after.ns - m.ref_raw_ns) + 1e6;
    const uint64_t count =
        m.ref_count + (any ? ((g() & 1) ? g() : g() % (kMaxCounterSpan + 16))
                           : static_cast<uint64_t>(std::uniform_real_distribution<double>(
                                 0, std::max(span_ns, 1.0) / ns_per_count)(g)));
    TimestampWithError f;
    if (!detail::fast_usable(s) || !detail::fast_counter_timestamp(s, count, &f)) continue;
    ++fast;
    int64_t t = 0;
    ASSERT_TRUE(counter_to_raw(m, count, &t));
    const TimestampWithError e = evaluate(s, LocalTime{t});
    ASSERT_TRUE(e.ok()) << "i=" << i << " t=" << t << " " << to_string(e.error);
    EXPECT_EQ(f.local.ns, t);
    EXPECT_LE(std::llabs(f.time.ns - e.time.ns), 2) << "i=" << i;
    EXPECT_GE(f.bound_ns, e.bound_ns + m.error_ns) << "i=" << i;
    const double dt = static_cast<double>(t - m.ref_raw_ns);
    EXPECT_LE(static_cast<double>(f.bound_ns),
              static_cast<double>(e.bound_ns + m.error_ns) + 3 + dt / 0x1p34) << "i=" << i;
    EXPECT_EQ(f.epoch, s.epoch);
    EXPECT_EQ(f.status, s.status);
    if (HasFailure()) return;
  }
  EXPECT_GT(fast, 300'000u);
}

// counter_to_raw (counter.hpp) against the same line in long double, and its
// edges: the span it converts, counts before the reference, an overflow.
TEST(ReadPath, TheCounterMapIsTheLineWithinANanosecond) {
  std::mt19937_64 g = testing::seeded_rng("counter_map");
  for (int i = 0; i < 1'000'000; ++i) {
    CounterMap m;
    m.ref_count = g();
    m.ref_raw_ns = static_cast<int64_t>(g() >> 2);
    m.ns_per_count_q56 = kMinNsPerCountQ56 + g() % (UINT64_MAX - kMinNsPerCountQ56);
    const uint64_t d = g() % kMaxCounterSpan;
    int64_t raw = 0;
    ASSERT_TRUE(counter_to_raw(m, m.ref_count + d, &raw));
    const long double exact = static_cast<long double>(m.ref_raw_ns) +
                              static_cast<long double>(d) *
                                  std::ldexp(static_cast<long double>(m.ns_per_count_q56), -kCounterShift);
    ASSERT_LE(std::fabs(static_cast<long double>(raw) - exact), 1.0L)
        << "d=" << d << " q56=" << m.ns_per_count_q56;
  }
  CounterMap m{1000, 5'000'000'000, uint64_t{1} << kCounterShift, 0};  // 1 ns per count
  int64_t raw = 0;
  EXPECT_TRUE(counter_to_raw(m, 1000 + kMaxCounterSpan - 1, &raw));
  EXPECT_EQ(raw, 5'000'000'000 + static_cast<int64_t>(kMaxCounterSpan) - 1);
  EXPECT_FALSE(counter_to_raw(m, 1000 + kMaxCounterSpan, &raw)) << "beyond the span";
  EXPECT_FALSE(counter_to_raw(m, 999, &raw)) << "before the reference";
  m.ref_raw_ns = INT64_MAX - 10;
  EXPECT_FALSE(counter_to_raw(m, 1011, &raw)) << "overflow";
  EXPECT_TRUE(counter_to_raw(m, 1010, &raw));
  EXPECT_EQ(raw, INT64_MAX);
}

}  // namespace
}  // namespace timesync
