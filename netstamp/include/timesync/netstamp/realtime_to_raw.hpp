// RealtimeToRaw: kernel software stamps (CLOCK_REALTIME) to CLOCK_MONOTONIC_RAW,
// with step detection (clock_pair.hpp has the maths and its guarantees).
//
// Use: mark() before the packets whose stamps will be converted can have
// been stamped, then convert() each stamp:
//   agent:  conv.mark(); send request; recv answer; conv.convert(t0), conv.convert(t3)
//   master: conv.mark(); then read the socket until it is found empty (recv
//           times out); only packets received after that empty read are
//           known to be stamped after the mark. Each convert() reads the
//           clocks again (`after`) and compares with the last mark.
// A stamp is dropped (Conversion::ok() false), never converted wrongly, when
// CLOCK_REALTIME was stepped between the mark and the conversion.
//
// The clock reads go through ClockReader so that tests can step realtime
// between a stamp and its conversion; production uses clock_gettime.
//
// Units: ns. Thread safety: a RealtimeToRaw is for one thread at a time (the
// last mark is unsynchronized); system_clock_reader() is safe from any thread.
#pragma once

#include <cstdint>
#include <optional>

#include "timesync/netstamp/clock_pair.hpp"

namespace timesync::netstamp {

class ClockReader {
 public:
  virtual ~ClockReader() = default;
  virtual int64_t monotonic_raw_ns() = 0;
  virtual int64_t realtime_ns() = 0;
};

// clock_gettime(CLOCK_MONOTONIC_RAW / CLOCK_REALTIME).
ClockReader& system_clock_reader();

// The narrowest of `tries` paired reads (raw, realtime, raw); tries >= 1.
PairedRead read_realtime_pair(ClockReader& clocks, int tries);

class RealtimeToRaw {
 public:
  struct Params {
    int tries = 5;  // paired reads per mark or conversion; the narrowest is used
    ConversionParams conversion;
  };

  explicit RealtimeToRaw(ClockReader& clocks = system_clock_reader());
  RealtimeToRaw(ClockReader& clocks, Params params);

  // A paired read that later stamps are checked against; returns it.
  PairedRead mark();
  const std::optional<PairedRead>& last_mark() const { return last_mark_; }

  // Reads the clocks now and converts against the last mark (kNotBracketed
  // without one). Does not replace the mark.
  Conversion convert(int64_t realtime_stamp_ns);
  // The same against an explicit earlier read (for callers keeping several).
  Conversion convert(int64_t realtime_stamp_ns, const PairedRead& before);

 private:
  ClockReader* clocks_;
  Params params_;
  std::optional<PairedRead> last_mark_;
};

}  // namespace timesync::netstamp
