// StampConverter: any stamp a TimestampingSocket hands out, to this host's
// CLOCK_MONOTONIC_RAW, by the rules of clock_pair.hpp: a mark read before the
// stamp can have been taken, a read after it, and the sample dropped (never
// converted wrongly) when the stamp's clock stepped in between.
//
//   user     stamps are CLOCK_MONOTONIC_RAW already: exact, uncertainty 0
//   software CLOCK_REALTIME, through paired reads (realtime_to_raw.hpp)
//   hardware the NIC's PHC, through its paired reads (phc.hpp)
//
// Both ends of the UDP exchange use it: the agent marks before it sends, the
// master before the read that finds its socket empty (so every packet it
// reads later was stamped after that mark).
//
// Units: ns. Thread safety: one thread at a time.
#pragma once

#include <optional>

#include "timesync/netstamp/clock_pair.hpp"
#include "timesync/netstamp/phc.hpp"
#include "timesync/netstamp/realtime_to_raw.hpp"
#include "timesync/netstamp/socket.hpp"
#include "timesync/netstamp/status.hpp"
#include "timesync/netstamp/timestamp.hpp"

namespace timesync::netstamp {

class StampConverter {
 public:
  // For the socket's mode in effect (its PHC for hardware).
  static Result<StampConverter> for_socket(const TimestampingSocket& s);

  // A read to convert later stamps against; the caller keeps it.
  Result<PairedRead> mark();
  // The stamp, taken after `before` was read; a stamp of another source than
  // the socket's mode is kNotBracketed (dropped).
  Conversion convert(const Timestamp& stamp, const PairedRead& before);
  TimestampMode mode() const { return mode_; }

 private:
  explicit StampConverter(TimestampMode mode) : mode_(mode) {}
  TimestampMode mode_;
  std::optional<PhcToRaw> phc_;
  ConversionParams params_;
};

}  // namespace timesync::netstamp
