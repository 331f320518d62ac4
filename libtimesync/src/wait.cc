#include "timesync/wait.hpp"

#include <time.h>

#include <algorithm>
#include <optional>

namespace timesync {
namespace {

int64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

bool stopped(const WaitOptions& o) {
  if (o.stop != nullptr && o.stop->load(std::memory_order_acquire)) return true;
  return o.stop_flag_c != nullptr && __atomic_load_n(o.stop_flag_c, __ATOMIC_ACQUIRE) != 0;
}

// One look: the reading if it is good enough, else why not.
Result<TimestampWithError> look(const WaitOptions& o, std::optional<Clock>* clock) {
  if (!clock->has_value()) {
    Result<Clock> c = Clock::open(o.path);
    if (!c.ok()) return c.error();
    clock->emplace(std::move(c).value());
  }
  const TimestampWithError r = (*clock)->get_timestamp_with_error();
  if (!r.ok()) return r.error;
  if (o.max_error_ns != 0 && r.bound_ns > o.max_error_ns) return Error::kBoundExceeded;
  return r;
}

}  // namespace

bool wait_can_cure(Error e) {
  switch (e) {
    case Error::kNoSegment:         // the agent has not created it yet
    case Error::kTruncated:         // ... or is creating it
    case Error::kNotInitialized:
    case Error::kBadMagic:
    case Error::kSizeMismatch:
    case Error::kBusy:              // a writer kept the seqlock busy
    case Error::kCorrupt:
    case Error::kNotSynchronized:   // the agent has no estimate yet
    case Error::kStale:             // the agent stopped publishing (a restart)
    case Error::kBoundExceeded:     // the bound shrinks as samples come in
    case Error::kEpochChanged:
      return true;
    default:
      return false;
  }
}

Result<TimestampWithError> wait_synchronized(const WaitOptions& o) {
  const int64_t poll = std::max<int64_t>(o.poll_ns, 1'000'000);
  const int64_t start = monotonic_ns();
  std::optional<Clock> clock;
  for (;;) {
    if (stopped(o)) return Error::kInterrupted;
    Result<TimestampWithError> r = look(o, &clock);
    if (r.ok() || !wait_can_cure(r.error())) return r;
    const int64_t now = monotonic_ns();
    if (o.timeout_ns >= 0 && now - start >= o.timeout_ns) return r;
    int64_t nap = poll;
    if (o.timeout_ns >= 0) nap = std::min(nap, start + o.timeout_ns - now);
    const timespec ts{static_cast<time_t>(nap / 1'000'000'000),
                      static_cast<long>(nap % 1'000'000'000)};
    // EINTR: look again at once (and at the stop flag).
    clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, nullptr);
  }
}

}  // namespace timesync
