#include "failover_link.hpp"

#include <cinttypes>
#include <cmath>

#include "timesync/daemon/log.hpp"

namespace timesync::agent {

namespace {
bool same_timeline(const MasterInfo& a, const MasterInfo& b) {
  return a.id == b.id && a.epoch == b.epoch && a.timebase == b.timebase;
}
}  // namespace

FailoverLink::FailoverLink(std::vector<Member> members, const TimeSource& local, FailoverOptions o)
    : members_(std::move(members)), state_(members_.size()), local_(local), o_(o) {}

const char* FailoverLink::transport() const { return members_[followed_].link->transport(); }

int FailoverLink::path() const {
  return static_cast<int>(followed_) * 8 + members_[followed_].link->path();
}

std::string FailoverLink::describe() const {
  return members_[followed_].target + " (" + std::to_string(followed_ + 1) + " of " +
         std::to_string(members_.size()) + "): " + members_[followed_].link->describe();
}

std::map<std::string, uint64_t> FailoverLink::packet_drops() const {
  std::map<std::string, uint64_t> all;
  for (const Member& m : members_) {
    for (const auto& [why, n] : m.link->packet_drops()) all[why] += n;
  }
  return all;
}

bool FailoverLink::on_timeline(size_t i) const {
  return state_[i].known && (!have_timeline_ || same_timeline(state_[i].info, timeline_));
}

void FailoverLink::record(size_t i, const LinkResult& r, int64_t now) {
  State& s = state_[i];
  if (r.ok()) {
    if (r.ex.master.id.empty() && s.known) {
      // A transport that does not carry the name keeps the last one heard.
      const std::string id = s.info.id;
      s.info = r.ex.master;
      s.info.id = id;
    } else {
      s.info = r.ex.master;
    }
    s.known = true;
    s.answering = true;
    s.failures = 0;
    s.last_answer_local = now;
    s.last_error.clear();
    if (on_timeline(i)) {
      if (s.healthy_since_local < 0) s.healthy_since_local = now;
    } else {
      s.healthy_since_local = -1;
    }
  } else {
    s.answering = false;
    ++s.failures;
    s.last_error = r.message;
    s.healthy_since_local = -1;
  }
}

void FailoverLink::check_split_brain() {
  std::string msg;
  if (have_timeline_) {
    for (size_t i = 0; i < members_.size(); ++i) {
      const State& s = state_[i];
      if (!s.answering || !s.known || same_timeline(s.info, timeline_)) continue;
      char text[512];
      std::snprintf(text, sizeof text,
                    "split brain: %s serves timeline '%s' epoch %016" PRIx64 ", but %s serves '%s' "
                    "epoch %016" PRIx64 ": following the latter, never combining the two",
                    members_[i].target.c_str(), s.info.id.c_str(), s.info.epoch,
                    members_[followed_].target.c_str(), timeline_.id.c_str(), timeline_.epoch);
      msg = text;
      break;
    }
  }
  if (msg != split_brain_) {
    if (!msg.empty()) {
      TS_LOG_WARN("%s", msg.c_str());
    } else {
      TS_LOG_INFO("split brain over: every answering master serves the followed timeline");
    }
  }
  split_brain_ = msg;
}

void FailoverLink::follow(size_t i, const char* why) {
  if (i == followed_) return;
  TS_LOG_WARN("following master %s instead of %s: %s", members_[i].target.c_str(),
              members_[followed_].target.c_str(), why);
  followed_ = i;
  ++switches_;
}

LinkResult FailoverLink::exchange() {
  const int64_t now = local_.now_ns();
  const auto probe_ns = static_cast<int64_t>(std::llround(o_.probe_every_s * 1e9));
  // The others, at a low rate: their health and timeline, for switching.
  for (size_t i = 0; i < members_.size(); ++i) {
    if (i == followed_ || now < state_[i].next_probe_local) continue;
    record(i, members_[i].link->exchange(), local_.now_ns());
    state_[i].next_probe_local = now + probe_ns;
  }
  LinkResult r = members_[followed_].link->exchange();
  record(followed_, r, local_.now_ns());
  if (r.ok()) {
    if (!have_timeline_) {
      timeline_ = state_[followed_].info;
      have_timeline_ = true;
    } else if (!same_timeline(state_[followed_].info, timeline_)) {
      // The followed master itself moved to another timeline (rebooted, or
      // stepped): the agent re-locks; that is now the timeline.
      timeline_ = state_[followed_].info;
      for (State& s : state_) s.healthy_since_local = -1;
    }
    // Failback, after the hold-down.
    for (size_t i = 0; i < followed_; ++i) {
      const State& s = state_[i];
      if (s.answering && on_timeline(i) && s.healthy_since_local >= 0 &&
          static_cast<double>(now - s.healthy_since_local) / 1e9 >= o_.hold_down_s) {
        follow(i, "it is preferred and has answered on this timeline through the hold-down");
        break;
      }
    }
    check_split_brain();
    return r;
  }
  // No timeline yet: the first master that answers, in order.
  if (!have_timeline_) {
    for (size_t i = 0; i < members_.size(); ++i) {
      if (i == followed_) continue;
      LinkResult c = members_[i].link->exchange();
      record(i, c, local_.now_ns());
      state_[i].next_probe_local = now + probe_ns;
      if (c.ok()) {
        follow(i, "it answers and the preferred one does not");
        timeline_ = state_[i].info;
        have_timeline_ = true;
        check_split_brain();
        return c;
      }
    }
    check_split_brain();
    return r;
  }
  if (state_[followed_].failures < o_.failures_to_switch) {
    check_split_brain();
    return r;
  }
  // Switch: the most preferred other master on this timeline that answers
  // now (asked again, so this round still gets a sample).
  for (size_t i = 0; i < members_.size(); ++i) {
    if (i == followed_ || !state_[i].known || !same_timeline(state_[i].info, timeline_)) continue;
    LinkResult c = members_[i].link->exchange();
    record(i, c, local_.now_ns());
    state_[i].next_probe_local = now + probe_ns;
    if (c.ok() && on_timeline(i)) {
      char why[256];
      std::snprintf(why, sizeof why, "%d exchanges in a row failed (%s)", state_[followed_].failures,
                    state_[followed_].last_error.c_str());
      follow(i, why);
      check_split_brain();
      if (c.ex.master.id.empty()) c.ex.master.id = state_[i].info.id;
      return c;
    }
  }
  check_split_brain();
  return r;
}

std::vector<MasterView> FailoverLink::masters() const {
  std::vector<MasterView> out;
  for (size_t i = 0; i < members_.size(); ++i) {
    MasterView v;
    v.target = members_[i].target;
    v.followed = i == followed_;
    v.answering = state_[i].answering;
    v.last_answer_local = state_[i].last_answer_local;
    v.last_error = state_[i].last_error;
    v.info = state_[i].info;
    v.same_timeline = state_[i].known && have_timeline_ && same_timeline(state_[i].info, timeline_);
    v.transport = members_[i].link->transport();
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace timesync::agent
