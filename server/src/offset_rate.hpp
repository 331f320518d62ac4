// OffsetRateMeter: how fast UTC moves against the master's timeline, for the
// rate agents extrapolate UTC with between answers (v1::Utc.offset_rate_ppb).
//
// The master reads realtime and its timeline side by side (an offset, within
// the read's width) at every answer; the meter keeps one such point a second
// for kWindowNs. The rate is the slope from the oldest kept point at least a
// second old to the newest. realtime is UTC only within the reference's error
// at each end, so the true mean rate over the window lies within
//   slope +/- (uncertainty_old + uncertainty_new) / dt
// (uncertainty = the reference's error + the read's width at that point); the
// rate may then move by the drift the caller allows (the reference's growth:
// reference.max_clock_error_ppm at least). Before a second of points the rate
// is unknown: 0, with kUnknownRateErrorPpb.
//
// Pure; thread safety: none (ReferenceSource locks around it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>

namespace timesync::master {

// 1000 ppm: what no working clock correction exceeds.
inline constexpr uint64_t kUnknownRateErrorPpb = 1'000'000;
// Largest rate error published (agents refuse more than 1 %).
inline constexpr uint64_t kMaxRateErrorPpb = 10'000'000;

class OffsetRateMeter {
 public:
  static constexpr int64_t kWindowNs = 32'000'000'000;
  static constexpr int64_t kMinSpanNs = 1'000'000'000;

  struct Rate {
    double ppb = 0;
    uint64_t error_ppb = kUnknownRateErrorPpb;
  };

  // A point: at realtime at_ns the offset (realtime - timeline) was offset_ns,
  // true UTC - timeline within +/- uncertainty_ns of it.
  void add(int64_t at_ns, int64_t offset_ns, uint64_t uncertainty_ns);
  // The rate at the newest point, with drift_ppb added to its error.
  Rate rate(double drift_ppb) const;
  size_t size() const { return pts_.size(); }

 private:
  struct Point {
    int64_t at;
    int64_t offset;
    uint64_t uncertainty;
  };
  std::deque<Point> pts_;
};

}  // namespace timesync::master
