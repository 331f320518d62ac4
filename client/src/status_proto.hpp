// The RPC edge: the agent's plain status and alarm events as timesync.v1
// messages. Nothing else in the agent sees generated protobuf types except
// GrpcLink and the beacon stream, which speak TimeService.
//
// Thread safety: pure functions.
#pragma once

#include "agent_state.hpp"
#include "timesync/v1/timesync.pb.h"

namespace timesync::agent {

v1::AgentStatus to_proto(const AgentStatusInfo& s);
// The event's host raw time becomes CLOCK_REALTIME with a paired read now.
v1::AlarmEvent to_proto(const AlarmInfo& a);

}  // namespace timesync::agent
