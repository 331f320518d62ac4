// timesync::Clock - the application's view of the synchronized clock.
//
//   auto clock = timesync::Clock::open();          // maps /dev/shm/timesync
//   if (auto t = clock->get_timestamp(); t.ok()) use(t.value().ns);
//
// Reads are lock-free: a seqlock snapshot of the shared segment (bounded retries,
// never blocking the agent) plus one clock_gettime(CLOCK_MONOTONIC_RAW) through
// the vDSO. A Clock may be shared by any number of threads without a lock; it is
// movable, not copyable. Out of sync -> an Error, never a time.
#pragma once

#include <string>

#include "timesync/transform.hpp"
#include "timesync/types.hpp"

namespace timesync {

namespace layout {
struct Segment;
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
  // Time, bound, status and epoch now (see TimestampWithError).
  TimestampWithError get_timestamp_with_error() const;
  bool is_synchronized() const;

  // The same decision at a chosen local time (for tests and tools).
  TimestampWithError timestamp_at(LocalTime local) const;
  // A consistent copy of everything the agent published.
  Result<TransformSnapshot> snapshot() const;

 private:
  Clock(const layout::Segment* seg, size_t len) : seg_(seg), len_(len) {}
  const layout::Segment* seg_ = nullptr;
  size_t len_ = 0;
};

// Reads CLOCK_MONOTONIC_RAW. Returns false if the clock cannot be read.
bool read_local_clock(LocalTime* out);

}  // namespace timesync
