// Waiting until this SoM's clock is synchronized: wait_synchronized().
//
//   timesync::WaitOptions o;
//   o.max_error_ns = 100'000;           // within 100 us
//   o.timeout_ns = 30'000'000'000;      // for at most 30 s
//   auto r = timesync::wait_synchronized(o);
//   if (!r.ok()) fail(r.error());       // why it is still not: kNoSegment, kNotSynchronized, ...
//
// For a service that must not start before it gets good timestamps (the peer
// of ClockBound's `cbctl waitsync` and chrony's `chronyc waitsync`); the
// command-line forms are `timesyncctl waitsync` and `timesync-run --wait-sync`.
//
// It looks at the segment every poll_ns, exactly as an application reads it:
// no RPC, nothing asked of the agent. A segment that does not exist yet (the
// agent has not started) or is still being created is waited for; so are the
// refusals that end by themselves (not synchronized, stale, bound exceeded).
// What waiting cannot cure returns at once: a segment of another layout
// version, a file that is not a plain file, a permission error.
//
// Result: the first reading that succeeded with its bound within
// max_error_ns (0: within the agent's own alarm.max_error_us, as every read
// is). On timeout, the Error of the last look; kInterrupted once *stop is
// true (looked at before every look).
//
// Thread safety: reentrant; it opens a Clock of its own.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "timesync/clock.hpp"
#include "timesync/types.hpp"

namespace timesync {

struct WaitOptions {
  std::string path = kDefaultSegmentPath;
  uint64_t max_error_ns = 0;           // 0: the segment's own limit
  int64_t timeout_ns = -1;             // < 0: for ever; 0: look once
  int64_t poll_ns = 10'000'000;        // between two looks (at least 1 ms)
  const std::atomic<bool>* stop = nullptr;  // set from elsewhere to give up
  const int* stop_flag_c = nullptr;         // the same for the C API (atomic load)
};

Result<TimestampWithError> wait_synchronized(const WaitOptions& o);

// Whether an Error can end by itself while waiting (the agent starting,
// synchronizing or recovering) rather than needing someone to act.
bool wait_can_cure(Error e);

}  // namespace timesync
