// Agent: the measurement loop of timesync-agent, and nothing else.
//
// Each round: an exchange burst through the MasterLink (gRPC, UDP or both,
// behind master_link.hpp), the Estimator (filter, servo, hard bound), the
// SyncPolicy (status, alarm, poll interval: sync_policy.hpp), one snapshot
// (estimator/publication.hpp) handed to the Publisher, then a sleep on the
// local TimeSource until the next poll. Everything happens on the thread that
// calls run() (or round()); other threads only read status() and the alarm
// hub. The agent reads no clock but its TimeSource, so a test runs it whole
// in simulated time (a SimulatedOscillator over a VirtualHostClock, a
// SimLink, a recording Publisher).
//
// Local clock: the agent's TimeSource, CLOCK_MONOTONIC_RAW in production or a
// simulated oscillator; readers evaluate the published transform at the
// host's CLOCK_MONOTONIC_RAW (publication.hpp maps between them).
//
// Beacon mode (beacon.enabled and a BeaconStream attached): the loop also
// wakes for every beacon and turns it into a one-way sample through the
// BeaconCombiner (estimator/beacon.hpp), whose delay d_hat is calibrated by
// each accepted two-way exchange. Two-way exchanges come every poll.min_s
// until the estimator is locked and d_hat calibrated, then every
// beacon.calibrate_every_s. A beacon counts as an answer from the master
// (unreachable alarm); a timeline change seen on a beacon resets as one seen
// on an exchange does.
//
// Thread safety: run()/round() on one thread; status() from any.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "agent_metrics.hpp"
#include "agent_state.hpp"
#include "alarm_hub.hpp"
#include "beacon_stream.hpp"
#include "master_link.hpp"
#include "publisher.hpp"
#include "sync_policy.hpp"
#include "timesync/config/config.hpp"
#include "timesync/daemon/notify.hpp"
#include "timesync/estimator/beacon.hpp"
#include "timesync/estimator/estimator.hpp"
#include "timesync/timebase/time_source.hpp"

namespace timesync::agent {

class Agent {
 public:
  // `link`, `local`, `out` and `alarms` must outlive the agent; `metrics` and
  // `notifier` may be null.
  Agent(const config::ClientConfig& cfg, std::string agent_id, const TimeSource& local,
        Publisher& out, AlarmHub& alarms, MasterLink& link, AgentMetrics* metrics = nullptr,
        daemon::ServiceNotifier* notifier = nullptr);

  // Beacon mode's stream; null (the default) polls only.
  void set_beacons(BeaconStream* stream) { beacons_ = stream; }
  // Runs until `stop` is signalled.
  void run(const Waker& stop);
  // One polling round now; returns the local time the next poll is due.
  int64_t round();
  AgentStatusInfo status() const;
  // Called after each round with what readers get now (for health).
  void set_on_state(std::function<void(ClockStatus)> f) { on_state_ = std::move(f); }
  const estimator::Estimator& estimator() const { return est_; }
  // The master as its last answer said (UTC included); from the agent's loop
  // only (a Publisher's publish() is called there).
  const MasterInfo& master() const { return master_; }

 private:
  // poll.burst exchanges back to back; the one with the smallest delay. A
  // failure ends the burst (a dead master would otherwise cost one timeout each).
  LinkResult exchange_burst();
  // An answered exchange through the estimator; false when it was rejected.
  bool on_answer(const LinkExchange& ex);
  // A change of the master's timeline resets the estimator (and the beacon
  // calibration); a restart on the same timeline is only logged.
  void note_master(const MasterInfo& m, double delay_us);
  void note_epoch(int64_t offset_ns);
  // Snapshot, policy, publication, status: the end of every round.
  void publish_round(RoundFacts::Exchange exchange, bool accepted);
  void run_polling(const Waker& stop);
  void run_beacon(const Waker& stop);
  void on_beacon_event(const BeaconStream::Event& ev);
  // Sleeps until the local deadline, a queued beacon (fd readable) or stop,
  // waking for the systemd watchdog on the way.
  void wait_for_event(int64_t deadline_local, int fd, const Waker& stop);
  // Sleeps until next_poll, waking for the systemd watchdog on the way.
  void sleep_until_poll(int64_t next_poll, const Waker& stop);
  std::string sync_mode() const;
  std::string followed_master() const;
  TransformSnapshot build(int64_t now_local, ClockStatus status) const;
  void fill_status(AgentStatusInfo* st, const TransformSnapshot& snap, uint64_t bound_now,
                   int64_t now_local) const;

  config::ClientConfig cfg_;
  std::string id_;
  const TimeSource& local_;
  Publisher& out_;
  AlarmHub& alarms_;
  MasterLink& link_;
  AgentMetrics* metrics_;
  daemon::ServiceNotifier* notifier_;
  BeaconStream* beacons_ = nullptr;
  estimator::Estimator est_;
  estimator::BeaconCombiner comb_;
  SyncPolicy policy_;
  std::function<void(ClockStatus)> on_state_;

  const uint64_t max_error_ns_;
  const int64_t start_local_;
  int64_t next_poll_;
  int64_t last_answer_local_;   // start time until the first answer
  std::string last_error_;
  uint64_t link_errors_[8] = {};
  int64_t last_offset_ns_ = 0;  // of the last accepted sample
  uint64_t est_epoch_seen_ = 0;
  uint64_t published_epoch_;
  double time_to_sync_s_ = -1;
  MasterInfo master_;           // as last seen; a change of timeline resets
  bool master_known_ = false;
  std::string last_transport_;
  int last_path_ = 0;
  StampSource timestamps_ = StampSource::kUser;
  // Beacon mode.
  bool stream_up_ = false;
  double stream_rate_hz_ = 0;
  std::string stream_error_;
  uint64_t beacons_received_ = 0;
  uint64_t beacon_samples_ = 0;
  uint64_t beacons_rejected_ = 0;
  uint64_t two_way_samples_ = 0;
  uint64_t streams_opened_ = 0;
  uint64_t last_beacon_seq_ = 0;
  int queued_run_ = 0;           // consecutive beacons judged queued
  int two_way_since_reset_ = 0;  // accepted exchanges since the last timeline reset

  mutable std::mutex status_mu_;
  AgentStatusInfo status_;
};

estimator::EstimatorParams estimator_params(const config::ClientConfig& c);
PolicyConfig policy_config(const config::ClientConfig& c);

}  // namespace timesync::agent
