// FailoverLink: several masters, in order of preference, serving one
// timeline. The agent follows one of them; the others are probed at a low
// rate, so that when the followed one stops answering the agent moves to the
// best other one on the same timeline at once, without a step: a standby
// master serves its primary's timeline (same name, same epoch) with its own
// error as master_error_ns, so its samples join the same estimate.
//
// Rules:
//   - Start: follow the first master (in the configured order) that answers.
//   - Switch: after `failures_to_switch` failed exchanges in a row with the
//     followed master, follow the most preferred other master whose last probe
//     answered on the same timeline; its fresh exchange is this round's sample.
//     A master on another timeline is never switched to (its samples would be
//     another time): the agent holds over instead.
//   - Failback: a more preferred master that has answered on the same timeline
//     for `hold_down_s` is followed again (no flapping on a master that comes
//     and goes).
//   - Split brain: two masters answering at the same time on different
//     timelines (after a partition, or two unrelated masters configured as
//     one set) is reported (split_brain()), never averaged: the agent keeps
//     the timeline it follows.
//
// Thread safety: one caller (the agent's loop).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "master_link.hpp"
#include "timesync/timebase/time_source.hpp"

namespace timesync::agent {

struct FailoverOptions {
  double probe_every_s = 4;    // the masters not followed are asked this often
  int failures_to_switch = 2;  // failed exchanges in a row with the followed one
  double hold_down_s = 30;     // a returning preferred master answers this long before failback
};

class FailoverLink final : public MasterLink {
 public:
  struct Member {
    std::string target;
    MasterLink* link;
  };
  FailoverLink(std::vector<Member> members, const TimeSource& local, FailoverOptions o);

  LinkResult exchange() override;
  const char* transport() const override;
  std::string describe() const override;
  std::map<std::string, uint64_t> packet_drops() const override;
  int path() const override;

  std::vector<MasterView> masters() const override;
  std::string split_brain() const override { return split_brain_; }
  size_t followed() const { return followed_; }
  uint64_t switches() const { return switches_; }

 private:
  struct State {
    bool answering = false;
    int failures = 0;
    int64_t last_answer_local = -1;
    int64_t healthy_since_local = -1;  // answering on our timeline continuously since
    int64_t next_probe_local = 0;
    std::string last_error;
    MasterInfo info;
    bool known = false;
  };
  void record(size_t i, const LinkResult& r, int64_t now);
  bool on_timeline(size_t i) const;
  void check_split_brain();
  void follow(size_t i, const char* why);

  std::vector<Member> members_;
  std::vector<State> state_;
  const TimeSource& local_;
  FailoverOptions o_;
  size_t followed_ = 0;
  bool have_timeline_ = false;
  MasterInfo timeline_;  // id, epoch, timebase of what we follow
  std::string split_brain_;
  uint64_t switches_ = 0;
};

}  // namespace timesync::agent
