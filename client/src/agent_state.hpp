// The agent's status and alarm events as plain values. The loop fills them;
// the gRPC service (status_proto.hpp) turns them into protobuf only at the
// RPC edge, and metrics and the systemd status line read them as they are.
//
// Units in the names. Thread safety: plain values.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "master_link.hpp"
#include "sync_policy.hpp"
#include "timesync/types.hpp"

namespace timesync::agent {

struct AgentStatusInfo {
  std::string agent_id;
  std::string master_target;      // host:port from the config
  MasterInfo master;              // as the master reports itself
  ClockStatus state = ClockStatus::kUnsynchronized;
  bool alarm_active = false;
  AlarmReason alarm_reason = AlarmReason::kNone;
  std::string alarm_message;
  uint64_t alarms_raised = 0;
  uint64_t published_epoch = 0;
  uint64_t bound_ns = 0;          // now; 0 without an estimate
  uint64_t max_error_ns = 0;
  int64_t last_offset_ns = 0;     // last accepted sample, master minus local
  int64_t last_delay_ns = 0;
  double freq_ppm = 0;
  double freq_sigma_ppb = -1;
  double freq_envelope_lo_ppm = 0, freq_envelope_hi_ppm = 0;  // 0, 0 until locked
  uint64_t freq_changes = 0;
  uint64_t model_breaks = 0;
  double slew_ppm = 0;
  double poll_interval_s = 0;
  uint64_t samples_accepted = 0, samples_rejected = 0, rpc_failures = 0;
  double since_last_answer_s = 0;
  double time_to_sync_s = -1;
  std::string servo;
  int innovation_count = 0;
  double innovation_mean_ns = 0, innovation_std_ns = 0, innovation_normalized_std = -1;
  std::string local_clock;
  double local_rate_ppm = 0;
  std::string segment;
  std::string security;           // to the master: "plaintext", "TLS", "mutual TLS"
  std::string last_error;
  // The transport: which one carried the last exchange ("grpc", "udp"), how
  // it is described, and where its timestamps come from.
  std::string link;
  std::string link_description;
  StampSource timestamps = StampSource::kUser;
  // Beacon mode.
  std::string sync_mode;
  uint64_t beacons_received = 0, beacon_samples = 0, beacons_rejected = 0;
  uint64_t two_way_samples = 0, beacon_streams_opened = 0;
  int64_t beacon_delay_ns = -1;
  uint64_t beacon_delay_uncertainty_ns = 0;
  // Exchanges that gave no sample, by why (LinkError).
  uint64_t link_errors[8] = {};
  // UDP packets dropped before they could reach the estimator, by why
  // (bad_tag: forged or tampered; wrong_sequence: replayed or late; ...).
  std::map<std::string, uint64_t> packet_drops;
  // Every configured master (several: FailoverLink), and a split brain.
  std::vector<MasterView> masters;
  std::string split_brain;
};

struct AlarmInfo {
  uint64_t sequence = 0;          // set by the AlarmHub
  bool raised = false;            // else cleared
  AlarmReason reason = AlarmReason::kNone;
  std::string message;
  int64_t host_raw_ns = 0;        // when (the host's CLOCK_MONOTONIC_RAW)
  uint64_t bound_ns = 0;
  uint64_t max_error_ns = 0;
  double since_last_answer_s = 0;
};

}  // namespace timesync::agent
