#include "agent_service.hpp"

#include "status_proto.hpp"

namespace timesync::agent {

grpc::Status AgentServiceImpl::GetAgentStatus(grpc::ServerContext* /*ctx*/,
                                              const v1::GetAgentStatusRequest* /*req*/,
                                              v1::AgentStatus* resp) {
  *resp = to_proto(agent_.status());
  if (refclock_ != nullptr) resp->set_chrony_refclock(refclock_->describe());
  if (reader_clock_) resp->set_reader_clock(reader_clock_());
  return grpc::Status::OK;
}

grpc::Status AgentServiceImpl::WatchAlarms(grpc::ServerContext* ctx,
                                           const v1::WatchAlarmsRequest* /*req*/,
                                           grpc::ServerWriter<v1::AlarmEvent>* out) {
  // Sequence first, then the active alarm: an event published in between is
  // sent by the loop below, so nothing falls in the gap.
  uint64_t sent = alarms_.last_sequence();
  if (std::optional<AlarmInfo> a = alarms_.active(); a && a->sequence <= sent) {
    if (!out->Write(to_proto(*a))) return grpc::Status::OK;
  }
  // Wake up now and then to notice a cancelled client or a stopping agent.
  while (!ctx->IsCancelled() && !alarms_.closed()) {
    for (const AlarmInfo& e : alarms_.wait(sent, std::chrono::milliseconds(200))) {
      if (!out->Write(to_proto(e))) return grpc::Status::OK;  // the client went away
      sent = e.sequence;
    }
  }
  return alarms_.closed() ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "the agent is stopping")
                          : grpc::Status::CANCELLED;
}

}  // namespace timesync::agent
