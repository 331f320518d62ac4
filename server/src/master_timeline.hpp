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
#include <string>

#include "timesync/timebase/time_source.hpp"

namespace timesync::master {

// A timeline followed from another master (a standby serving its primary's
// timeline, standby.hpp): it says what the timeline reads at a host raw
// instant, how well it knows it, and whose timeline it is.
class TimelineFollower {
 public:
  virtual ~TimelineFollower() = default;
  struct At {
    bool ok = false;
    int64_t ns = 0;
    uint64_t error_ns = 0;  // of ns against the followed timeline
    uint64_t epoch = 0;     // the followed timeline's, when ns was known
    std::string why;        // when !ok: why nothing can be served
  };
  virtual At at(int64_t host_raw_ns) const = 0;
  // Whose timeline it is, as its master says (empty / 0 until known).
  struct Followed {
    std::string id;
    uint64_t epoch = 0;
    bool realtime = false;
    std::string role;  // what this master answers as: "standby" while following
  };
  virtual Followed followed() const = 0;
  // For status and logs: whom it follows and how well.
  virtual std::string describe() const = 0;
  uint64_t epoch() const { return followed().epoch; }
};

class MasterTimeline {
 public:
  MasterTimeline(std::unique_ptr<TimeSource> source, uint64_t initial_epoch,
                 int64_t step_threshold_ns);
  // A standby's timeline: every reading comes from `follower` (which must
  // outlive this), the epoch is the followed one's.
  explicit MasterTimeline(const TimelineFollower& follower);

  struct Reading {
    int64_t ns = 0;
    uint64_t epoch = 0;
    bool ambiguous = false;  // a step was detected during this read: ns may be
                             // on either side of it; do not serve it
    uint64_t error_ns = 0;   // a followed timeline's own error at this reading
    bool unavailable = false;  // a follower with nothing to serve: why says why
                               // (ambiguous is set too)
    std::string why;
  };
  const TimelineFollower* follower() const { return follower_; }
  Reading read() const;
  // The timeline at an earlier host CLOCK_MONOTONIC_RAW instant (a kernel
  // stamp converted to raw). Ambiguous when a step is detected meanwhile.
  Reading at_host_raw(int64_t raw_ns) const;
  void check() const { read(); }
  uint64_t epoch() const {
    return follower_ != nullptr ? follower_->epoch() : epoch_.load(std::memory_order_acquire);
  }
  uint64_t steps() const { return steps_.load(std::memory_order_relaxed); }
  const TimeSource& source() const { return *source_; }

 private:
  void on_jump() const;
  bool tight_diff(int64_t* ns, int64_t* diff) const;

  Reading follow(int64_t host_raw_ns) const;
  static Reading plain(int64_t ns, uint64_t epoch, bool ambiguous);

  std::unique_ptr<TimeSource> source_;
  const TimelineFollower* follower_ = nullptr;
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
