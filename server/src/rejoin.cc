#include "rejoin.hpp"

#include <grpcpp/grpcpp.h>
#include <time.h>

#include <chrono>
#include <cinttypes>
#include <utility>

#include "timesync/daemon/log.hpp"
#include "timesync/daemon/tls.hpp"
#include "timesync/v1/timesync.grpc.pb.h"

namespace timesync::master {

std::string find_standby_to_rejoin(const std::vector<std::string>& via, const std::string& id,
                                   const config::ClientTls& tls, double wait_s, std::string* why) {
  std::shared_ptr<grpc::ChannelCredentials> creds = daemon::channel_credentials(tls, why);
  if (creds == nullptr) {
    *why = "rejoin TLS: " + *why;
    return "";
  }
  grpc::ChannelArguments args;
  daemon::add_tls_channel_args(tls, &args);
  std::vector<std::unique_ptr<v1::TimeService::Stub>> stubs;
  for (const std::string& t : via) {
    stubs.push_back(v1::TimeService::NewStub(grpc::CreateCustomChannel(t, creds, args)));
  }
  const int64_t end = host_raw_now_ns() + static_cast<int64_t>(wait_s * 1e9);
  std::vector<std::string> answers(via.size(), "no answer");
  for (;;) {
    for (size_t i = 0; i < via.size(); ++i) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
      v1::GetTimeRequest req;
      req.set_client_id(id + " (re-joining)");
      v1::GetTimeResponse resp;
      const grpc::Status st = stubs[i]->GetTime(&ctx, req, &resp);
      if (!st.ok()) {
        answers[i] = st.error_message().empty() ? "no answer" : st.error_message();
      } else if (resp.role() != "standby") {
        answers[i] = "it serves as " + resp.role() + ", not as a standby";
      } else if (resp.master_id() != id) {
        answers[i] = "it serves '" + resp.master_id() + "', not '" + id + "'";
      } else {
        return via[i];
      }
    }
    if (host_raw_now_ns() >= end) break;
    const timespec pause{0, 200'000'000};  // a round of questions every 0.2 s
    nanosleep(&pause, nullptr);
  }
  why->clear();
  for (size_t i = 0; i < via.size(); ++i) {
    *why += (i > 0 ? "; " : "") + via[i] + ": " + answers[i];
  }
  return "";
}

Rejoiner::Rejoiner(std::unique_ptr<Standby> standby, const MasterTimeline& own,
                   std::string own_id, bool own_realtime, double give_up_s)
    : standby_(std::move(standby)),
      own_(own),
      own_id_(std::move(own_id)),
      own_realtime_(own_realtime),
      give_up_ns_(static_cast<int64_t>(give_up_s * 1e9)),
      started_ns_(host_raw_now_ns()),
      last_ok_ns_(started_ns_) {}

TimelineFollower::At Rejoiner::at(int64_t host_raw_ns) const {
  if (!gave_up_.load(std::memory_order_acquire)) {
    At a = standby_->at(host_raw_ns);
    const int64_t now = host_raw_now_ns();
    if (a.ok) {
      last_ok_ns_.store(now, std::memory_order_relaxed);
      return a;
    }
    if (now - last_ok_ns_.load(std::memory_order_relaxed) < give_up_ns_) return a;
    if (!gave_up_.exchange(true, std::memory_order_acq_rel)) {
      TS_LOG_WARN("re-joining ended (%s): serving this master's own timeline, epoch %016" PRIx64
                  "; every agent steps onto it",
                  a.why.c_str(), own_.epoch());
    }
  }
  const MasterTimeline::Reading r = own_.at_host_raw(host_raw_ns);
  At a;
  a.epoch = r.epoch;
  if (r.ambiguous) {
    a.why = "the master's timeline stepped; retry";
    return a;
  }
  a.ok = true;
  a.ns = r.ns;
  return a;
}

TimelineFollower::Followed Rejoiner::followed() const {
  if (!gave_up_.load(std::memory_order_acquire)) return standby_->followed();
  Followed f;
  f.id = own_id_;
  f.epoch = own_.epoch();
  f.realtime = own_realtime_;
  f.role = "primary";
  return f;
}

std::string Rejoiner::describe() const {
  if (gave_up_.load(std::memory_order_acquire)) return "re-joining ended: serving its own timeline";
  return standby_->describe();
}

}  // namespace timesync::master
