// What readers get of the master's UTC (the segment's UTC section, UtcInfo in
// transform.hpp) from what the master last said (MasterInfo).
//
//   no UTC from the master (no reference, none read yet): none (kNoUtc);
//   a realtime master: UTC is the timeline, offset 0; its reference error is
//     already in every sample's master_error_ns and so in the bound; from the
//     answer on it grows at the reference's rate;
//   a monotonic master: its offset at the answer's master_send_ns, its error,
//     and the offset's rate with that rate's error (1000 ppm when the master
//     did not say: an older master).
// gRPC answers carry UTC, UDP answers do not (AutoLink carries it over and
// refreshes it over gRPC every 10 s): the error grows with the offset's age.
//
// Pure.
#pragma once

#include "master_link.hpp"
#include "timesync/transform.hpp"

namespace timesync::agent {

// The rate error assumed when a master sends none.
inline constexpr uint64_t kUnknownUtcRateErrorPpb = 1'000'000;

UtcInfo utc_for_readers(const MasterInfo& m);

}  // namespace timesync::agent
