// Agent: the measurement loop of timesync-agent.
//
// Each round: one GetTime exchange over a persistent channel, the estimator
// (filter + servo + bound), the out-of-sync decision, one publication into the
// shared segment, then a sleep until the next poll. Everything happens on the
// thread that calls run(); other threads only read status() and the alarm hub.
//
// Local clock: the agent's TimeSource, CLOCK_MONOTONIC_RAW in production or a
// simulated oscillator. Readers evaluate the published transform at the host's
// CLOCK_MONOTONIC_RAW, so with a simulated clock each publication maps the
// estimator's line onto host raw using the oscillator's rate at that instant
// (exact for a constant frequency; a frequency change between two publications
// reaches readers at the next one).
//
// Status published (and the reader's verdict):
//   unsynchronized - no locked estimate whose bound stays below
//                    alarm.max_error_us until the next poll, or the
//                    out-of-sync alarm is raised: timestamps are refused;
//   holdover       - the last exchange failed; the bound keeps growing;
//   synchronized   - otherwise.
// The alarm is raised when the master has not answered for
// alarm.unreachable_after_s, or when the bound exceeds alarm.max_error_us once
// the estimate has supported it (or could not for alarm.unreachable_after_s
// after locking); it clears once the master answers and the bound is below
// alarm.clear_ratio x max_error (hysteresis).
//
// Beacon mode (beacon.enabled): a BeaconStream keeps a StreamTime stream open;
// the loop wakes for every beacon and turns it into a one-way sample through
// the BeaconCombiner (estimator/beacon.hpp), whose delay d_hat is calibrated by
// each accepted two-way exchange. Two-way exchanges (poll.burst, fed to the
// estimator as before: the hard anchors) come every poll.min_s until the
// estimator is locked and d_hat calibrated, then every beacon.calibrate_every_s.
// While no stream is open the agent polls exactly as in polling mode. A beacon
// counts as an answer from the master (unreachable alarm); a timeline change
// seen on a beacon resets as one seen on an exchange does.
//
// Thread safety: run() on one thread; status() from any.
#pragma once

#include <grpcpp/security/credentials.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "agent_metrics.hpp"
#include "alarm_hub.hpp"
#include "timesync/config/config.hpp"
#include "timesync/daemon/notify.hpp"
#include "beacon_stream.hpp"
#include "timesync/estimator/beacon.hpp"
#include "timesync/estimator/estimator.hpp"
#include "timesync/timebase/time_source.hpp"
#include "timesync/v1/timesync.grpc.pb.h"
#include "timesync/writer.hpp"

namespace timesync::agent {

class Agent {
 public:
  // `credentials` reach the master (daemon::channel_credentials); `metrics`
  // and `notifier` may be null.
  Agent(const config::ClientConfig& cfg, std::string agent_id, const TimeSource& local,
        SegmentWriter& writer, AlarmHub& alarms,
        std::shared_ptr<grpc::ChannelCredentials> credentials, AgentMetrics* metrics = nullptr,
        daemon::ServiceNotifier* notifier = nullptr);

  // Runs until `stop` is signalled.
  void run(const Waker& stop);
  v1::AgentStatus status() const;
  // Called after each round with whether readers get times now (for health).
  void set_on_state(std::function<void(v1::SyncState)> f) { on_state_ = std::move(f); }

 private:
  struct Answer {
    bool ok = false;
    estimator::Exchange x;
    v1::GetTimeResponse resp;
    std::string error;
    int64_t delay_ns() const { return (x.t3.ns - x.t0.ns) - (x.t2_ns - x.t1_ns); }
  };
  Answer exchange();
  // poll.burst exchanges back to back; the one with the smallest delay. A
  // failure ends the burst (a dead master would otherwise cost one timeout each).
  Answer exchange_burst();
  // Failure bookkeeping, then on_answer() for a good one.
  void handle_exchange(const Answer& a);
  void on_answer(const Answer& a);
  // A change of the master's timeline resets the estimator (and the beacon
  // calibration); a restart on the same timeline is only logged.
  void note_master(const std::string& id, uint64_t epoch, v1::Timebase timebase,
                   uint64_t instance, double delay_us);
  void note_epoch(int64_t offset_ns);
  // build, alarm, publish, poll adaptation, status: the end of every round.
  void publish_round();
  void run_polling(const Waker& stop);
  void run_beacon(const Waker& stop);
  void on_stream_event(const BeaconStream::Event& ev);
  // Sleeps until the local deadline, a queued beacon (fd readable) or stop,
  // waking for the systemd watchdog on the way.
  void wait_for_event(int64_t deadline_local, int fd, const Waker& stop);
  std::string sync_mode() const;
  void update_alarm(int64_t now_local, uint64_t bound_now);
  void raise(v1::AlarmReason reason, const std::string& msg, uint64_t bound_now);
  void clear(uint64_t bound_now);
  // An alarm event carrying the current reason, values and times.
  v1::AlarmEvent event(v1::AlarmEvent::Kind kind, const std::string& msg,
                       uint64_t bound_now) const;
  TransformSnapshot build(int64_t now_local) const;
  void adapt_poll(uint64_t bound_now);
  void publish_status(const TransformSnapshot& snap, uint64_t bound_now, int64_t now_local);
  // Sleeps until next_poll, waking for the systemd watchdog on the way.
  void sleep_until_poll(int64_t next_poll, const Waker& stop);
  double since_answer_s(int64_t now_local) const;
  // The estimate is locked and its bound stays below max_error until the
  // next poll: what "synchronized" requires.
  bool supported(int64_t now_local) const;

  config::ClientConfig cfg_;
  std::string id_;
  const TimeSource& local_;
  SegmentWriter& writer_;
  AlarmHub& alarms_;
  AgentMetrics* metrics_;
  daemon::ServiceNotifier* notifier_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::TimeService::Stub> stub_;
  estimator::Estimator est_;
  estimator::BeaconCombiner comb_;
  std::function<void(v1::SyncState)> on_state_;

  const int64_t max_error_ns_;
  const int64_t start_local_;
  uint64_t sequence_ = 0;
  int64_t last_answer_local_;   // start time until the first answer
  int consecutive_failures_ = 0;
  uint64_t rpc_failures_ = 0;
  std::string last_error_;
  double poll_s_;
  int good_at_poll_ = 0;
  int64_t last_offset_ns_ = 0;  // of the last accepted sample
  uint64_t est_epoch_seen_ = 0;
  uint64_t published_epoch_;
  bool ever_locked_ = false;      // the bound alarm is armed (see publish_round)
  int64_t locked_since_local_ = -1;  // locked but not yet supported since then
  bool alarm_active_ = false;
  uint64_t alarms_raised_ = 0;
  std::string alarm_message_;
  v1::AlarmReason alarm_reason_ = v1::ALARM_REASON_UNSPECIFIED;
  double time_to_sync_s_ = -1;
  // The master's timeline as last seen: a change of any of these resets.
  std::string master_id_;
  uint64_t master_epoch_ = 0;
  v1::Timebase master_timebase_ = v1::TIMEBASE_UNSPECIFIED;
  uint64_t master_instance_ = 0;
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
  int queued_run_ = 0;  // consecutive beacons judged queued
  int two_way_since_reset_ = 0;  // accepted exchanges since the last timeline reset
  uint64_t freq_changes_seen_ = 0;

  mutable std::mutex status_mu_;
  v1::AgentStatus status_;
};

estimator::EstimatorParams estimator_params(const config::ClientConfig& c);

}  // namespace timesync::agent
