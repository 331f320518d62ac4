#include "time_service.hpp"

#include <algorithm>

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

namespace {

// A unary call's reactor: finished as soon as it is made; OnDone, when gRPC
// has sent the answer and is done with the call, accounts the time since the
// handler started.
class Accounted final : public grpc::ServerUnaryReactor {
 public:
  Accounted(MasterMetrics* metrics, MasterMetrics::Method method, int64_t entered_ns)
      : metrics_(metrics), method_(method), entered_ns_(entered_ns) {}
  void OnDone() override {
    metrics_->completed(method_, host_raw_now_ns() - entered_ns_);
    delete this;
  }

 private:
  MasterMetrics* const metrics_;
  const MasterMetrics::Method method_;
  const int64_t entered_ns_;
};

}  // namespace

grpc::ServerUnaryReactor* TimeServiceImpl::finish(MasterMetrics::Method m, int64_t entered_ns,
                                                  const grpc::Status& st) {
  auto* r = new Accounted(metrics_, m, entered_ns);
  r->Finish(st);
  return r;
}

grpc::ServerUnaryReactor* TimeServiceImpl::GetTime(grpc::CallbackServerContext* ctx,
                                                   const v1::GetTimeRequest* req,
                                                   v1::GetTimeResponse* resp) {
  const int64_t entered = host_raw_now_ns();
  const grpc::Status status = answer_time(*req, resp);
  if (metrics_ == nullptr) {
    grpc::ServerUnaryReactor* r = ctx->DefaultReactor();
    r->Finish(status);
    return r;
  }
  // Accounting happens after t2, so it never widens [t1, t2].
  metrics_->request(MasterMetrics::Method::kGetTime, status.error_code(),
                    host_raw_now_ns() - entered);
  return finish(MasterMetrics::Method::kGetTime, entered, status);
}

grpc::Status TimeServiceImpl::answer_time(const v1::GetTimeRequest& req,
                                          v1::GetTimeResponse* resp) {
  // Where t1 and t2 are taken. gRPC's callback API calls the handler on the
  // thread that read the request off the socket, once it is deframed and
  // parsed; it sends the answer after we return, serialising it first. So t1
  // is the first statement here (one clock read after the handler's entry)
  // and t2 the last thing before return, after the response has been filled
  // in. What happens outside [t1, t2] (the kernel, HTTP/2 framing, protobuf
  // parsing) lands in the measured round-trip delay, which the agent's filter
  // and bound account for; only its asymmetry between the two directions
  // becomes offset error, and it is bounded by delay/2. The UDP exchange
  // (udp_service.hpp) takes them in the kernel instead.
  const MasterTimeline::Reading t1 = timeline_.read();

  if (req.client_id().size() > kMaxClientIdBytes) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "client_id is longer than 256 bytes"};
  }
  const Identity who = current(identity_, timeline_);
  resp->set_client_send_ns(req.client_send_ns());
  resp->set_sequence(req.sequence());
  resp->set_master_id(who.id);
  resp->set_master_instance(who.instance);
  resp->set_timebase(who.realtime ? v1::TIMEBASE_REALTIME : v1::TIMEBASE_MONOTONIC);
  resp->set_role(who.role);
  if (udp_ != nullptr) {
    resp->set_udp_port(udp_->port());
    resp->set_udp_authenticated(udp_->authenticated());
  }
  served_.fetch_add(1, std::memory_order_relaxed);

  const MasterTimeline::Reading t2 = timeline_.read();
  if (t1.unavailable || t2.unavailable) {
    // A standby with nothing to serve (not locked yet, or its error is over
    // its limit): the agent asks another master.
    return {grpc::StatusCode::UNAVAILABLE, t1.unavailable ? t1.why : t2.why};
  }
  if (t1.epoch != t2.epoch || t1.ambiguous || t2.ambiguous) {
    // t1 and t2 belong to different timelines; the pair would be garbage.
    return {grpc::StatusCode::UNAVAILABLE, "the master's timeline stepped; retry"};
  }
  resp->set_master_receive_ns(t1.ns);
  resp->set_master_send_ns(t2.ns);
  resp->set_master_epoch(t2.epoch);
  // A standby's own error at t1 and t2 (its bound against the followed
  // timeline) on top of the declared one.
  resp->set_master_error_ns(who.master_error_ns + std::max(t1.error_ns, t2.error_ns));
  if (v1::Utc u; who.reference != nullptr && who.reference->fill(timeline_, who.realtime, &u)) {
    *resp->mutable_utc() = u;
  }
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* TimeServiceImpl::GetStatus(grpc::CallbackServerContext* ctx,
                                                     const v1::GetStatusRequest* /*req*/,
                                                     v1::GetStatusResponse* resp) {
  const int64_t entered = host_raw_now_ns();
  const MasterTimeline::Reading now = timeline_.read();
  const Identity who = current(identity_, timeline_);
  resp->set_master_id(who.id);
  resp->set_master_instance(who.instance);
  resp->set_master_epoch(now.epoch);
  resp->set_timebase(who.realtime ? v1::TIMEBASE_REALTIME : v1::TIMEBASE_MONOTONIC);
  resp->set_master_error_ns(who.master_error_ns + now.error_ns);
  resp->set_now_ns(now.ns);
  resp->set_role(who.role);
  resp->set_serving(!now.unavailable);
  resp->set_unavailable(now.why);
  if (who.reference != nullptr) resp->set_reference(who.reference->describe());
  if (v1::Utc u; who.reference != nullptr && who.reference->fill(timeline_, who.realtime, &u)) {
    *resp->mutable_utc() = u;
  }
  if (const TimelineFollower* f = timeline_.follower(); f != nullptr) {
    resp->set_following(f->describe());
  }
  resp->set_requests_served(served());
  resp->set_uptime_ns(host_raw_now_ns() - started_raw_ns_);
  if (metrics_ == nullptr) {
    grpc::ServerUnaryReactor* r = ctx->DefaultReactor();
    r->Finish(grpc::Status::OK);
    return r;
  }
  metrics_->request(MasterMetrics::Method::kGetStatus, grpc::StatusCode::OK,
                    host_raw_now_ns() - entered);
  return finish(MasterMetrics::Method::kGetStatus, entered, grpc::Status::OK);
}

grpc::ServerUnaryReactor* TimeServiceImpl::GetUdpSession(grpc::CallbackServerContext* ctx,
                                                         const v1::GetUdpSessionRequest* req,
                                                         v1::GetUdpSessionResponse* resp) {
  const int64_t entered = host_raw_now_ns();
  const grpc::Status status = udp_session(*req, resp);
  if (metrics_ == nullptr) {
    grpc::ServerUnaryReactor* r = ctx->DefaultReactor();
    r->Finish(status);
    return r;
  }
  metrics_->request(MasterMetrics::Method::kGetUdpSession, status.error_code(),
                    host_raw_now_ns() - entered);
  return finish(MasterMetrics::Method::kGetUdpSession, entered, status);
}

grpc::Status TimeServiceImpl::udp_session(const v1::GetUdpSessionRequest& req,
                                          v1::GetUdpSessionResponse* resp) {
  if (req.client_id().size() > kMaxClientIdBytes) {
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
