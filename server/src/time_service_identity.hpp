// Who the master is, as every answer (gRPC, beacon, UDP) says it. Plain
// values: each RPC edge turns it into its own message.
//
// Thread safety: plain values.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>

#include "master_timeline.hpp"
#include "reference_source.hpp"

namespace timesync::master {

struct Identity {
  std::string id;
  uint64_t instance = 0;
  bool realtime = false;          // timebase: realtime, else monotonic
  uint64_t master_error_ns = 0;
  std::string role = "primary";   // or "standby": serves a followed timeline
  // The external reference (reference.source), or null. On a realtime
  // primary, current() adds its live error to master_error_ns.
  const ReferenceSource* reference = nullptr;
};

// Who answers now: a standby (a timeline with a follower) answers with the
// followed master's name and timebase, its own instance, and the role the
// follower says.
// A primary serving CLOCK_REALTIME with an external reference answers with
// the reference's error against UTC on top of the declared one.
inline Identity current(const Identity& self, const MasterTimeline& timeline) {
  const TimelineFollower* f = timeline.follower();
  if (f == nullptr) {
    if (self.reference == nullptr || !self.realtime) return self;
    Identity who = self;
    who.master_error_ns = std::min(who.master_error_ns + self.reference->error_now_ns(), kUnknownErrorNs);
    return who;
  }
  Identity who = self;
  TimelineFollower::Followed followed = f->followed();
  who.id = std::move(followed.id);
  who.realtime = followed.realtime;
  if (!followed.role.empty()) who.role = std::move(followed.role);
  return who;
}

}  // namespace timesync::master
