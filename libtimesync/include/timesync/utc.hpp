// UTC with an error bound, beside the synchronized timeline (issue 18).
//
// The timeline is the master's and never steps; UTC rides beside it as the
// offset the master's external reference gives (UtcInfo in transform.hpp):
//   utc(t)   = sync(t) + offset + rate x (sync(t) - as_of)
//   bound(t) = timeline bound(t) + the reference's error at as_of
//              + rate error x |sync(t) - as_of|
// so the bound holds against true UTC as long as the timeline's bound holds
// against the master's timeline and the reference's error holds against UTC.
//
// UTC here is POSIX time: leap seconds are not counted (TAI - UTC says how
// many there were). `leap` says a leap second is announced for the end of the
// UTC day the reading falls in, as chrony and adjtimex announce it.
//
// Pure maths: no I/O and no clock reads. Thread safety: plain values and pure
// functions.
#pragma once

#include <cstdint>

#include "timesync/transform.hpp"
#include "timesync/types.hpp"

namespace timesync {

enum class LeapState : int32_t {
  kNone = TS_LEAP_NONE,
  kInsert = TS_LEAP_INSERT,  // 23:59:60 at the end of this UTC day
  kDelete = TS_LEAP_DELETE,  // 23:59:59 skipped at the end of this UTC day
};

struct UtcWithError {
  int64_t utc_ns = 0;         // POSIX ns; 0 unless error == kOk
  uint64_t bound_ns = 0;      // true UTC lies within utc_ns +/- bound_ns
  LeapState leap = LeapState::kNone;
  int32_t tai_minus_utc_s = 0;  // 0: unknown (the master has no leap-second list)
  bool reference_synchronized = false;  // false: the master's reference is lost and its error grows
  bool leap_list_expired = false;       // the master's leap-second list is past its expiry
  SyncTime time;              // the timeline reading it was derived from
  LocalTime local;
  uint64_t epoch = 0;
  ClockStatus status = ClockStatus::kUnsynchronized;
  Error error = Error::kNotSynchronized;
  bool ok() const { return error == Error::kOk; }
};

// The timeline's evaluate() at local time t, then UTC beside it: the same
// errors, plus kNoUtc when the snapshot carries no UTC (the master has no
// reference, or has not had a good reading of it yet) and kCorrupt for UTC
// fields that overflow.
UtcWithError evaluate_utc(const TransformSnapshot& s, LocalTime t);

// The leap state at POSIX second utc_s: a leap second announced for the end
// of that UTC day.
LeapState leap_at(const UtcInfo& u, int64_t utc_s);

}  // namespace timesync
