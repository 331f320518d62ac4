// Who the master is, as every answer (gRPC, beacon, UDP) says it. Plain
// values: each RPC edge turns it into its own message.
//
// Thread safety: plain values.
#pragma once

#include <cstdint>
#include <string>

namespace timesync::master {

struct Identity {
  std::string id;
  uint64_t instance = 0;
  bool realtime = false;          // timebase: realtime, else monotonic
  uint64_t master_error_ns = 0;
};

}  // namespace timesync::master
