// The master's timeline: the clock it serves, plus the epoch that names it.
//
// The epoch is the identity of a continuous timeline: two readings with the same
// epoch can be subtracted. It is derived from what the timeline is (boot id and
// clock for the monotonic timebase, so a restarted master continues the same
// timeline; a random value for realtime, whose continuity across a restart
// nobody can vouch for) and bumped by one whenever a step is detected.
//
// Step detection: every reading also reads the host's CLOCK_MONOTONIC_RAW and
// compares (source - raw) with its last value. A change above the threshold is a
// step (someone set CLOCK_REALTIME); smaller changes are slewing and move the
// reference along, so a slew never adds up to a false step. check() does the
// same from the master's housekeeping loop, so a step is seen even when no
// request arrives. CLOCK_MONOTONIC_RAW and simulated sources never step: pass a
// threshold of 0 to skip the check (a simulated crystal's drift against raw is
// not a step).
//
// Thread safety: read() and check() may be called from any number of threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "timesync/timebase/time_source.hpp"

namespace timesync::master {

class MasterTimeline {
 public:
  MasterTimeline(std::unique_ptr<TimeSource> source, uint64_t initial_epoch,
                 int64_t step_threshold_ns);

  struct Reading {
    int64_t ns = 0;
    uint64_t epoch = 0;
    bool ambiguous = false;  // a step was detected during this read: ns may be
                             // on either side of it; do not serve it
  };
  Reading read() const;
  // The timeline at an earlier host CLOCK_MONOTONIC_RAW instant (a kernel
  // stamp converted to raw). Ambiguous when a step is detected meanwhile.
  Reading at_host_raw(int64_t raw_ns) const;
  void check() const { read(); }
  uint64_t epoch() const { return epoch_.load(std::memory_order_acquire); }
  uint64_t steps() const { return steps_.load(std::memory_order_relaxed); }
  const TimeSource& source() const { return *source_; }

 private:
  void on_jump() const;
  bool tight_diff(int64_t* ns, int64_t* diff) const;

  std::unique_ptr<TimeSource> source_;
  int64_t threshold_ns_;
  mutable std::mutex step_mu_;
  mutable std::atomic<int64_t> ref_diff_;   // source - host raw at the last reading
  mutable std::atomic<uint64_t> epoch_;
  mutable std::atomic<uint64_t> steps_{0};
};

// FNV-1a over the bytes, for deriving epochs from what the timeline is.
uint64_t fnv1a(const void* data, size_t n, uint64_t h = 1469598103934665603ull);
// This boot's id (/proc/sys/kernel/random/boot_id), "" if unreadable.
std::string boot_id();

}  // namespace timesync::master
