// Waiting for a synchronized instant: sleep_until() and PeriodicTimer.
//
//   auto clock = timesync::Clock::open().value();
//   auto woke = timesync::sleep_until(clock, timesync::SyncTime{t_ns});
//   if (!woke.ok()) refuse(woke.error());        // never a silent wrong wake-up
//
//   timesync::PeriodicTimer timer(clock, 100'000'000, 0);   // every 100 ms boundary
//   for (;;) { auto tick = timer.wait_next(); ... tick->missed ... }
//
// Units: every time and duration is integer nanoseconds. Targets are SyncTime
// (the synchronized timeline); the kernel sleeps on CLOCK_MONOTONIC, because
// clock_nanosleep() refuses CLOCK_MONOTONIC_RAW.
//
// How it follows the timeline: the target is re-evaluated against the latest
// published transform after every sleep. Far from the target it sleeps at most
// `chunk_ns`; inside `chunk_ns` it halves the remaining wait until
// `final_ns` is left, then sleeps to `spin_ns` before the instant and spins on
// the clock for the rest. So a new publication, a slew or a frequency change
// made while sleeping moves the wake-up with it; only a change made during the
// last `final_ns` is not seen (the agent slews at ppm rates, so that costs
// nanoseconds).
//
// Refusals (the Result's Error): out of sync (kNotSynchronized, kStale,
// kBoundExceeded, also when the bound passes SleepOptions::max_error_ns), a bad
// segment (kBusy, kCorrupt, ...), kEpochChanged when the timeline steps while
// sleeping and EpochPolicy::kFail is chosen, kInterrupted when a signal handler
// runs (EINTR) or the stop flag is set. Each is checked after every sleep, so a
// refusal comes within chunk_ns of its cause. A target already in the past
// returns at once with a report whose late_ns() is positive.
//
// Thread safety: sleep_until() is reentrant and may be called from any number
// of threads on one Clock. A PeriodicTimer is one thread's object (wait_next is
// not to be called concurrently); several timers may share one Clock. Neither
// takes a lock against the agent nor makes any RPC.
#pragma once

#include <atomic>
#include <cstdint>

#include "timesync/clock.hpp"
#include "timesync/transform.hpp"
#include "timesync/types.hpp"

namespace timesync {

// What to do when the synchronized timeline steps (a new epoch) while waiting.
enum class EpochPolicy {
  // Refuse with kEpochChanged: the caller chose its target on a timeline that no
  // longer exists, and only it knows whether the same number still means the
  // same thing. The default, because guessing could fire at a wrong moment.
  kFail,
  // Keep the same numeric target on the new timeline.
  kFollow,
};

struct SleepOptions {
  int64_t chunk_ns = 100'000'000;  // longest sleep between two looks at the transform
  int64_t final_ns = 2'000'000;    // below this much left, no more intermediate looks
  int64_t spin_ns = 50'000;        // busy-wait the last spin_ns (0: no spin)
  uint64_t max_error_ns = 0;       // refuse when the bound exceeds it (0: the segment's limit)
  EpochPolicy on_epoch_change = EpochPolicy::kFail;
  // Checked after every sleep (so within chunk_ns): when true, kInterrupted.
  const std::atomic<bool>* stop = nullptr;
  // The same for the C API's `const int*` flag (read with an atomic load).
  const int* stop_flag_c = nullptr;
};

// The achieved wake-up: what the clock said right after waking.
struct WakeReport {
  SyncTime target;
  SyncTime woke;          // synchronized time read right after waking
  uint64_t bound_ns = 0;  // its error bound
  LocalTime woke_local;   // the CLOCK_MONOTONIC_RAW reading it came from
  uint64_t epoch = 0;
  int64_t late_ns() const { return woke.ns - target.ns; }  // >= 0 on success
};

// Sleeps until the synchronized clock reads `target`, following transform
// changes, then reports the wake-up. See the header comment for refusals.
Result<WakeReport> sleep_until(const Clock& clock, SyncTime target, const SleepOptions& opts = {});

// Pure: the first local instant at which transform `s` reads at least `target`
// (the inverse of to_sync). False if it does not fit int64.
bool local_deadline(const Transform& s, SyncTime target, LocalTime* out);

// One firing of a PeriodicTimer.
struct Tick {
  int64_t index = 0;      // boundary = index * period + offset (same on every SoM)
  SyncTime boundary;      // the instant it was meant to fire
  uint64_t missed = 0;    // boundaries skipped since the previous tick (overruns)
  WakeReport wake;
};

// Fires at every k * period_ns + offset_ns of synchronized time.
//
// wait_next() always waits for a boundary that has not passed yet. If the
// caller comes back after one or more boundaries went by (its work overran, or
// the clock was out of sync for a while), those are counted in Tick::missed and
// skipped: no burst of late firings. An error (out of sync, epoch change, stop)
// is returned as is; the next call starts again from the next future boundary
// and counts what was skipped, as long as the timeline did not step (after a
// step the count restarts at 0, since old indices mean nothing on the new line).
class PeriodicTimer {
 public:
  // `clock` must outlive the timer. offset_ns is reduced modulo period_ns; a
  // period_ns <= 0 makes every wait_next() return kInvalidArgument.
  PeriodicTimer(const Clock& clock, int64_t period_ns, int64_t offset_ns = 0,
                SleepOptions opts = {});

  Result<Tick> wait_next();

  int64_t period_ns() const { return period_ns_; }
  int64_t offset_ns() const { return offset_ns_; }

 private:
  const Clock* clock_;
  int64_t period_ns_;
  int64_t offset_ns_;
  SleepOptions opts_;
  bool have_last_ = false;  // last_index_ and last_epoch_ are meaningful
  int64_t last_index_ = 0;
  uint64_t last_epoch_ = 0;
};

}  // namespace timesync
