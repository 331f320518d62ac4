// The agent's local gRPC service: status and the alarm stream.
//
// Thread safety: gRPC calls the handlers concurrently; they only read the
// agent's status copy and the alarm hub.
#pragma once

#include <functional>
#include <string>

#include "agent.hpp"
#include "alarm_hub.hpp"
#include "chrony_refclock.hpp"
#include "timesync/v1/timesync.grpc.pb.h"

namespace timesync::agent {

class AgentServiceImpl final : public v1::AgentService::Service {
 public:
  // `refclock` (may be null): the chrony refclock the agent feeds, for its
  // status line; `reader_clock` (may be empty): what applications' reads are
  // built on (the counter or clock_gettime), for another.
  AgentServiceImpl(const Agent& agent, AlarmHub& alarms,
                   const ChronyRefclockPublisher* refclock = nullptr,
                   std::function<std::string()> reader_clock = {})
      : agent_(agent), alarms_(alarms), refclock_(refclock), reader_clock_(std::move(reader_clock)) {}

  grpc::Status GetAgentStatus(grpc::ServerContext* ctx, const v1::GetAgentStatusRequest* req,
                              v1::AgentStatus* resp) override;
  grpc::Status WatchAlarms(grpc::ServerContext* ctx, const v1::WatchAlarmsRequest* req,
                           grpc::ServerWriter<v1::AlarmEvent>* out) override;

 private:
  const Agent& agent_;
  AlarmHub& alarms_;
  const ChronyRefclockPublisher* refclock_;
  std::function<std::string()> reader_clock_;
};

}  // namespace timesync::agent
