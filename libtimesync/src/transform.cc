#include "timesync/transform.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace timesync {

namespace {
__extension__ using i128 = __int128;
__extension__ using u128 = unsigned __int128;

constexpr double kQ48 = static_cast<double>(int64_t{1} << kFreqFracBits);

// floor(a / 2^48) for signed a: arithmetic shift floors.
i128 floor_shift(i128 a) { return a >> kFreqFracBits; }

bool fits_i64(i128 v) {
  return v >= std::numeric_limits<int64_t>::min() && v <= std::numeric_limits<int64_t>::max();
}
}  // namespace

const char* to_string(ClockStatus s) {
  switch (s) {
    case ClockStatus::kUnsynchronized:
      return "unsynchronized";
    case ClockStatus::kSynchronized:
      return "synchronized";
    case ClockStatus::kHoldover:
      return "holdover";
  }
  return "invalid";
}

int64_t ppb_to_q48(double freq_ppb) {
  const double q = std::round(freq_ppb * 1e-9 * kQ48);
  const double lim = static_cast<double>(std::numeric_limits<int64_t>::max());
  return static_cast<int64_t>(std::clamp(q, -lim, lim));
}

double q48_to_ppb(int64_t freq_adj_q48) {
  return static_cast<double>(freq_adj_q48) / kQ48 * 1e9;
}

std::string_view TransformSnapshot::master_name() const {
  return {master_id.data(), strnlen(master_id.data(), master_id.size())};
}

void TransformSnapshot::set_master_name(std::string_view name) {
  master_id.fill('\0');
  const size_t n = std::min(name.size(), master_id.size() - 1);
  std::memcpy(master_id.data(), name.data(), n);
}

Error validate(const UtcInfo& u) {
  if ((u.flags & ~kUtcKnownFlags) != 0) return Error::kCorrupt;
  if (u.valid() && (u.rate_ppb > kMaxUtcRatePpb || u.rate_ppb < -kMaxUtcRatePpb ||
                    u.rate_error_ppb > static_cast<uint64_t>(kMaxUtcRatePpb))) {
    return Error::kCorrupt;
  }
  return Error::kOk;
}

Error validate(const TransformSnapshot& s) {
  if (s.master_id.back() != '\0') return Error::kCorrupt;
  if (const Error e = validate(s.utc); e != Error::kOk) return e;
  if (const Error e = validate(s.counter); e != Error::kOk) return e;
  return validate(static_cast<const Transform&>(s));
}

Error validate(const CounterMap& m) {
  if (!m.valid()) return m == CounterMap{} ? Error::kOk : Error::kCorrupt;
  if (m.ns_per_count_q56 < kMinNsPerCountQ56 || m.error_ns > kMaxCounterErrorNs) {
    return Error::kCorrupt;
  }
  return Error::kOk;
}

Error validate(const Transform& s) {
  switch (s.status) {
    case ClockStatus::kUnsynchronized:
    case ClockStatus::kSynchronized:
    case ClockStatus::kHoldover:
      break;
    default:
      return Error::kCorrupt;
  }
  if (s.void_after < s.as_of) return Error::kCorrupt;
  if (s.freq_adj_q48 > kMaxFreqAdjQ48 || s.freq_adj_q48 < -kMaxFreqAdjQ48) return Error::kCorrupt;
  if (s.bound_growth_ppb > kMaxBoundGrowthPpb) return Error::kCorrupt;
  return Error::kOk;
}

bool to_sync(const Transform& s, LocalTime t, SyncTime* out) {
  const i128 d = static_cast<i128>(t.ns) - s.ref_local.ns;
  const i128 v = static_cast<i128>(s.ref_sync.ns) + d + floor_shift(d * s.freq_adj_q48);
  if (!fits_i64(v)) return false;
  out->ns = static_cast<int64_t>(v);
  return true;
}

uint64_t bound_at(const Transform& s, LocalTime t) {
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  // |t - as_of| in unsigned arithmetic: exact for any pair of int64 values.
  const auto a = static_cast<uint64_t>(t.ns), b = static_cast<uint64_t>(s.as_of.ns);
  const uint64_t elapsed = t.ns >= s.as_of.ns ? a - b : b - a;
  uint64_t growth = 0;
  uint64_t product = 0;
  if (!__builtin_mul_overflow(elapsed, s.bound_growth_ppb, &product)) {
    // Division by a constant compiles to a multiply; round the bound up.
    growth = product / 1'000'000'000 + (product % 1'000'000'000 != 0 ? 1 : 0);
  } else {  // only at absurd elapsed times: 128-bit maths, a library call
    // Unsigned: two uint64 factors overflow a signed 128-bit product (fuzz_segment).
    const u128 g = (static_cast<u128>(elapsed) * s.bound_growth_ppb + 999'999'999) / 1'000'000'000;
    growth = static_cast<uint64_t>(std::min(g, static_cast<u128>(kMax)));
  }
  uint64_t total = 0;
  return __builtin_add_overflow(growth, s.bound_at_as_of_ns, &total) ? kMax : total;
}

TimestampWithError evaluate(const Transform& s, LocalTime t) {
  TimestampWithError r;
  r.local = t;
  r.epoch = s.epoch;
  r.bound_ns = bound_at(s, t);
  r.status = ClockStatus::kUnsynchronized;
  if (const Error e = validate(s); e != Error::kOk) {
    r.error = e;
    return r;
  }
  if (s.status == ClockStatus::kUnsynchronized) {
    r.error = Error::kNotSynchronized;
  } else if (t > s.void_after) {
    r.error = Error::kStale;
  } else if (r.bound_ns > s.max_error_ns) {
    r.error = Error::kBoundExceeded;
  } else if (!to_sync(s, t, &r.time)) {
    r.error = Error::kCorrupt;
  } else {
    r.status = s.status;
    r.error = Error::kOk;
  }
  return r;
}

}  // namespace timesync
