// timesync::sync_clock: the synchronized timeline as a std::chrono clock.
//
//   using timesync::sync_clock;
//   const sync_clock::time_point t0 = sync_clock::now();      // throws sync_error when out of sync
//   ...
//   const auto took = sync_clock::now() - t0;                 // chrono arithmetic
//   const sync_clock::reading r = sync_clock::now_with_error();
//   if (r.bound > 100us) ...                                  // r.earliest() <= truth <= r.latest()
//
// It meets the C++ Clock requirements (std::chrono::is_clock_v), with
// nanosecond ticks on the synchronized timeline: the master's timeline, the
// same number on every SoM. It reads the segment at kDefaultSegmentPath, or at
// the path given to use_segment() before the first read; the segment is
// opened on the first read and kept for the life of the process (later reads
// are libtimesync's lock-free read, no allocation).
//
// Errors: now() and now_with_error() throw sync_error (carrying the Error)
// when libtimesync refuses a time: out of sync, stale, bound exceeded, no
// segment. A C++ Clock's now() has no other way to say "no time"; code that
// prefers values uses timesync::Clock directly.
//
// is_steady is false, honestly: within an epoch the timeline never goes back
// and runs at the master's rate, but the agent follows the master (its rate
// is corrected as it learns the local crystal's), and an epoch change (the
// master's timeline restarted) steps it. Measure short intervals with
// std::chrono::steady_clock; stamp events that other SoMs compare with
// sync_clock.
//
// Thread safety: every member is safe from any number of threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "timesync/types.hpp"

namespace timesync {

class sync_error : public std::runtime_error {
 public:
  explicit sync_error(Error e);
  Error code() const noexcept { return code_; }

 private:
  Error code_;
};

struct sync_clock {
  using rep = int64_t;
  using period = std::nano;
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<sync_clock, duration>;
  static constexpr bool is_steady = false;

  static time_point now();

  // now() with its error bound: the truth lies in [earliest(), latest()].
  struct reading {
    time_point time;
    duration bound;
    uint64_t epoch = 0;  // changes when the timeline steps
    ClockStatus status = ClockStatus::kUnsynchronized;
    time_point earliest() const { return time - bound; }
    time_point latest() const { return time + bound; }
  };
  static reading now_with_error();

  // Never throws: whether now() would return a time now.
  static bool is_synchronized() noexcept;

  // The segment to read instead of kDefaultSegmentPath. Only before the
  // first read: returns false (and changes nothing) once one was made.
  static bool use_segment(const std::string& path);
};

}  // namespace timesync
