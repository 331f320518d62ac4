// Standby: a master that serves another master's timeline, so that the shared
// timeline survives the loss of the master SoM (seed 001: "if one SoM ...
// needs to reboot, the others continue operating").
//
// Inside runs the agent's own code (Agent, links, estimator, policy: client/)
// following the master it stands by, publishing into a recorder instead of a
// segment. At host raw instant h the standby serves:
//   time  = the recorded transform at h (the followed timeline)
//   error = its bound at h, which already holds the followed master's error
//   name and epoch = the followed master's, so agents combine the two
//   masters' samples as one timeline and switch between them without a step.
// When the followed master is gone the transform holds over: the error grows
// (frequency envelope, then the assumed wander) and the standby keeps serving
// until it passes max_error; above it, or before the first lock, it serves
// nothing and says why (a standby whose primary never existed serves nothing).
//
// Loops are refused: a standby follows only a master that says it is a
// primary. The one exception is a re-joining primary (rejoin_via), which
// follows a standby; it says "standby" itself, so the standby it follows
// never follows it back (the two errors would feed each other).
//
// Thread safety: start()/stop() from the owner; at(), followed() and
// describe() from any thread.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "master_timeline.hpp"
#include "timesync/config/config.hpp"
#include "timesync/timebase/time_source.hpp"

namespace timesync::agent {
class Agent;
class AlarmHub;
class LinkStack;
}  // namespace timesync::agent

namespace timesync::master {

struct StandbySettings {
  std::string target;                // host:port of the followed master's gRPC service
  // The embedded agent's configuration (poll, filter, servo, bound, TLS,
  // transport); its alarm.max_error_us is the largest error served, its
  // sim_clock (with sim_origin_ns) the standby's simulated crystal in tests
  // and the test bed.
  config::ClientConfig agent;
  int64_t sim_origin_ns = 0;
  bool follow_standby = false;       // re-joining: the followed master is a standby
};

class Standby final : public TimelineFollower {
 public:
  Standby(StandbySettings s, std::string self_id);
  ~Standby() override;

  // Starts following on a thread of its own; false with *why (TLS files).
  bool start(std::string* why);
  void stop();

  At at(int64_t host_raw_ns) const override;
  Followed followed() const override;
  std::string describe() const override;
  // Whether it has ever served (locked once).
  bool has_served() const;

 private:
  class Recorder;
  class RoleCheck;

  StandbySettings s_;
  std::string self_id_;
  std::unique_ptr<TimeSource> local_;
  std::unique_ptr<Recorder> recorder_;
  std::unique_ptr<agent::AlarmHub> alarms_;
  std::unique_ptr<agent::LinkStack> links_;
  std::unique_ptr<RoleCheck> role_check_;
  std::unique_ptr<agent::Agent> agent_;
  std::unique_ptr<Waker> stop_;
  std::thread thread_;
};

}  // namespace timesync::master
