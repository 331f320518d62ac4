#include "grpc_link.hpp"

#include <chrono>
#include <cmath>

namespace timesync::agent {

const char* to_string(StampSource s) {
  switch (s) {
    case StampSource::kUser: return "user space";
    case StampSource::kKernel: return "kernel software";
    case StampSource::kHardware: return "hardware";
  }
  return "?";
}

const char* to_string(MasterTimebase t) {
  switch (t) {
    case MasterTimebase::kMonotonic: return "monotonic";
    case MasterTimebase::kRealtime: return "realtime";
    case MasterTimebase::kUnknown: return "unknown";
  }
  return "?";
}

const char* to_string(LinkError e) {
  switch (e) {
    case LinkError::kNone: return "none";
    case LinkError::kUnreachable: return "unreachable";
    case LinkError::kTimeout: return "timeout";
    case LinkError::kRefused: return "refused";
    case LinkError::kNotAMaster: return "not_a_master";
    case LinkError::kBadAnswer: return "bad_answer";
    case LinkError::kUnauthenticated: return "unauthenticated";
    case LinkError::kStepped: return "stepped";
  }
  return "?";
}

std::shared_ptr<grpc::Channel> make_master_channel(const std::string& target,
                                                   std::shared_ptr<grpc::ChannelCredentials> creds,
                                                   const grpc::ChannelArguments& base) {
  grpc::ChannelArguments args = base;
  // A master that comes back should be found within about a second, not after
  // gRPC's default backoff of up to two minutes.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // A retried exchange would carry a stale t0; a lost sample is better.
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  return grpc::CreateCustomChannel(target, std::move(creds), args);
}

GrpcLink::GrpcLink(GrpcLinkOptions o, std::shared_ptr<grpc::Channel> channel,
                   const TimeSource& local)
    : o_(std::move(o)),
      channel_(std::move(channel)),
      stub_(v1::TimeService::NewStub(channel_)),
      local_(local) {}

std::string GrpcLink::describe() const {
  return "gRPC " + o_.target + " (" + o_.tls_description + "), user-space timestamps";
}

namespace {

std::string status_text(const grpc::Status& st) {
  return st.error_message() + " (code " + std::to_string(static_cast<int>(st.error_code())) + ")";
}

MasterTimebase timebase_of(v1::Timebase t) {
  switch (t) {
    case v1::TIMEBASE_MONOTONIC: return MasterTimebase::kMonotonic;
    case v1::TIMEBASE_REALTIME: return MasterTimebase::kRealtime;
    default: return MasterTimebase::kUnknown;
  }
}

}  // namespace

LinkResult GrpcLink::exchange() {
  LinkResult r;
  v1::GetTimeRequest req;
  req.set_sequence(++sequence_);
  req.set_client_id(o_.client_id);
  const auto deadline = std::chrono::system_clock::now() +
                        std::chrono::microseconds(std::llround(o_.rpc_timeout_s * 1e6));
  // Connect first: a t0 taken before the TCP and HTTP/2 handshakes would put
  // them into the delay of the first sample after every (re)connection.
  if (channel_->GetState(true) != GRPC_CHANNEL_READY && !channel_->WaitForConnected(deadline)) {
    // The channel does not say why; a fail-fast call does (connection refused,
    // TLS handshake failed: certificate verify failed, ...). Its answer, if one
    // came, would carry the handshake in its delay, so it is not used.
    grpc::ClientContext why;
    why.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(50));
    v1::GetTimeResponse ignored;
    const grpc::Status st = stub_->GetTime(&why, req, &ignored);
    r.error = LinkError::kUnreachable;
    r.message = "cannot connect to " + o_.target + (st.ok() ? std::string() : ": " + st.error_message());
    return r;
  }
  grpc::ClientContext ctx;
  ctx.set_deadline(deadline);
  v1::GetTimeResponse resp;
  // t0 as late and t3 as early as the API allows: the stub call is all that
  // lies between them.
  r.ex.x.t0 = LocalTime{local_.now_ns()};
  req.set_client_send_ns(r.ex.x.t0.ns);
  const grpc::Status st = stub_->GetTime(&ctx, req, &resp);
  r.ex.x.t3 = LocalTime{local_.now_ns()};
  if (!st.ok()) {
    switch (st.error_code()) {
      case grpc::StatusCode::UNIMPLEMENTED:
        // Something answers gRPC there, but not TimeService: another agent's
        // local service, or the agent itself.
        r.error = LinkError::kNotAMaster;
        r.message = o_.target + " does not serve timesync.v1.TimeService: is it an agent, not a "
                    "master? (GetTime: " + status_text(st) + ")";
        break;
      case grpc::StatusCode::DEADLINE_EXCEEDED:
        r.error = LinkError::kTimeout;
        r.message = "GetTime: no answer within " + std::to_string(o_.rpc_timeout_s) + " s";
        break;
      case grpc::StatusCode::UNAVAILABLE:
        r.error = LinkError::kUnreachable;
        r.message = "GetTime: " + status_text(st);
        break;
      case grpc::StatusCode::UNAUTHENTICATED:
      case grpc::StatusCode::PERMISSION_DENIED:
        r.error = LinkError::kUnauthenticated;
        r.message = "GetTime: " + status_text(st);
        break;
      default:
        r.error = LinkError::kRefused;
        r.message = "GetTime: " + status_text(st);
    }
    return r;
  }
  if (resp.sequence() != req.sequence() || resp.client_send_ns() != r.ex.x.t0.ns) {
    r.error = LinkError::kBadAnswer;
    r.message = "GetTime: the answer does not echo our sequence and t0";
    return r;
  }
  if (resp.timebase() == v1::TIMEBASE_UNSPECIFIED) {
    r.error = LinkError::kBadAnswer;
    r.message = "GetTime: the master did not say which timebase it serves";
    return r;
  }
  r.ex.x.t1_ns = resp.master_receive_ns();
  r.ex.x.t2_ns = resp.master_send_ns();
  r.ex.x.master_error_ns = resp.master_error_ns();
  r.ex.local_stamps = StampSource::kUser;
  r.ex.master_stamps = StampSource::kUser;
  MasterInfo& m = r.ex.master;
  m.id = resp.master_id();
  m.instance = resp.master_instance();
  m.epoch = resp.master_epoch();
  m.timebase = timebase_of(resp.timebase());
  m.error_ns = resp.master_error_ns();
  m.udp_port = resp.udp_port() <= 65535 ? static_cast<uint16_t>(resp.udp_port()) : 0;
  m.udp_authenticated = resp.udp_authenticated();
  m.role = resp.role();
  if (resp.has_utc()) {
    const v1::Utc& u = resp.utc();
    m.utc = MasterUtc{u.offset_ns(), u.error_ns(), u.synchronized(), u.tai_minus_utc_s(), u.next_leap_utc_s(),
                      u.next_tai_minus_utc_s(), u.leap_list_expired(), resp.master_send_ns(),
                      u.offset_rate_ppb(), u.offset_rate_error_ppb()};
  }
  return r;
}

bool GrpcLink::session(UdpSession* out, std::string* why) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::microseconds(std::llround(std::max(o_.rpc_timeout_s, 1.0) * 1e6)));
  v1::GetUdpSessionRequest req;
  req.set_client_id(o_.client_id);
  v1::GetUdpSessionResponse resp;
  const grpc::Status st = stub_->GetUdpSession(&ctx, req, &resp);
  if (!st.ok()) {
    *why = "GetUdpSession: " + status_text(st);
    return false;
  }
  if (resp.key().size() != 32 || resp.cookies().empty() || resp.udp_port() == 0 ||
      resp.udp_port() > 65535 || !(resp.lifetime_s() > 0)) {
    *why = "GetUdpSession: the answer has no usable key, cookie, port or lifetime";
    return false;
  }
  out->key = resp.key();
  out->cookies.assign(resp.cookies().begin(), resp.cookies().end());
  out->lifetime_s = resp.lifetime_s();
  out->udp_port = resp.udp_port();
  return true;
}

}  // namespace timesync::agent
