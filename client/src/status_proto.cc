#include "status_proto.hpp"

#include <time.h>

namespace timesync::agent {

namespace {

v1::SyncState state_of(ClockStatus s) {
  switch (s) {
    case ClockStatus::kSynchronized: return v1::SYNC_STATE_SYNCHRONIZED;
    case ClockStatus::kHoldover: return v1::SYNC_STATE_HOLDOVER;
    default: return v1::SYNC_STATE_UNSYNCHRONIZED;
  }
}

v1::AlarmReason reason_of(AlarmReason r) {
  switch (r) {
    case AlarmReason::kBoundExceeded: return v1::ALARM_REASON_BOUND_EXCEEDED;
    case AlarmReason::kMasterUnreachable: return v1::ALARM_REASON_MASTER_UNREACHABLE;
    case AlarmReason::kSplitBrain: return v1::ALARM_REASON_SPLIT_BRAIN;
    default: return v1::ALARM_REASON_UNSPECIFIED;
  }
}

v1::Timebase timebase_of(MasterTimebase t) {
  switch (t) {
    case MasterTimebase::kMonotonic: return v1::TIMEBASE_MONOTONIC;
    case MasterTimebase::kRealtime: return v1::TIMEBASE_REALTIME;
    default: return v1::TIMEBASE_UNSPECIFIED;
  }
}

int64_t read_ns(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

v1::AgentStatus to_proto(const AgentStatusInfo& s) {
  v1::AgentStatus st;
  st.set_agent_id(s.agent_id);
  st.set_master_target(s.master_target);
  st.set_master_id(s.master.id);
  st.set_master_instance(s.master.instance);
  st.set_master_epoch(s.master.epoch);
  st.set_timebase(timebase_of(s.master.timebase));
  st.set_state(state_of(s.state));
  st.set_alarm_active(s.alarm_active);
  st.set_alarm_reason(reason_of(s.alarm_reason));
  st.set_published_epoch(s.published_epoch);
  st.set_bound_ns(s.bound_ns);
  st.set_max_error_ns(s.max_error_ns);
  st.set_last_offset_ns(s.last_offset_ns);
  st.set_last_delay_ns(s.last_delay_ns);
  st.set_freq_ppm(s.freq_ppm);
  st.set_freq_sigma_ppb(s.freq_sigma_ppb);
  st.set_slew_ppm(s.slew_ppm);
  st.set_poll_interval_s(s.poll_interval_s);
  st.set_samples_accepted(s.samples_accepted);
  st.set_samples_rejected(s.samples_rejected);
  st.set_rpc_failures(s.rpc_failures);
  st.set_since_last_answer_s(s.since_last_answer_s);
  st.set_time_to_sync_s(s.time_to_sync_s);
  st.set_servo(s.servo);
  st.set_local_clock(s.local_clock);
  st.set_segment(s.segment);
  st.set_local_rate_ppm(s.local_rate_ppm);
  st.set_alarms_raised(s.alarms_raised);
  st.set_alarm_message(s.alarm_message);
  st.set_transport(s.security);
  st.set_last_error(s.last_error);
  st.set_innovation_count(static_cast<uint32_t>(s.innovation_count));
  st.set_innovation_mean_ns(s.innovation_mean_ns);
  st.set_innovation_std_ns(s.innovation_std_ns);
  st.set_innovation_normalized_std(s.innovation_normalized_std);
  st.set_sync_mode(s.sync_mode);
  st.set_beacons_received(s.beacons_received);
  st.set_beacon_delay_ns(s.beacon_delay_ns);
  st.set_beacon_delay_uncertainty_ns(s.beacon_delay_uncertainty_ns);
  st.set_beacon_samples(s.beacon_samples);
  st.set_beacons_rejected(s.beacons_rejected);
  st.set_two_way_samples(s.two_way_samples);
  st.set_beacon_streams_opened(s.beacon_streams_opened);
  st.set_freq_envelope_lo_ppm(s.freq_envelope_lo_ppm);
  st.set_freq_envelope_hi_ppm(s.freq_envelope_hi_ppm);
  st.set_freq_changes(s.freq_changes);
  st.set_model_breaks(s.model_breaks);
  st.set_link(s.link);
  st.set_link_description(s.link_description);
  st.set_timestamps(to_string(s.timestamps));
  for (size_t i = 1; i < std::size(s.link_errors); ++i) {
    if (s.link_errors[i] == 0) continue;
    (*st.mutable_link_errors())[to_string(static_cast<LinkError>(i))] = s.link_errors[i];
  }
  for (const auto& [why, n] : s.packet_drops) (*st.mutable_packets_dropped())[why] = n;
  for (const MasterView& m : s.masters) {
    v1::MasterEntry* e = st.add_masters();
    e->set_target(m.target);
    e->set_followed(m.followed);
    e->set_answering(m.answering);
    // fill_status stores the age of the last answer here, ns.
    e->set_since_last_answer_s(m.last_answer_local < 0 ? -1 : static_cast<double>(m.last_answer_local) / 1e9);
    e->set_last_error(m.last_error);
    e->set_master_id(m.info.id);
    e->set_master_epoch(m.info.epoch);
    e->set_master_instance(m.info.instance);
    e->set_master_error_ns(m.info.error_ns);
    e->set_role(m.info.role);
    e->set_same_timeline(m.same_timeline);
    e->set_transport(m.transport);
  }
  st.set_split_brain(s.split_brain);
  if (s.master.utc) {
    const MasterUtc& u = *s.master.utc;
    v1::Utc* o = st.mutable_master_utc();
    o->set_offset_ns(u.offset_ns);
    o->set_error_ns(u.error_ns);
    o->set_synchronized(u.synchronized);
    o->set_tai_minus_utc_s(u.tai_minus_utc_s);
    o->set_next_leap_utc_s(u.next_leap_utc_s);
    o->set_next_tai_minus_utc_s(u.next_tai_minus_utc_s);
    o->set_leap_list_expired(u.leap_list_expired);
    o->set_offset_rate_ppb(u.rate_ppb);
    o->set_offset_rate_error_ppb(u.rate_error_ppb);
  }
  return st;
}

v1::AlarmEvent to_proto(const AlarmInfo& a) {
  v1::AlarmEvent e;
  e.set_kind(a.raised ? v1::AlarmEvent::RAISED : v1::AlarmEvent::CLEARED);
  e.set_reason(reason_of(a.reason));
  e.set_message(a.message);
  e.set_sequence(a.sequence);
  // CLOCK_REALTIME of the event: now minus how long ago it was on host raw.
  const int64_t raw = read_ns(CLOCK_MONOTONIC_RAW);
  const int64_t real = read_ns(CLOCK_REALTIME);
  e.set_unix_time_ns(real - (raw - a.host_raw_ns));
  e.set_bound_ns(a.bound_ns);
  e.set_max_error_ns(a.max_error_ns);
  e.set_since_last_answer_s(a.since_last_answer_s);
  return e;
}

}  // namespace timesync::agent
