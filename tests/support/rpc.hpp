// Questions integration tests ask the daemons over gRPC: the agent's status,
// the standard health service, whether a master answers. Each call has a
// deadline of its own, so a daemon that does not answer makes a test fail,
// never hang. Needs timesync_proto. Thread safety: free functions, no state.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "grpc/health/v1/health.grpc.pb.h"
#include "support/process.hpp"
#include "timesync/v1/timesync.grpc.pb.h"

namespace timesync::testing {

// The agent's GetAgentStatus; nullopt when it does not answer within a second.
inline std::optional<v1::AgentStatus> agent_status(const std::string& target) {
  auto stub = v1::AgentService::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
  v1::AgentStatus s;
  if (!stub->GetAgentStatus(&ctx, v1::GetAgentStatusRequest{}, &s).ok()) return std::nullopt;
  return s;
}

// Polls the agent's status until `done` holds for it; *last is the last
// status that came (whether or not it held).
inline bool status_until(const std::string& target,
                         const std::function<bool(const v1::AgentStatus&)>& done,
                         std::chrono::milliseconds timeout, v1::AgentStatus* last = nullptr) {
  return eventually([&] {
    const std::optional<v1::AgentStatus> s = agent_status(target);
    if (!s) return false;
    if (last != nullptr) *last = *s;
    return done(*s);
  }, timeout);
}

// grpc.health.v1 Check for `service` ("" = the server as a whole); UNKNOWN
// when nothing answers within a second.
inline grpc::health::v1::HealthCheckResponse::ServingStatus health(const std::string& target,
                                                                   const std::string& service) {
  auto stub = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(service);
  grpc::health::v1::HealthCheckResponse resp;
  if (!stub->Check(&ctx, req, &resp).ok()) return grpc::health::v1::HealthCheckResponse::UNKNOWN;
  return resp.status();
}

// Whether a master answers GetStatus within 500 ms.
inline bool master_up(const std::string& target) {
  auto stub = v1::TimeService::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  v1::GetStatusResponse r;
  return stub->GetStatus(&ctx, v1::GetStatusRequest{}, &r).ok();
}

}  // namespace timesync::testing
