// The inline read path (read_path.hpp) against evaluate() (transform.hpp), the
// definition: on random transforms and instants, with edge values mixed in,
// whenever the fast path gives a time it must be exactly evaluate()'s answer,
// with the instant whole or split as clock_gettime gives it (seconds in ns
// plus nanoseconds). The seed is printed; TIMESYNC_TEST_SEED replays it.
#include "timesync/read_path.hpp"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace timesync
