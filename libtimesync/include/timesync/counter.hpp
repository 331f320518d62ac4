// The CPU's counter as the readers' clock (issue 20): x86's TSC, ARM's
// CNTVCT_EL0. The agent pairs the counter with CLOCK_MONOTONIC_RAW, fits the
// line through those pairs and publishes it, with its error, in every slot
// (CounterMap). A reader then turns one counter read into CLOCK_MONOTONIC_RAW
// with a multiply, instead of calling clock_gettime, which on these machines
// reads the same counter and scales it with the kernel's parameters.
//
// The agent publishes a map only where the counter is safe to use (the
// agent's counter_host.hpp says where): otherwise ns_per_count_q56 is 0 and
// readers call clock_gettime as before. What the map cannot see, and the
// reason it is off unless the kernel vouches for the counter, is a change of
// the counter under the reader's feet between two calibrations: a virtual
// machine migrated or restored from a snapshot to a host whose counter runs at
// another rate or from another value, or a suspend during which the counter
// ran on while CLOCK_MONOTONIC_RAW did not (docs/counter.md).
#pragma once

#include <cstdint>

namespace timesync {

// raw(c) = ref_raw_ns + floor((c - ref_count) x ns_per_count_q56 / 2^56),
// within error_ns of CLOCK_MONOTONIC_RAW for every counter value c from
// ref_count up to the publishing slot's void_after (the agent computes the
// error up to that instant).
inline constexpr int kCounterShift = 56;
struct CounterMap {
  uint64_t ref_count = 0;
  int64_t ref_raw_ns = 0;
  uint64_t ns_per_count_q56 = 0;  // 0: no map, readers use clock_gettime
  uint64_t error_ns = 0;
  bool valid() const { return ns_per_count_q56 != 0; }
  bool operator==(const CounterMap&) const = default;
};

// Counters a map may describe: from 16 GHz (1/16 ns per count) to 4 MHz (256
// ns per count, the ceiling of a Q56 factor in 64 bits).
inline constexpr uint64_t kMinNsPerCountQ56 = uint64_t{1} << (kCounterShift - 4);
// Largest error a valid map may carry.
inline constexpr uint64_t kMaxCounterErrorNs = 1'000'000'000;
// Largest distance from ref_count a reader converts; beyond it (or before
// ref_count) it calls clock_gettime: 2^40 counts is 6 minutes at 3 GHz, 12
// hours at 24 MHz. It also keeps the product below 2^104 and the result
// below 2^48 ns.
inline constexpr uint64_t kMaxCounterSpan = uint64_t{1} << 40;

// raw(count) as above; false when count is outside [ref_count, ref_count +
// kMaxCounterSpan) or the sum overflows.
inline bool counter_to_raw(const CounterMap& m, uint64_t count, int64_t* raw) {
  const uint64_t d = count - m.ref_count;  // wraps for a count before ref_count
  if (d >= kMaxCounterSpan) return false;
  __extension__ using u128 = unsigned __int128;
  const auto ns =
      static_cast<int64_t>((static_cast<u128>(d) * m.ns_per_count_q56) >> kCounterShift);
  return !__builtin_add_overflow(m.ref_raw_ns, ns, raw);
}

namespace detail {

// The counter, read in program order as the vDSO reads it (earlier
// instructions complete first), so a timestamp taken after an event is not
// taken before it.
#if defined(__x86_64__)
inline constexpr bool kHaveCounter = true;
inline uint64_t read_counter() {
  __builtin_ia32_lfence();
  return __builtin_ia32_rdtsc();
}
#elif defined(__aarch64__)
inline constexpr bool kHaveCounter = true;
inline uint64_t read_counter() {
  uint64_t v;
  asm volatile("isb\n\tmrs %0, cntvct_el0" : "=r"(v)::"memory");
  return v;
}
#else
inline constexpr bool kHaveCounter = false;
inline uint64_t read_counter() { return 0; }
#endif

}  // namespace detail
}  // namespace timesync
