#include "auto_link.hpp"

#include <cmath>

#include "timesync/daemon/log.hpp"

namespace timesync::agent {

AutoLink::AutoLink(MasterLink& grpc, DiscoveredLink& udp, const TimeSource& local,
                   AutoLinkOptions o)
    : grpc_(grpc), udp_(udp), local_(local), o_(o) {}

std::string AutoLink::describe() const {
  if (on_udp_) return udp_.describe();
  return grpc_.describe() + (o_.udp_only ? "; waiting for UDP: " : "; UDP not in use: ") + why_not_udp_;
}

void AutoLink::fall_back(const std::string& why) {
  on_udp_ = false;
  udp_failures_ = 0;
  ++fallbacks_;
  why_not_udp_ = why;
  retry_at_local_ = local_.now_ns() + static_cast<int64_t>(std::llround(o_.retry_s * 1e9));
  TS_LOG_WARN("UDP exchanges failed (%s): %s; retrying UDP in %.0f s", why.c_str(),
              o_.udp_only ? "no samples until then" : "falling back to gRPC", o_.retry_s);
}

LinkResult AutoLink::grpc_exchange() {
  LinkResult r = grpc_.exchange();
  last_ = "grpc";
  if (!r.ok()) return r;
  // Discovery rides on every gRPC answer.
  master_ = r.ex.master;
  info_at_local_ = local_.now_ns();
  const MasterInfo& m = r.ex.master;
  if (m.udp_port == 0) {
    why_not_udp_ = "the master offers no UDP service";
    if (udp_.attached()) udp_.detach();
  } else if (local_.now_ns() >= retry_at_local_) {
    std::string why;
    if (udp_.attach(m, &why)) {
      on_udp_ = true;
      udp_failures_ = 0;
      TS_LOG_INFO("the master offers UDP on port %u: exchanges move to %s", m.udp_port,
                  udp_.describe().c_str());
    } else {
      why_not_udp_ = why;
      retry_at_local_ = local_.now_ns() + static_cast<int64_t>(std::llround(o_.retry_s * 1e9));
      TS_LOG_WARN("cannot use the master's UDP service: %s; retrying in %.0f s", why.c_str(),
                  o_.retry_s);
    }
  }
  if (o_.udp_only) {
    LinkResult none;
    none.error = LinkError::kUnreachable;
    none.message = "transport udp: waiting for UDP (" + why_not_udp_ + ")";
    none.ex.master = r.ex.master;
    return none;
  }
  return r;
}

void AutoLink::refresh_info() {
  info_at_local_ = local_.now_ns();  // asked: not again before the next period, answer or not
  const LinkResult g = grpc_.exchange();
  // Another instance answering is the UDP path's to notice (it sets UDP up again).
  if (g.ok() && g.ex.master.instance == master_.instance) master_ = g.ex.master;
}

LinkResult AutoLink::exchange() {
  if (!on_udp_) return grpc_exchange();
  LinkResult r = udp_.exchange();
  last_ = "udp";
  if (r.ok()) {
    udp_failures_ = 0;
    if (r.ex.master.instance != master_.instance || r.ex.master.epoch != master_.epoch) {
      // Another master process answers (restarted, or another one took the
      // address): who it is and what it offers come from gRPC. Ask there, and
      // set UDP up again for it (new keys, maybe another port).
      TS_LOG_INFO("the master on UDP changed (instance %016llx, epoch %016llx): asking over gRPC",
                  static_cast<unsigned long long>(r.ex.master.instance),
                  static_cast<unsigned long long>(r.ex.master.epoch));
      on_udp_ = false;
      udp_.detach();
      retry_at_local_ = 0;
      return grpc_exchange();
    }
    // The name, the offer and UTC come from gRPC; the timeline from this answer.
    if (local_.now_ns() - info_at_local_ >= static_cast<int64_t>(std::llround(o_.info_refresh_s * 1e9))) {
      refresh_info();
    }
    r.ex.master.utc = master_.utc;
    r.ex.master.id = master_.id;
    r.ex.master.role = master_.role;
    r.ex.master.udp_port = master_.udp_port;
    r.ex.master.udp_authenticated = master_.udp_authenticated;
    return r;
  }
  const bool hard = r.error == LinkError::kUnauthenticated;
  if (++udp_failures_ < o_.failures_to_fall_back && !hard) return r;
  fall_back(std::string(to_string(r.error)) + ": " + r.message);
  // The round still gets a sample, over gRPC (unless UDP only).
  return grpc_exchange();
}

}  // namespace timesync::agent
