// The agent's Prometheus metrics: what `timesyncctl status` shows, as series
// (offset, frequency, bound, state, alarms), plus the round-trip distribution
// and counters of samples, failures and alarms.
//
// Names and meaning are the contract of deploy/prometheus/alerts.yml:
//   timesync_agent_offset_seconds        last accepted sample, master minus local
//   timesync_agent_frequency_ppm         master vs local frequency estimate
//   timesync_agent_error_bound_seconds   error bound published now (0: no estimate)
//   timesync_agent_max_error_seconds     alarm.max_error_us, the out-of-sync limit
//   timesync_agent_synchronized          1 while libtimesync serves timestamps
//   timesync_agent_state{state}          1 for the current state, 0 for the others
//   timesync_agent_samples_total{result} accepted / rejected by the filter
//   timesync_agent_rpc_failures_total    exchanges that got no answer
//   timesync_agent_round_trip_seconds    every answered exchange's delay
//   timesync_agent_alarm_active{reason}  1 while that alarm is raised (bound_exceeded,
//                                        master_unreachable, split_brain)
//   timesync_agent_alarms_raised_total{reason}
//   timesync_agent_last_answer_age_seconds, timesync_agent_poll_interval_seconds
//   timesync_agent_innovation_mean_seconds, timesync_agent_innovation_stddev_seconds,
//   timesync_agent_innovation_normalized_stddev  (servo self-check, see servo.hpp)
//   timesync_agent_frequency_envelope_ppm{edge="lo"|"hi"}  the hard frequency
//                                        envelope the bound grows from (0 before lock)
//   timesync_agent_frequency_changes_total  thermal steps and ramps detected
//   timesync_agent_transport{link,timestamps}  1 for the transport in use ("grpc"
//                                        or "udp") and where its timestamps come from
//   timesync_agent_master{target}         each configured master: 2 followed, 1 answering, 0 silent
//   timesync_agent_exchange_failures_total{reason}  exchanges that gave no sample, by
//                                        why (unreachable, timeout, unauthenticated, ...)
//   timesync_agent_info{agent_id,master,servo}
//
// Thread safety: called from the agent's loop only; scrapes read concurrently
// through prometheus-cpp's own synchronisation.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <map>
#include <string>

#include "agent_state.hpp"

namespace timesync::agent {

class AgentMetrics {
 public:
  AgentMetrics(prometheus::Registry& registry, const std::string& agent_id,
               const std::string& master, const std::string& servo, double max_error_s);

  void round_trip(int64_t delay_ns);
  void alarm_raised(AlarmReason reason);
  // Gauges from the status; counters advance by what the status adds.
  void update(const AgentStatusInfo& st);

 private:
  prometheus::Gauge& offset_;
  prometheus::Gauge& freq_;
  prometheus::Gauge& bound_;
  prometheus::Gauge& synchronized_;
  prometheus::Gauge* state_[3];  // unsynchronized, synchronized, holdover
  prometheus::Counter* samples_[2];  // accepted, rejected
  prometheus::Counter& rpc_failures_;
  prometheus::Histogram& round_trip_;
  static constexpr int kReasons = 3;  // bound_exceeded, master_unreachable, split_brain
  prometheus::Gauge* alarm_active_[kReasons];
  prometheus::Counter* alarms_raised_[kReasons];
  prometheus::Gauge& answer_age_;
  prometheus::Gauge& poll_;
  prometheus::Gauge& innov_mean_;
  prometheus::Gauge& innov_std_;
  prometheus::Gauge& innov_normalized_;
  prometheus::Gauge* envelope_[2];  // lo, hi
  prometheus::Counter& freq_changes_;
  prometheus::Family<prometheus::Gauge>& transport_;
  prometheus::Gauge* transport_now_ = nullptr;
  std::string transport_labels_;
  std::string master_;  // the first (or only) configured master
  prometheus::Family<prometheus::Gauge>& masters_;
  prometheus::Family<prometheus::Counter>& link_failures_;
  uint64_t link_errors_seen_[8] = {};
  uint64_t accepted_seen_ = 0, rejected_seen_ = 0, failures_seen_ = 0, changes_seen_ = 0;
};

}  // namespace timesync::agent
