// The agent's local gRPC service: status and the alarm stream.
//
// Thread safety: gRPC calls the handlers concurrently; they only read the
// agent's status copy and the alarm hub.
#pragma once

#include "agent.hpp"
#include "alarm_hub.hpp"
#include "chrony_refclock.hpp"
#include "timesync/v1/timesync.grpc.pb.h"

namespace timesync::agent {

class AgentServiceImpl final : public v1::AgentService::Service {
 public:
  // `refclock` (may be null): the chrony refclock the agent feeds, for its status line.
  AgentServiceImpl(const Agent& agent, AlarmHub& alarms, const ChronyRefclockPublisher* refclock = nullptr)
      : agent_(agent), alarms_(alarms), refclock_(refclock) {}

  grpc::Status GetAgentStatus(grpc::ServerContext* ctx, const v1::GetAgentStatusRequest* req,
                              v1::AgentStatus* resp) override;
  grpc::Status WatchAlarms(grpc::ServerContext* ctx, const v1::WatchAlarmsRequest* req,
                           grpc::ServerWriter<v1::AlarmEvent>* out) override;

 private:
  const Agent& agent_;
  AlarmHub& alarms_;
  const ChronyRefclockPublisher* refclock_;
};

}  // namespace timesync::agent
