// The transform "local monotonic time -> synchronized time, plus error bound".
//
// Pure maths: no I/O and no clock reads. The reader reads CLOCK_MONOTONIC_RAW at
// the edge and calls evaluate(); tests call evaluate() with chosen inputs.
//
// Definitions (all integer ns):
//   d        = t_local - ref_local
//   sync(t)  = ref_sync + d + floor(d * freq_adj_q48 / 2^48)
//   bound(t) = bound_at_as_of + ceil(|t_local - as_of| * bound_growth_ppb / 1e9)
//
// Sign convention: freq_adj_q48 > 0 means the local oscillator runs SLOW of the
// master, so synchronized time advances faster than local time. Precision is
// 2^-48 (3.6e-15, i.e. 3.6 fs per second); the maths uses 128-bit intermediates,
// so it is exact to 1 ns at any d that fits int64 (292 years).
//
// Thread safety: plain values and pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "timesync/counter.hpp"
#include "timesync/types.hpp"

namespace timesync {

inline constexpr int kFreqFracBits = 48;
// Largest |frequency correction| a valid transform may carry: 1% (10,000 ppm).
inline constexpr int64_t kMaxFreqAdjQ48 = (int64_t{1} << kFreqFracBits) / 100;
// Largest bound growth a valid transform may carry (1 s per s).
inline constexpr uint64_t kMaxBoundGrowthPpb = 1'000'000'000;
inline constexpr size_t kMasterIdSize = 64;

int64_t ppb_to_q48(double freq_ppb);
double q48_to_ppb(int64_t freq_adj_q48);

// What a reader needs to turn a local reading into a time and a bound.
struct Transform {
  uint64_t epoch = 0;           // bumped whenever the timeline steps
  LocalTime as_of;              // when the agent last had a measurement
  LocalTime void_after;         // the data is unusable after this instant
  LocalTime ref_local;          // transform anchor, local side
  SyncTime ref_sync;            // transform anchor, synchronized side
  int64_t freq_adj_q48 = 0;     // see the sign convention above
  uint64_t bound_at_as_of_ns = 0;
  uint64_t bound_growth_ppb = 0;  // bound growth, ns per second of local time
  uint64_t max_error_ns = 0;      // configured limit: above it, out of sync
  ClockStatus status = ClockStatus::kUnsynchronized;
};

// UTC beside the timeline (issue 18), from the master's external reference:
//   utc(t)       = sync(t) + offset_ns + rate_ppb x (sync(t) - as_of) / 1e9
//   utc_bound(t) = bound(t) + error_ns + ceil(rate_error_ppb x |sync(t) - as_of| / 1e9)
// offset_ns held at timeline time as_of, within error_ns; rate_ppb is how fast
// it moves (the master's timeline against its CLOCK_REALTIME), rate_error_ppb
// how far the true rate may be from it. utc.hpp evaluates it.
inline constexpr uint32_t kUtcValid = 1;                  // the master has a reference
inline constexpr uint32_t kUtcReferenceSynchronized = 2;  // and it said synchronized
inline constexpr uint32_t kUtcLeapListExpired = 4;        // a leap second may be missing
inline constexpr uint32_t kUtcKnownFlags = kUtcValid | kUtcReferenceSynchronized | kUtcLeapListExpired;
// Largest |rate| and rate error a valid UtcInfo may carry (1%).
inline constexpr int64_t kMaxUtcRatePpb = 10'000'000;

struct UtcInfo {
  uint32_t flags = 0;             // kUtc*; 0: no UTC
  int64_t offset_ns = 0;
  SyncTime as_of;
  uint64_t error_ns = 0;
  int64_t rate_ppb = 0;
  uint64_t rate_error_ppb = 0;
  int32_t tai_minus_utc_s = 0;    // 0: unknown
  int64_t next_leap_utc_s = 0;    // POSIX second TAI - UTC becomes next_tai_minus_utc_s; 0: none
  int32_t next_tai_minus_utc_s = 0;
  bool valid() const { return (flags & kUtcValid) != 0; }
  bool operator==(const UtcInfo&) const = default;
};

// Everything the agent publishes: the transform, the master's identity, UTC
// and the CPU counter's map to CLOCK_MONOTONIC_RAW (counter.hpp).
struct TransformSnapshot : Transform {
  uint64_t master_instance = 0;   // master's boot/instance id
  std::array<char, kMasterIdSize> master_id{};  // NUL-terminated name
  UtcInfo utc;
  CounterMap counter;

  std::string_view master_name() const;
  void set_master_name(std::string_view name);  // truncates to 63 bytes
};

// Checks fields a consistent snapshot must satisfy regardless of time; returns
// kCorrupt for impossible contents (bad status, void_after before as_of, ...).
Error validate(const Transform& s);
Error validate(const UtcInfo& u);            // known flags, rates in range
Error validate(const CounterMap& m);         // none, or a rate and an error in range
Error validate(const TransformSnapshot& s);  // also: master name terminated, UTC and counter in range

// sync(t) as defined above. Returns false if the result would not fit int64.
bool to_sync(const Transform& s, LocalTime t, SyncTime* out);

// bound(t), saturating at UINT64_MAX.
uint64_t bound_at(const Transform& s, LocalTime t);

struct TimestampWithError {
  SyncTime time;              // 0 unless error == kOk
  uint64_t bound_ns = 0;
  LocalTime local;
  uint64_t epoch = 0;
  ClockStatus status = ClockStatus::kUnsynchronized;  // after downgrade checks
  Error error = Error::kNotSynchronized;
  bool ok() const { return error == Error::kOk; }
};

// The reader's decision at local time t, with its own downgrade checks:
// writer status unsynchronized -> kNotSynchronized; t past void_after -> kStale;
// bound(t) > max_error_ns -> kBoundExceeded. Otherwise kOk with the writer's
// status (synchronized or holdover).
TimestampWithError evaluate(const Transform& s, LocalTime t);

}  // namespace timesync
