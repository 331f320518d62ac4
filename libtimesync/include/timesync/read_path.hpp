// The reader's hot path, inline so that an application's read costs one
// clock_gettime plus a few loads and multiplies, without a call into the
// library. Not an API: Clock::get_timestamp_with_error() (clock.hpp) and
// segment.cc use it; applications use Clock.
//
// read_slot(): one attempt of the seqlock read (the protocol and its fences
// are described in segment_layout.hpp and segment.cc); the library's bounded
// retry loop (segment.cc) and the inline path both use this one function, so
// seqlock_stress_test checks the code applications inline.
//
// fast_usable() + fast_evaluate(): evaluate() (transform.hpp) for the case
// that gives a time, and only that case: true only with the result evaluate()
// would give, field for field, and false for everything else (an invalid or
// unsynchronized transform, a stale or too-wide bound, any overflow), which
// sends the caller to the library's slow path, where evaluate() decides.
//
// The header (magic, version, size) is not looked at here: a Clock checks it
// when it maps a copy, and a copy is sealed (nobody but its agent writes it,
// nobody can shrink it). A Clock that has no valid copy points at a blank
// segment (never published) or at nothing, both of which fail here.
#pragma once

#include <time.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "timesync/counter.hpp"
#include "timesync/segment_layout.hpp"
#include "timesync/transform.hpp"
#include "timesync/types.hpp"

namespace timesync::detail {

// ThreadSanitizer cannot model stand-alone fences: under it, the payload
// loads themselves are acquire (stronger), as in segment.cc.
#if defined(__SANITIZE_THREAD__)
#define TIMESYNC_DETAIL_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TIMESYNC_DETAIL_TSAN 1
#endif
#endif
#if defined(TIMESYNC_DETAIL_TSAN)
inline constexpr int kSlotPayloadLoad = __ATOMIC_ACQUIRE;
inline void slot_fence_acquire() {}
#else
inline constexpr int kSlotPayloadLoad = __ATOMIC_RELAXED;
inline void slot_fence_acquire() { __atomic_thread_fence(__ATOMIC_ACQUIRE); }
#endif
#undef TIMESYNC_DETAIL_TSAN

// The hot path's larger pieces are inlined into the caller whatever the
// compiler's size heuristics say (the small ones always are): a call costs as
// much as the rest of the read (with the counter path in it, g++ 12 -O2
// stopped inlining fast_timestamp, and the read went from 1.22x to 1.5x
// clock_gettime).
#define TIMESYNC_DETAIL_HOT [[gnu::always_inline]] inline

template <class T>
inline T slot_load(const T* p) {
  return __atomic_load_n(p, kSlotPayloadLoad);
}

// What the inline read needs of a slot: the transform and the counter map.
struct FastSlot : Transform {
  CounterMap counter;
};

// A slot's payload into *out, each field through `ld` (a payload load): the
// transform; for a FastSlot or TransformSnapshot the counter map; for a
// TransformSnapshot also the master's identity and the UTC section. The
// inline read below and the file path (segment.cc) share it.
template <class Out, class Load>
TIMESYNC_DETAIL_HOT void load_payload(const layout::Slot* sl, Out* out, Load ld) {
  out->epoch = ld(&sl->epoch);
  out->as_of.ns = ld(&sl->as_of_local_ns);
  out->void_after.ns = ld(&sl->void_after_local_ns);
  out->ref_local.ns = ld(&sl->ref_local_ns);
  out->ref_sync.ns = ld(&sl->ref_sync_ns);
  out->freq_adj_q48 = ld(&sl->freq_adj_q48);
  out->bound_at_as_of_ns = ld(&sl->bound_at_as_of_ns);
  out->bound_growth_ppb = ld(&sl->bound_growth_ppb);
  out->max_error_ns = ld(&sl->max_error_ns);
  out->status = static_cast<ClockStatus>(ld(&sl->status));
  if constexpr (requires { out->counter; }) {
    out->counter.ref_count = ld(&sl->counter_ref);
    out->counter.ref_raw_ns = ld(&sl->counter_ref_raw_ns);
    out->counter.ns_per_count_q56 = ld(&sl->counter_ns_per_count_q56);
    out->counter.error_ns = ld(&sl->counter_error_ns);
  }
  if constexpr (std::is_same_v<Out, TransformSnapshot>) {
    out->master_instance = ld(&sl->master_instance);
    uint64_t words[layout::kMasterIdWords];
    for (size_t i = 0; i < layout::kMasterIdWords; ++i) words[i] = ld(&sl->master_id[i]);
    static_assert(sizeof(words) == sizeof(out->master_id));
    std::memcpy(out->master_id.data(), words, sizeof(words));
    UtcInfo& u = out->utc;
    u.offset_ns = ld(&sl->utc_offset_ns);
    u.as_of.ns = ld(&sl->utc_as_of_sync_ns);
    u.error_ns = ld(&sl->utc_error_ns);
    u.rate_ppb = ld(&sl->utc_rate_ppb);
    u.rate_error_ppb = ld(&sl->utc_rate_error_ppb);
    u.next_leap_utc_s = ld(&sl->utc_next_leap_s);
    u.tai_minus_utc_s = ld(&sl->utc_tai_minus_utc_s);
    u.next_tai_minus_utc_s = ld(&sl->utc_next_tai_minus_utc_s);
    u.flags = ld(&sl->utc_flags);
  }
}

enum class SlotRead { kOk, kNeverPublished, kRetry };

// One seqlock attempt on the latest slot: kOk with *out a consistent copy,
// kNeverPublished, or kRetry (the writer was rewriting the slot). Out is a
// Transform or a TransformSnapshot (which also gets the master's identity).
template <class Out>
TIMESYNC_DETAIL_HOT SlotRead read_slot(const layout::Segment* seg, Out* out) {
  const uint64_t n = __atomic_load_n(&seg->latest, __ATOMIC_ACQUIRE);
  if (n == 0) return SlotRead::kNeverPublished;
  const layout::Slot* sl = &seg->slots[n & 1];
  const uint64_t g1 = __atomic_load_n(&sl->generation, __ATOMIC_ACQUIRE);
  if ((g1 & 1) != 0) return SlotRead::kRetry;  // the writer lapped us: rewriting it
  load_payload(sl, out, [](const auto* p) { return slot_load(p); });
  slot_fence_acquire();
  return __atomic_load_n(&sl->generation, __ATOMIC_RELAXED) == g1 ? SlotRead::kOk
                                                                  : SlotRead::kRetry;
}

// The checks of validate() that do not depend on the time, and the status
// that gives one: false sends the caller to the slow path.
inline bool fast_usable(const Transform& s) {
  return (s.status == ClockStatus::kSynchronized || s.status == ClockStatus::kHoldover) &&
         s.void_after >= s.as_of && s.freq_adj_q48 <= kMaxFreqAdjQ48 &&
         s.freq_adj_q48 >= -kMaxFreqAdjQ48 && s.bound_growth_ppb <= kMaxBoundGrowthPpb;
}

// evaluate(s, t) for a transform fast_usable() accepted, when it gives a time
// (see above); false otherwise. Every step after the clock read is on the
// latency path of the read (clock_gettime orders the counter read after all
// earlier instructions), hence the short forms, each exact where it applies
// and a slow-path exit where it does not.
TIMESYNC_DETAIL_HOT bool fast_evaluate(const Transform& s, int64_t sec_ns, int64_t nsec,
                          TimestampWithError* r) {
  // t = sec_ns + nsec (clock_gettime's two halves); the distances below add
  // nsec last, so they do not wait for t.
  const auto u = [](int64_t v) { return static_cast<uint64_t>(v); };
  LocalTime t;
  if (__builtin_add_overflow(sec_ns, nsec, &t.ns)) return false;
  // t before as_of (the agent's clock ahead of ours?) or past void_after.
  if (t < s.as_of || t > s.void_after) return false;
  // bound_at(): ceil((t - as_of) * growth / 1e9) + bound_at_as_of, in 64 bits
  // (t - as_of is exact in uint64 since t >= as_of); ceil(p / q) ==
  // (p + q - 1) / q while p + q - 1 does not overflow.
  constexpr uint64_t kNsPerS = 1'000'000'000;
  uint64_t product = 0;
  if (__builtin_mul_overflow((u(sec_ns) - u(s.as_of.ns)) + u(nsec), s.bound_growth_ppb,
                             &product) ||
      product > UINT64_MAX - (kNsPerS - 1)) {
    return false;
  }
  uint64_t bound = 0;
  if (__builtin_add_overflow((product + (kNsPerS - 1)) / kNsPerS, s.bound_at_as_of_ns, &bound) ||
      bound > s.max_error_ns) {
    return false;
  }
  // to_sync(): ref_sync + d + floor(d * freq / 2^48). With d in int64 the
  // product is one widening multiply, and its shifted value fits int64
  // (|freq| <= 2^48 / 100); the sums are checked, an overflow -> slow path.
  // d is t - ref_local, computed as (sec_ns - ref_local) + nsec with each
  // step checked.
  int64_t d = 0;
  if (__builtin_sub_overflow(sec_ns, s.ref_local.ns, &d) || __builtin_add_overflow(d, nsec, &d)) {
    return false;
  }
  __extension__ using i128 = __int128;
  const auto corr = static_cast<int64_t>((static_cast<i128>(d) * s.freq_adj_q48) >> kFreqFracBits);
  int64_t v = 0;
  if (__builtin_add_overflow(s.ref_sync.ns, d, &v) || __builtin_add_overflow(v, corr, &v)) {
    return false;
  }
  r->time.ns = v;
  r->bound_ns = bound;
  r->local = t;
  r->epoch = s.epoch;
  r->status = s.status;
  r->error = Error::kOk;
  return true;
}

// The same at a LocalTime.
inline bool fast_evaluate(const Transform& s, LocalTime t, TimestampWithError* r) {
  return fast_evaluate(s, t.ns, 0, r);
}

// The counter path: the time and bound at the counter map's reference
// instant (ref_raw, by fast_evaluate), carried to the counter read along the
// two lines they follow per count: the timeline's K = ns_per_count x (1 +
// freq) and the bound's G = ns_per_count x growth, rounded up; plus the map's
// error. Everything but the last two multiplies is independent of the count,
// so it runs while the (ordered, slow) counter read completes.
//
// Against evaluate() at the map's raw instant t = counter_to_raw(): the time
// differs by at most 2 ns of rounding (the map's error includes them:
// counter_calibrator.cc); the bound is at least evaluate()'s plus the map's
// error (ceil(a + b) <= ceil(a) + ceil(b), and G is rounded up). An error e
// in t moves the time by e x (1 + freq) and the bound by e x growth: the agent
// publishes the map's error scaled for this slot's freq and growth. False (no
// map, the count before its reference or past the slot's void_after, a
// bound over max_error, an overflow) sends the caller to clock_gettime.
TIMESYNC_DETAIL_HOT bool fast_counter_timestamp(const FastSlot& s, uint64_t count,
                                                TimestampWithError* r) {
  __extension__ using u128 = unsigned __int128;
  __extension__ using i128 = __int128;
  const CounterMap& m = s.counter;
  TimestampWithError at_ref;
  if (!m.valid() || !fast_evaluate(s, m.ref_raw_ns, 0, &at_ref)) return false;
  // growth / 1e9 in Q34, rounded up (growth <= 1e9 < 2^30: no overflow).
  constexpr int kGrowthBits = 34;
  const uint64_t growth_q34 = ((s.bound_growth_ppb << kGrowthBits) + 999'999'999) / 1'000'000'000;
  const u128 g = ((static_cast<u128>(m.ns_per_count_q56) * growth_q34) >> kGrowthBits) + 1;
  const i128 k = static_cast<i128>(m.ns_per_count_q56) +
                 ((static_cast<i128>(m.ns_per_count_q56) * s.freq_adj_q48) >> kFreqFracBits);
  // The count's distance from the reference (a count before it wraps).
  const uint64_t dc = count - m.ref_count;
  if (dc >= kMaxCounterSpan) return false;
  // dc < 2^40 and the factors < 2^65: the products fit 2^105.
  const auto dt = static_cast<int64_t>((static_cast<u128>(dc) * m.ns_per_count_q56) >> kCounterShift);
  const auto dsync = static_cast<int64_t>((static_cast<i128>(dc) * k) >> kCounterShift);
  const auto dbound = static_cast<uint64_t>((static_cast<u128>(dc) * g) >> kCounterShift) + 1;
  int64_t local = 0, time = 0;
  uint64_t bound = 0;
  if (__builtin_add_overflow(m.ref_raw_ns, dt, &local) || local > s.void_after.ns ||
      __builtin_add_overflow(at_ref.time.ns, dsync, &time) ||
      __builtin_add_overflow(at_ref.bound_ns, dbound, &bound) ||
      __builtin_add_overflow(bound, m.error_ns, &bound) || bound > s.max_error_ns) {
    return false;
  }
  r->time.ns = time;
  r->bound_ns = bound;
  r->local.ns = local;
  r->epoch = s.epoch;
  r->status = s.status;
  r->error = Error::kOk;
  return true;
}

// The whole hot path: the slot, then the clock (after the slot, so now >=
// as_of in the common case): the counter when the slot has its map, else
// CLOCK_MONOTONIC_RAW; then the transform. False sends the caller to the slow
// path, which reads again with retries and decides. (Reading the counter
// before the slot, so that the slot's loads overlap the counter read, measured
// the same: 0.94x against 0.95x clock_gettime, interleaved.)
TIMESYNC_DETAIL_HOT bool fast_timestamp(const layout::Segment* seg, TimestampWithError* r) {
  if (seg == nullptr) return false;
  FastSlot s;
  if (read_slot(seg, &s) != SlotRead::kOk || !fast_usable(s)) return false;
  if (kHaveCounter && s.counter.valid() && fast_counter_timestamp(s, read_counter(), r)) {
    return true;
  }
  timespec ts{};
  if (clock_gettime(CLOCK_MONOTONIC_RAW, &ts) != 0) return false;
  // tv_sec * 1e9 cannot overflow for CLOCK_MONOTONIC_RAW (292 years of uptime).
  return fast_evaluate(s, static_cast<int64_t>(ts.tv_sec) * 1'000'000'000,
                       static_cast<int64_t>(ts.tv_nsec), r);
}

}  // namespace timesync::detail

#undef TIMESYNC_DETAIL_HOT
