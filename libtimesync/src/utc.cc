#include "timesync/utc.hpp"

#include <cmath>
#include <cstdlib>

namespace timesync {
namespace {

__extension__ using i128 = __int128;
__extension__ using u128 = unsigned __int128;
constexpr int64_t kDayS = 86'400;

int64_t floor_div(int64_t a, int64_t b) {  // b > 0
  const int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

// ceil(|d| x ppb / 1e9) without overflow for |d| < 2^63 and ppb <= 1e7:
// split d into seconds and nanoseconds.
uint64_t scaled_ceil(uint64_t d_ns, uint64_t ppb) {
  const uint64_t s = d_ns / 1'000'000'000, rem = d_ns % 1'000'000'000;
  const u128 p = static_cast<u128>(rem) * ppb;
  return s * ppb + static_cast<uint64_t>((p + 999'999'999) / 1'000'000'000);
}

}  // namespace

LeapState leap_at(const UtcInfo& u, int64_t utc_s) {
  if (u.next_leap_utc_s == 0 || u.tai_minus_utc_s == 0 || u.next_tai_minus_utc_s == 0) {
    return LeapState::kNone;
  }
  const int64_t day_end = (floor_div(utc_s, kDayS) + 1) * kDayS;
  if (u.next_leap_utc_s != day_end) return LeapState::kNone;
  if (u.next_tai_minus_utc_s > u.tai_minus_utc_s) return LeapState::kInsert;
  if (u.next_tai_minus_utc_s < u.tai_minus_utc_s) return LeapState::kDelete;
  return LeapState::kNone;
}

UtcWithError evaluate_utc(const TransformSnapshot& s, LocalTime t) {
  const TimestampWithError r = evaluate(s, t);
  UtcWithError out;
  out.local = r.local;
  out.epoch = r.epoch;
  out.status = r.status;
  out.bound_ns = r.bound_ns;
  out.error = r.error;
  const UtcInfo& u = s.utc;
  out.tai_minus_utc_s = u.tai_minus_utc_s;
  out.reference_synchronized = (u.flags & kUtcReferenceSynchronized) != 0;
  out.leap_list_expired = (u.flags & kUtcLeapListExpired) != 0;
  if (!r.ok()) return out;
  if (!u.valid()) {
    out.error = Error::kNoUtc;
    return out;
  }
  if (validate(u) != Error::kOk || s.master_id.back() != '\0') {
    out.error = Error::kCorrupt;
    return out;
  }
  out.time = r.time;
  // Age of the offset on the timeline, and what it adds.
  int64_t age = 0;
  if (__builtin_sub_overflow(r.time.ns, u.as_of.ns, &age) || age == INT64_MIN) {
    out.error = Error::kCorrupt;
    return out;
  }
  const uint64_t abs_age = static_cast<uint64_t>(age < 0 ? -age : age);
  // rate x age, rounded to the nearest ns (|rate| <= 1e7 ppb: fits int64
  // for any age), and its error rounded up.
  const i128 moved128 = static_cast<i128>(age) * u.rate_ppb;
  const auto moved = static_cast<int64_t>((moved128 + (moved128 < 0 ? -500'000'000 : 500'000'000)) /
                                          1'000'000'000);
  uint64_t bound = r.bound_ns;
  int64_t utc = 0;
  if (__builtin_add_overflow(bound, u.error_ns, &bound) ||
      __builtin_add_overflow(bound, scaled_ceil(abs_age, u.rate_error_ppb), &bound) ||
      __builtin_add_overflow(bound, uint64_t{1}, &bound) ||  // the rate's rounding
      __builtin_add_overflow(r.time.ns, u.offset_ns, &utc) || __builtin_add_overflow(utc, moved, &utc)) {
    out.error = Error::kCorrupt;
    return out;
  }
  out.utc_ns = utc;
  out.bound_ns = bound;
  out.leap = leap_at(u, floor_div(utc, 1'000'000'000));
  out.error = Error::kOk;
  return out;
}

}  // namespace timesync
