// timesync::Clock - the application's view of the synchronized clock.
//
//   auto clock = timesync::Clock::open();          // maps /dev/shm/timesync
//   if (auto t = clock->get_timestamp(); t.ok()) use(t.value().ns);
//
// Reads are lock-free: a seqlock snapshot of the shared segment (bounded retries,
// never blocking the agent) plus one clock_gettime(CLOCK_MONOTONIC_RAW) through
// the vDSO. A Clock may be shared by any number of threads without a lock; it is
// movable, not copyable. Out of sync -> an Error, never a time.
//
// What open() maps (segment_layout.hpp): the agent's sealed copy of the
// segment, fetched once over "<path>.sock", which nobody can truncate, so a
// read never raises SIGBUS. When no agent serves one (it is stopped, or it
// published once and exited), the Clock reads the file at the path with pread
// instead: slower (two system calls), equally safe. open() refuses a path
// that is a symbolic link, a FIFO or another non-regular file, or a file with
// a second name (kSymlink, kNotRegular, kHardLink) without blocking.
//
// Recovery: only when a read gives no time (never on the hot path), the Clock
// looks at the path again, at most every 100 ms when the segment it reads says
// it is retired (its agent stopped or replaced the file) and every second
// otherwise (the file was replaced, or another agent instance serves it), and
// moves to what it finds: readers follow an agent restart or a re-created
// segment by themselves. A Clock reading the file whose agent offers a copy
// also asks for it again every second (its socket may have been missing).
#pragma once

#include <string>

#include "timesync/read_path.hpp"
#include "timesync/transform.hpp"
#include "timesync/types.hpp"
#include "timesync/utc.hpp"

namespace timesync {

namespace layout {
struct Segment;
}
namespace detail {
struct ClockState;
}

inline constexpr const char* kDefaultSegmentPath = TS_DEFAULT_SEGMENT_PATH;

class Clock {
 public:
  static Result<Clock> open(const std::string& path = kDefaultSegmentPath);

  Clock(Clock&& other) noexcept;
  Clock& operator=(Clock&& other) noexcept;
  Clock(const Clock&) = delete;
  Clock& operator=(const Clock&) = delete;
  ~Clock();

  // Synchronized time now; an Error when out of sync.
  Result<SyncTime> get_timestamp() const;
  // Time, bound, status and epoch now (see TimestampWithError). Inline: the
  // common case (a time from the mapped copy) runs in the caller, without a
  // call into the library (read_path.hpp); everything else is read_slow().
  [[gnu::always_inline]] TimestampWithError get_timestamp_with_error() const {
    TimestampWithError r;
    if (detail::fast_timestamp(__atomic_load_n(&seg_, __ATOMIC_ACQUIRE), &r)) return r;
    return read_slow();
  }
  bool is_synchronized() const;
  // UTC now, with a bound that adds the master's reference error to the
  // timeline's, and the leap state (utc.hpp); Error::kNoUtc when the master
  // has no reference. Reads the whole snapshot: not the inline path.
  UtcWithError get_utc_with_error() const;

  // The same decision at a chosen local time (for tests and tools).
  TimestampWithError timestamp_at(LocalTime local) const;
  // A consistent copy of everything the agent published.
  Result<TransformSnapshot> snapshot() const;

 private:
  friend struct detail::ClockState;
  Clock(const layout::Segment* seg, detail::ClockState* state);
  void release();
  // get_timestamp_with_error() when the inline path gives no time: reads
  // again with retries, evaluates, and looks at the path (the slow path).
  TimestampWithError read_slow() const;
  // Where every read starts: the sealed copy (its header checked when it was
  // mapped), or (reading the file) a blank segment, never published, which
  // sends reads to the slow path. Loaded with acquire
  // and replaced with release by the slow path; a copy it pointed to stays
  // mapped at its address for the Clock's life, so a reader that loaded it
  // never reads unmapped or reused memory. That is one 4 KiB mapping per agent
  // instance seen, at most 16: a Clock that outlives 16 agent restarts reads
  // the file (pread) from then on.
  const layout::Segment* seg_ = nullptr;
  detail::ClockState* state_ = nullptr;  // the slow path's (clock.cc)
};

// Reads CLOCK_MONOTONIC_RAW. Returns false if the clock cannot be read.
bool read_local_clock(LocalTime* out);

}  // namespace timesync
