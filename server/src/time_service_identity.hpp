// Who the master is, as every answer (gRPC, beacon, UDP) says it. Plain
// values: each RPC edge turns it into its own message.
//
// Thread safety: plain values.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "master_timeline.hpp"

namespace timesync::master {

struct Identity {
  std::string id;
  uint64_t instance = 0;
  bool realtime = false;          // timebase: realtime, else monotonic
  uint64_t master_error_ns = 0;
  std::string role = "primary";   // or "standby": serves a followed timeline
};

// Who answers now: a standby (a timeline with a follower) answers with the
// followed master's name and timebase, its own instance, and the role the
// follower says.
inline Identity current(const Identity& self, const MasterTimeline& timeline) {
  const TimelineFollower* f = timeline.follower();
  if (f == nullptr) return self;
  Identity who = self;
  TimelineFollower::Followed followed = f->followed();
  who.id = std::move(followed.id);
  who.realtime = followed.realtime;
  if (!followed.role.empty()) who.role = std::move(followed.role);
  return who;
}

}  // namespace timesync::master
