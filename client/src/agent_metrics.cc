#include "agent_metrics.hpp"

#include "timesync/daemon/metrics.hpp"

namespace timesync::agent {
namespace {

prometheus::Gauge& gauge(prometheus::Registry& r, const char* name, const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(r).Add({});
}

// Index of an alarm reason in the per-reason arrays; -1 for none.
int reason_index(AlarmReason r) {
  switch (r) {
    case AlarmReason::kBoundExceeded: return 0;
    case AlarmReason::kMasterUnreachable: return 1;
    case AlarmReason::kSplitBrain: return 2;
    default: return -1;
  }
}

void advance(prometheus::Counter& c, uint64_t now, uint64_t* seen) {
  if (now > *seen) c.Increment(static_cast<double>(now - *seen));
  *seen = now;
}

}  // namespace

AgentMetrics::AgentMetrics(prometheus::Registry& r, const std::string& agent_id,
                           const std::string& master, const std::string& servo,
                           double max_error_s)
    : offset_(gauge(r, "timesync_agent_offset_seconds",
                    "Offset of the last accepted sample: master minus local clock.")),
      freq_(gauge(r, "timesync_agent_frequency_ppm",
                  "Estimated frequency of the master relative to the local clock, ppm.")),
      bound_(gauge(r, "timesync_agent_error_bound_seconds",
                   "Error bound published to applications now (0 before the first estimate).")),
      synchronized_(gauge(r, "timesync_agent_synchronized",
                          "1 while applications get timestamps (synchronized or holdover).")),
      rpc_failures_(prometheus::BuildCounter()
                        .Name("timesync_agent_rpc_failures_total")
                        .Help("Timestamp exchanges with the master that got no answer.")
                        .Register(r)
                        .Add({})),
      round_trip_(prometheus::BuildHistogram()
                      .Name("timesync_agent_round_trip_seconds")
                      .Help("Round-trip delay of every answered exchange (t3-t0 minus the "
                            "master's residence t2-t1).")
                      .Register(r)
                      .Add({}, daemon::decade_buckets(1e-5, 1.0))),
      answer_age_(gauge(r, "timesync_agent_last_answer_age_seconds",
                        "Seconds since the master last answered.")),
      poll_(gauge(r, "timesync_agent_poll_interval_seconds",
                  "Current interval between polls of the master.")),
      innov_mean_(gauge(r, "timesync_agent_innovation_mean_seconds",
                        "Mean of the recent innovations: sample offset minus the servo's "
                        "prediction (near 0 when the servo is unbiased).")),
      innov_std_(gauge(r, "timesync_agent_innovation_stddev_seconds",
                       "Standard deviation of the recent innovations.")),
      innov_normalized_(gauge(r, "timesync_agent_innovation_normalized_stddev",
                              "Kalman servo: RMS of innovation / predicted sigma, near 1 when "
                              "its noise model fits the link; -1 for the PLL.")),
      freq_changes_(prometheus::BuildCounter()
                        .Name("timesync_agent_frequency_changes_total")
                        .Help("Frequency changes of the local crystal the estimator detected "
                              "(thermal steps and ramps); each restarts its frequency window.")
                        .Register(r)
                        .Add({})),
      transport_(prometheus::BuildGauge()
                     .Name("timesync_agent_transport")
                     .Help("1 for the transport that carried the last exchange (link: grpc or "
                           "udp) and where its timestamps come from.")
                     .Register(r)),
      masters_(prometheus::BuildGauge()
                   .Name("timesync_agent_master")
                   .Help("Each configured master (preference: its place in the master "
                         "list, 1 first): 2 followed, 1 answering, 0 silent.")
                   .Register(r)),
      link_failures_(prometheus::BuildCounter()
                         .Name("timesync_agent_exchange_failures_total")
                         .Help("Exchanges that gave no sample, by why: unreachable, timeout, "
                               "refused, not_a_master, bad_answer, unauthenticated, stepped.")
                         .Register(r)) {
  master_ = master;
  auto& envelope = prometheus::BuildGauge()
                       .Name("timesync_agent_frequency_envelope_ppm")
                       .Help("Edges of the hard frequency envelope, ppm: every frequency the "
                             "samples' intervals allow (0 before lock). The error bound grows "
                             "at the distance from the line's rate to the far edge.")
                       .Register(r);
  envelope_[0] = &envelope.Add({{"edge", "lo"}});
  envelope_[1] = &envelope.Add({{"edge", "hi"}});
  gauge(r, "timesync_agent_max_error_seconds",
        "alarm.max_error_us: a bound above it raises the out-of-sync alarm.")
      .Set(max_error_s);
  prometheus::BuildGauge()
      .Name("timesync_agent_info")
      .Help("Identity of this agent (value 1).")
      .Register(r)
      .Add({{"agent_id", agent_id}, {"master", master}, {"servo", servo}})
      .Set(1);
  auto& state = prometheus::BuildGauge()
                    .Name("timesync_agent_state")
                    .Help("1 for the agent's current state, 0 for the others.")
                    .Register(r);
  state_[0] = &state.Add({{"state", "unsynchronized"}});
  state_[1] = &state.Add({{"state", "synchronized"}});
  state_[2] = &state.Add({{"state", "holdover"}});
  state_[0]->Set(1);
  auto& samples = prometheus::BuildCounter()
                      .Name("timesync_agent_samples_total")
                      .Help("Samples from answered exchanges, by the filter's verdict.")
                      .Register(r);
  samples_[0] = &samples.Add({{"result", "accepted"}});
  samples_[1] = &samples.Add({{"result", "rejected"}});
  auto& active = prometheus::BuildGauge()
                     .Name("timesync_agent_alarm_active")
                     .Help("1 while the out-of-sync alarm is raised for this reason.")
                     .Register(r);
  auto& raised = prometheus::BuildCounter()
                     .Name("timesync_agent_alarms_raised_total")
                     .Help("Out-of-sync alarms raised, by reason.")
                     .Register(r);
  const char* reasons[kReasons] = {"bound_exceeded", "master_unreachable", "split_brain"};
  for (int i = 0; i < kReasons; ++i) {
    alarm_active_[i] = &active.Add({{"reason", reasons[i]}});
    alarms_raised_[i] = &raised.Add({{"reason", reasons[i]}});
  }
}

void AgentMetrics::round_trip(int64_t delay_ns) {
  round_trip_.Observe(static_cast<double>(delay_ns) / 1e9);
}

void AgentMetrics::alarm_raised(AlarmReason reason) {
  const int i = reason_index(reason);
  if (i >= 0) alarms_raised_[i]->Increment();
}

void AgentMetrics::update(const AgentStatusInfo& st) {
  offset_.Set(static_cast<double>(st.last_offset_ns) / 1e9);
  freq_.Set(st.freq_ppm);
  bound_.Set(static_cast<double>(st.bound_ns) / 1e9);
  const bool serving = st.state == ClockStatus::kSynchronized || st.state == ClockStatus::kHoldover;
  synchronized_.Set(serving ? 1 : 0);
  state_[0]->Set(st.state == ClockStatus::kUnsynchronized ? 1 : 0);
  state_[1]->Set(st.state == ClockStatus::kSynchronized ? 1 : 0);
  state_[2]->Set(st.state == ClockStatus::kHoldover ? 1 : 0);
  advance(*samples_[0], st.samples_accepted, &accepted_seen_);
  advance(*samples_[1], st.samples_rejected, &rejected_seen_);
  advance(rpc_failures_, st.rpc_failures, &failures_seen_);
  const int active = st.alarm_active ? reason_index(st.alarm_reason) : -1;
  for (int i = 0; i < kReasons; ++i) alarm_active_[i]->Set(i == active ? 1 : 0);
  // One master: it is always the one followed.
  if (st.masters.empty()) masters_.Add({{"target", master_}, {"preference", "1"}}).Set(2);
  for (size_t i = 0; i < st.masters.size(); ++i) {
    const MasterView& m = st.masters[i];
    prometheus::Gauge& g =
        masters_.Add({{"target", m.target}, {"preference", std::to_string(i + 1)}});
    g.Set(m.followed ? 2 : m.answering ? 1 : 0);
  }
  answer_age_.Set(st.since_last_answer_s);
  poll_.Set(st.poll_interval_s);
  innov_mean_.Set(st.innovation_mean_ns / 1e9);
  innov_std_.Set(st.innovation_std_ns / 1e9);
  innov_normalized_.Set(st.innovation_normalized_std);
  envelope_[0]->Set(st.freq_envelope_lo_ppm);
  envelope_[1]->Set(st.freq_envelope_hi_ppm);
  advance(freq_changes_, st.freq_changes, &changes_seen_);
  const std::string labels = st.link + "/" + to_string(st.timestamps);
  if (!st.link.empty() && labels != transport_labels_) {
    if (transport_now_ != nullptr) transport_now_->Set(0);
    transport_now_ = &transport_.Add({{"link", st.link}, {"timestamps", to_string(st.timestamps)}});
    transport_now_->Set(1);
    transport_labels_ = labels;
  }
  for (size_t i = 1; i < std::size(st.link_errors); ++i) {
    if (st.link_errors[i] == link_errors_seen_[i]) continue;
    advance(link_failures_.Add({{"reason", to_string(static_cast<LinkError>(i))}}), st.link_errors[i],
            &link_errors_seen_[i]);
  }
}

}  // namespace timesync::agent
