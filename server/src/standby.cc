#include "standby.hpp"

#include <algorithm>
#include <cmath>

#include <cinttypes>
#include <cstdio>
#include <utility>

#include "agent.hpp"
#include "alarm_hub.hpp"
#include "link_stack.hpp"
#include "publisher.hpp"
#include "timesync/daemon/log.hpp"
#include "timesync/daemon/runtime.hpp"
#include "timesync/daemon/tls.hpp"
#include "timesync/transform.hpp"

namespace timesync::master {

// Checks each answer's role (a standby follows only a primary; a re-joining
// primary only a standby) and remembers whose timeline the last accepted
// answer was on. Agent thread only.
class Standby::RoleCheck final : public agent::MasterLink {
 public:
  RoleCheck(agent::MasterLink& inner, bool follow_standby)
      : inner_(inner), want_(follow_standby ? "standby" : "primary") {}

  agent::LinkResult exchange() override {
    agent::LinkResult r = inner_.exchange();
    if (!r.ok()) return r;
    // A master from before roles (none in its answers) cannot be a standby.
    const std::string role = r.ex.master.role.empty() ? "primary" : r.ex.master.role;
    if (role != want_) {
      agent::LinkResult refused;
      refused.error = agent::LinkError::kRefused;
      refused.message = "it serves as " + role +
                        ", and this master follows only a " + want_ +
                        (want_ == "primary" ? " (following a standby would close a loop)" : "");
      return refused;
    }
    if (!r.ex.master.id.empty()) last_ = r.ex.master;
    return r;
  }
  const char* transport() const override { return inner_.transport(); }
  std::string describe() const override { return inner_.describe(); }
  std::map<std::string, uint64_t> packet_drops() const override { return inner_.packet_drops(); }
  int path() const override { return inner_.path(); }

  const agent::MasterInfo& last() const { return last_; }

 private:
  agent::MasterLink& inner_;
  std::string want_;
  agent::MasterInfo last_;
};

// Keeps the agent's last publication, with whose timeline it is.
class Standby::Recorder final : public agent::Publisher {
 public:
  explicit Recorder(const RoleCheck& roles) : roles_(roles) {}

  void publish(const TransformSnapshot& s) override {
    const agent::MasterInfo& m = roles_.last();
    std::lock_guard<std::mutex> lock(mu_);
    snap_ = s;
    followed_.id = m.id;
    followed_.epoch = m.epoch;
    followed_.realtime = m.timebase == agent::MasterTimebase::kRealtime;
    followed_.role = "standby";
    have_ = true;
    if (s.status != ClockStatus::kUnsynchronized) served_ = true;
  }
  uint64_t previous_epoch() const override { return 0; }
  std::string where() const override { return "the standby's own timeline"; }

  bool get(TransformSnapshot* s, Followed* f) const {
    std::lock_guard<std::mutex> lock(mu_);
    if (!have_) return false;
    *s = snap_;
    *f = followed_;
    return true;
  }
  bool served() const {
    std::lock_guard<std::mutex> lock(mu_);
    return served_;
  }

 private:
  const RoleCheck& roles_;
  mutable std::mutex mu_;
  TransformSnapshot snap_;
  Followed followed_;
  bool have_ = false;
  bool served_ = false;
};

Standby::Standby(StandbySettings s, std::string self_id)
    : s_(std::move(s)), self_id_(std::move(self_id)) {
  s_.agent.master = s_.target;
  // A standby holds over for as long as its error allows, however long the
  // followed master has been silent: max_error alone ends its service.
  s_.agent.alarm.unreachable_after_s = 1e9;
  // Its recorded transform is read in-process, never from a stale segment of
  // a dead agent, so void_after is only the horizon the published bound must
  // stay honest to. The bound grows linearly and the agent adds the holdover
  // wander accumulated up to that horizon to its slope: with a horizon of
  // 1e6 s that slope was 1000 ppm (1 ms of error a second, the standby out of
  // service 10 s after its primary). Wander alone takes the error to
  // max_error after sqrt(max_error / wander) (3162 s for 10 ms at 1 ppb/s):
  // past that there is nothing to serve anyway, so that is the horizon, and
  // the slope is 3.2 ppm.
  const double wander = std::max(s_.agent.bound.holdover_wander_ppb_per_s, 1e-6);  // ns/s^2
  const double horizon_s = std::sqrt(s_.agent.alarm.max_error_us * 1e3 / wander);
  s_.agent.alarm.void_after_s = std::clamp(horizon_s, 10.0, 1e6);
  // After an outage of its primary the link falls back to gRPC (user-space
  // stamps, 100x the error of UDP); a standby tries UDP again sooner than
  // an agent's default 30 s, since its error is what every agent on it gets.
  s_.agent.udp.retry_s = std::min(s_.agent.udp.retry_s, 5.0);
}

Standby::~Standby() { stop(); }

bool Standby::start(std::string* why) {
  Result<Waker> waker = Waker::create();
  if (!waker.ok()) {
    *why = std::string("standby: ") + to_string(waker.error());
    return false;
  }
  stop_ = std::make_unique<Waker>(std::move(waker.value()));
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      daemon::channel_credentials(s_.agent.tls, why);
  if (credentials == nullptr) {
    *why = "standby TLS: " + *why;
    return false;
  }
  local_ = daemon::make_time_source(s_.agent.sim_clock, s_.sim_origin_ns);
  links_ = std::make_unique<agent::LinkStack>(s_.agent, s_.target, self_id_, credentials, *local_);
  role_check_ = std::make_unique<RoleCheck>(links_->link(), s_.follow_standby);
  recorder_ = std::make_unique<Recorder>(*role_check_);
  alarms_ = std::make_unique<agent::AlarmHub>();
  agent_ = std::make_unique<agent::Agent>(s_.agent, self_id_, *local_, *recorder_, *alarms_,
                                          *role_check_);
  thread_ = std::thread([this] { agent_->run(*stop_); });
  return true;
}

void Standby::stop() {
  if (!thread_.joinable()) return;
  stop_->signal();
  thread_.join();
  alarms_->close();
}

TimelineFollower::At Standby::at(int64_t host_raw_ns) const {
  At a;
  TransformSnapshot snap;
  Followed f;
  if (recorder_ == nullptr || !recorder_->get(&snap, &f) || f.id.empty()) {
    a.why = "standby of " + s_.target + ": no answer from it yet";
    if (agent_ != nullptr) {
      const std::string last = agent_->status().last_error;
      if (!last.empty()) a.why += " (" + last + ")";
    }
    return a;
  }
  a.epoch = f.epoch;
  const TimestampWithError r = evaluate(snap, LocalTime{host_raw_ns});
  if (!r.ok()) {
    a.why = "standby of " + s_.target + " ('" + f.id + "'): " + to_string(r.error);
    if (r.error == Error::kBoundExceeded) {
      char b[96];
      std::snprintf(b, sizeof b, " (error %.1f us, over the %.1f us it may serve)",
                    static_cast<double>(r.bound_ns) / 1e3,
                    static_cast<double>(snap.max_error_ns) / 1e3);
      a.why += b;
    }
    return a;
  }
  a.ok = true;
  a.ns = r.time.ns;
  a.error_ns = r.bound_ns;
  return a;
}

TimelineFollower::Followed Standby::followed() const {
  TransformSnapshot snap;
  Followed f;
  if (recorder_ == nullptr || !recorder_->get(&snap, &f)) return {};
  return f;
}

bool Standby::has_served() const { return recorder_ != nullptr && recorder_->served(); }

std::string Standby::describe() const {
  TransformSnapshot snap;
  Followed f;
  std::string d = (s_.follow_standby ? "re-joining via standby " : "standby of ") + s_.target;
  if (recorder_ == nullptr || !recorder_->get(&snap, &f) || f.id.empty()) {
    return d + ": waiting for its first answer";
  }
  const TimestampWithError r = evaluate(snap, LocalTime{host_raw_now_ns()});
  char b[160];
  std::snprintf(b, sizeof b, ": '%s' epoch %016" PRIx64 ", %s, error %.1f us", f.id.c_str(),
                f.epoch, r.ok() ? to_string(r.status) : to_string(r.error),
                static_cast<double>(r.bound_ns) / 1e3);
  return d + b;
}

}  // namespace timesync::master
