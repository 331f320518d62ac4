#include "time_service.hpp"

#include "timesync/daemon/log.hpp"

namespace timesync::master {

TimeServiceImpl::TimeServiceImpl(const MasterTimeline& timeline, Identity identity,
                                 MasterMetrics* metrics, BeaconHub* beacons)
    : timeline_(timeline),
      identity_(std::move(identity)),
      started_raw_ns_(host_raw_now_ns()),
      metrics_(metrics),
      beacons_(beacons) {}

grpc::ServerWriteReactor<v1::TimeBeacon>* TimeServiceImpl::StreamTime(
    grpc::CallbackServerContext* ctx, const v1::StreamTimeRequest* req) {
  if (beacons_ != nullptr) return beacons_->open(ctx, req);
  // The generated default answers UNIMPLEMENTED too; say why.
  class Unimplemented final : public grpc::ServerWriteReactor<v1::TimeBeacon> {
   public:
    Unimplemented() { Finish({grpc::StatusCode::UNIMPLEMENTED, "this master serves no beacons"}); }
    void OnDone() override { delete this; }
  };
  return new Unimplemented;
}

grpc::Status TimeServiceImpl::GetTime(grpc::ServerContext* ctx, const v1::GetTimeRequest* req,
                                      v1::GetTimeResponse* resp) {
  const int64_t entered = host_raw_now_ns();
  const grpc::Status status = answer(ctx, req, resp);
  // Accounting happens after t2, so it never widens [t1, t2].
  if (metrics_ != nullptr) {
    metrics_->request(MasterMetrics::Method::kGetTime, status.error_code(),
                      host_raw_now_ns() - entered);
  }
  return status;
}

grpc::Status TimeServiceImpl::answer(grpc::ServerContext* /*ctx*/,
                                     const v1::GetTimeRequest* req,
                                     v1::GetTimeResponse* resp) {
  // Where t1 and t2 are taken. The synchronous gRPC API hands us the request
  // after it has been read off the socket, deframed and parsed, on a pool
  // thread; it sends the answer after we return, serialising it first. So t1 is
  // the first statement here (one clock read after the handler's entry) and t2 the last thing before return,
  // after the response has been filled in. What happens outside [t1, t2] (the
  // kernel, HTTP/2 framing, protobuf parsing, the thread hop) lands in the
  // measured round-trip delay, which the agent's filter and bound account for;
  // only its asymmetry between the two directions becomes offset error, and it
  // is bounded by delay/2. Taking them any closer to the wire would need the
  // callback API plus kernel timestamps (SO_TIMESTAMPING), which gRPC hides.
  const MasterTimeline::Reading t1 = timeline_.read();

  if (req->client_id().size() > kMaxClientIdBytes) {
    return {grpc::StatusCode::INVALID_ARGUMENT,
            "client_id is longer than 256 bytes"};
  }
  resp->set_client_send_ns(req->client_send_ns());
  resp->set_sequence(req->sequence());
  resp->set_master_id(identity_.id);
  resp->set_master_instance(identity_.instance);
  resp->set_timebase(identity_.realtime ? v1::TIMEBASE_REALTIME : v1::TIMEBASE_MONOTONIC);
  resp->set_master_error_ns(identity_.master_error_ns);
  if (udp_ != nullptr) {
    resp->set_udp_port(udp_->port());
    resp->set_udp_authenticated(udp_->authenticated());
  }
  served_.fetch_add(1, std::memory_order_relaxed);

  const MasterTimeline::Reading t2 = timeline_.read();
  if (t1.epoch != t2.epoch || t1.ambiguous || t2.ambiguous) {
    // t1 and t2 belong to different timelines; the pair would be garbage.
    return {grpc::StatusCode::UNAVAILABLE, "the master's timeline stepped; retry"};
  }
  resp->set_master_receive_ns(t1.ns);
  resp->set_master_send_ns(t2.ns);
  resp->set_master_epoch(t2.epoch);
  return grpc::Status::OK;
}

grpc::Status TimeServiceImpl::GetStatus(grpc::ServerContext* /*ctx*/,
                                        const v1::GetStatusRequest* /*req*/,
                                        v1::GetStatusResponse* resp) {
  const int64_t entered = host_raw_now_ns();
  const MasterTimeline::Reading now = timeline_.read();
  resp->set_master_id(identity_.id);
  resp->set_master_instance(identity_.instance);
  resp->set_master_epoch(now.epoch);
  resp->set_timebase(identity_.realtime ? v1::TIMEBASE_REALTIME : v1::TIMEBASE_MONOTONIC);
  resp->set_master_error_ns(identity_.master_error_ns);
  resp->set_now_ns(now.ns);
  resp->set_requests_served(served());
  resp->set_uptime_ns(host_raw_now_ns() - started_raw_ns_);
  if (metrics_ != nullptr) {
    metrics_->request(MasterMetrics::Method::kGetStatus, grpc::StatusCode::OK,
                      host_raw_now_ns() - entered);
  }
  return grpc::Status::OK;
}

grpc::Status TimeServiceImpl::GetUdpSession(grpc::ServerContext* /*ctx*/,
                                            const v1::GetUdpSessionRequest* req,
                                            v1::GetUdpSessionResponse* resp) {
  if (req->client_id().size() > kMaxClientIdBytes) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "client_id is longer than 256 bytes"};
  }
  if (udp_ == nullptr) {
    return {grpc::StatusCode::FAILED_PRECONDITION, "this master serves no UDP (udp.listen is \"\")"};
  }
  if (!udp_->authenticated()) {
    return {grpc::StatusCode::FAILED_PRECONDITION,
            "this master's UDP is unauthenticated (TLS is off): no keys to hand out"};
  }
  UdpSessionGrant g;
  constexpr int kCookies = 8;
  if (!udp_->new_session(kCookies, &g)) {
    return {grpc::StatusCode::UNAVAILABLE, "no UDP session keys (random number generator)"};
  }
  resp->set_udp_port(udp_->port());
  resp->set_key(g.key);
  for (std::string& c : g.cookies) resp->add_cookies(std::move(c));
  resp->set_lifetime_s(g.lifetime_s);
  resp->set_aead("AES-256-GCM");
  return grpc::Status::OK;
}

}  // namespace timesync::master
