// A timestamp of a packet's departure or arrival, and where it came from.
//
// The three sources read three different clocks, so a stamp is meaningless
// without its source:
//   kUser            CLOCK_MONOTONIC_RAW, read by netstamp around the system
//                    call (before sendmsg, after recvmsg). Already the product's
//                    clock; includes system-call and scheduling latency.
//   kKernelSoftware  CLOCK_REALTIME, taken by the kernel (transmit: when the
//                    driver hands the packet to the device; receive: when the
//                    stack takes it from the device). Convert with RealtimeToRaw.
//   kHardware        the PTP hardware clock (PHC) of the interface, taken by
//                    the NIC. Convert with PhcToRaw (phc.hpp).
//   kNone            the kernel gave no stamp for this packet; ns is 0.
//
// Thread safety: plain values.
#pragma once

#include <cstdint>

namespace timesync::netstamp {

enum class StampSource : uint8_t { kNone = 0, kUser, kKernelSoftware, kHardware };

const char* to_string(StampSource source);

struct Timestamp {
  StampSource source = StampSource::kNone;
  int64_t ns = 0;  // on the clock named by source (see above)

  bool present() const { return source != StampSource::kNone; }
  friend bool operator==(const Timestamp&, const Timestamp&) = default;
};

}  // namespace timesync::netstamp
