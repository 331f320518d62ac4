// ReferenceSource: the master's external reference (reference.source in its
// config), read every reference.poll_s on a thread of its own, and the error
// against UTC it implies for this host's CLOCK_REALTIME (issue 18).
//
//   chrony: chronyd's tracking, error = |system time offset| + root
//           dispersion + root delay / 2 (reference::ChronyTracking);
//   ptp:    ptp4l's state, error = |offset from master| + asymmetry share x
//           mean path delay + extra (reference::PtpStatus).
//
// Between reads, and while the reference is unreachable or says it is not
// synchronized, the error grows from the last good reading at
// reference.max_clock_error_ppm (chrony's maxclockerror; for chrony also its
// skew and residual frequency, as chronyd grows its own root dispersion).
// Before the first good reading the error is unknown (kUnknownErrorNs).
//
// UTC is CLOCK_REALTIME as it is (the error covers how far it is from UTC).
// Beside a monotonic timeline it is published as an offset: utc = timeline +
// offset, read as realtime, timeline, realtime (the read's width counts as
// error), with the rate at which the offset moves (OffsetRateMeter) and that
// rate's error, so an agent can carry it between answers with an honest
// error. On a realtime timeline the offset is 0 and its error grows at the
// reference's own growth. TAI - UTC comes from the leap-second list; a leap second chronyd
// announces for today that the list does not know is published too.
//
// Thread safety: every const member may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "timesync/config/config.hpp"
#include "timesync/reference/leap_seconds.hpp"
#include "offset_rate.hpp"

namespace timesync::v1 {
class Utc;
}

namespace timesync::master {

class MasterTimeline;

// The error published while nothing is known (about 31 years): large enough
// that every bound built on it fails every check, small enough that adding an
// agent's bound to it cannot overflow.
inline constexpr uint64_t kUnknownErrorNs = 1'000'000'000'000'000'000ULL;

// One reading of the reference, as the poller hands it over (also what tests feed in).
struct ReferenceReading {
  bool reachable = false;      // the daemon answered
  bool synchronized = false;   // and says it is synchronized
  int64_t as_of_ns = 0;        // CLOCK_REALTIME of the reading
  int64_t error_ns = 0;        // at as_of_ns (when synchronized)
  double growth_ppm = 0;       // the error's growth rate from as_of_ns
  int leap = 0;                // chrony: 0 none, +1 insert, -1 delete at the end of today (UTC)
  std::string what;            // "synchronized to 10.0.0.5 stratum 2", or why not
};

// The published state at one CLOCK_REALTIME instant (pure: see state_at).
struct ReferenceState {
  bool known = false;          // a good reading was ever had
  bool synchronized = false;   // the last reading was good
  uint64_t error_ns = kUnknownErrorNs;
  double growth_ppb = 0;       // how fast error_ns grows from here (known only)
  int tai_minus_utc_s = 0;     // 0: unknown
  int64_t next_leap_utc_s = 0; // 0: none announced
  int next_tai_minus_utc_s = 0;
  bool leap_list_expired = false;
};

// Pure: the state at `realtime_ns` from the last good reading, the latest
// reading (maybe the same) and the leap-second list (may be null).
ReferenceState reference_state_at(int64_t realtime_ns, const std::optional<ReferenceReading>& last_good,
                                  const ReferenceReading& latest, const reference::LeapSeconds* leaps,
                                  double max_clock_error_ppm);

class ReferenceSource {
 public:
  // nullptr when cfg.source is none. Does not block: the first read happens
  // on the poller thread.
  static std::unique_ptr<ReferenceSource> start(const config::MasterReference& cfg);
  ~ReferenceSource();
  ReferenceSource(const ReferenceSource&) = delete;
  ReferenceSource& operator=(const ReferenceSource&) = delete;

  ReferenceState state_at(int64_t realtime_ns) const;
  ReferenceState state_now() const;
  // The error against UTC of CLOCK_REALTIME now (kUnknownErrorNs before the first good reading).
  uint64_t error_now_ns() const { return state_now().error_ns; }

  // Fills `utc` for `timeline` (offset: 0 when the timeline is CLOCK_REALTIME).
  // False (utc untouched) while no good reading was ever had.
  bool fill(const MasterTimeline& timeline, bool realtime_timeline, v1::Utc* utc) const;
  // Measures realtime against a monotonic `timeline` for the offset's rate
  // (fill() does too): the master calls it every 100 ms from its start, so
  // the rate is known by the time the first agent asks.
  void observe(const MasterTimeline& timeline, bool realtime_timeline) const;

  // "chrony at <socket>: synchronized to ..., error 1.2 ms" or why it is lost.
  std::string describe() const;
  uint64_t readings() const;  // completed reads (good or not), for tests

  // Feeds a reading as the poller would (tests; also used by the poller).
  void accept(const ReferenceReading& r);

 public:
  class Reader;  // defined in reference_source.cc

 private:
  ReferenceSource(const config::MasterReference& cfg, std::unique_ptr<Reader> reader);
  // realtime, timeline, realtime: the offset at their middle, within width.
  static void pair(const MasterTimeline& timeline, int64_t* at, int64_t* offset, uint64_t* width);
  void run();
  std::string reader_where() const;

  config::MasterReference cfg_;
  std::unique_ptr<Reader> reader_;
  std::optional<reference::LeapSeconds> leaps_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::optional<ReferenceReading> last_good_;
  ReferenceReading latest_;
  uint64_t readings_ = 0;
  mutable std::mutex rate_mu_;
  mutable OffsetRateMeter rate_;  // realtime against a monotonic timeline, from fill()
  std::thread thread_;
};

}  // namespace timesync::master
