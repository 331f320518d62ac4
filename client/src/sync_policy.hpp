// SyncPolicy: what the agent decides at the end of every round, as a pure
// state machine. It reads no clock and does no I/O: the loop hands it the
// round's facts (times on the agent's local clock, ns) and gets back what
// readers are told, an alarm transition if there is one, and how long to wait
// before the next poll.
//
// Status (what libtimesync readers get):
//   unsynchronized - the estimate does not support its bound below max_error
//                    until the next poll is due, or the out-of-sync alarm is
//                    raised: timestamps are refused;
//   holdover       - the last exchange failed; the bound keeps growing;
//   synchronized   - otherwise.
// Alarm: raised when the master has not answered for unreachable_after_s,
// when two masters answer on different timelines (split brain: the fleet no
// longer shares one, so no time is vouched for), or when the bound exceeds
// max_error once it is armed (the estimate supported max_error once, or a
// locked estimate could not for unreachable_after_s: max_error is out of this
// link's reach); cleared once the master answers, no split remains, the
// estimate is locked and the bound is below clear_ratio x max_error.
// Poll interval: poll_min_s while not locked, failing, alarmed or after a
// detected frequency change; halved while the bound two polls ahead would pass
// half of max_error; doubled (up to poll_max_s) after 4 accepted samples.
//
// Thread safety: none; the agent's loop owns it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "timesync/types.hpp"

namespace timesync::agent {

struct PolicyConfig {
  double poll_min_s = 0.125;
  double poll_max_s = 4;
  uint64_t max_error_ns = 1'000'000;
  double clear_ratio = 0.8;
  double unreachable_after_s = 5;
};

enum class AlarmReason : uint8_t { kNone, kBoundExceeded, kMasterUnreachable, kSplitBrain };
const char* to_string(AlarmReason r);  // "bound_exceeded", "master_unreachable", "split_brain", "none"

// What one round established.
struct RoundFacts {
  int64_t now_local = 0;
  enum class Exchange : uint8_t { kNone, kAnswered, kFailed } exchange = Exchange::kNone;
  bool accepted = false;          // the exchange's sample was accepted by the estimator
  int64_t last_answer_local = 0;  // when the master last spoke (exchange or beacon)
  bool locked = false;            // Estimator::locked()
  bool has_estimate = false;      // Estimate::valid
  uint64_t bound_now_ns = 0;      // the published bound, now
  double growth_ppb = 0;          // the published growth rate
  uint64_t freq_changes = 0;      // the estimator's count of detected changes
  std::string master;             // target, for messages
  std::string last_error;         // why the master is silent, for messages
  std::string split_brain;        // two masters on different timelines: what ("" none)
};

struct AlarmTransition {
  bool raised = false;  // else cleared
  AlarmReason reason = AlarmReason::kNone;
  std::string message;
  uint64_t bound_ns = 0;
};

struct Decision {
  ClockStatus status = ClockStatus::kUnsynchronized;
  std::optional<AlarmTransition> alarm;
  double poll_s = 0;
  bool frequency_changed = false;  // this round: the poll went back to poll_min_s for it
};

class SyncPolicy {
 public:
  explicit SyncPolicy(const PolicyConfig& c, int64_t start_local);

  // The end of a round. Call once per round, in time order.
  Decision round(const RoundFacts& f);

  // The status a snapshot built now would carry, for a bound looked at before
  // round() (the loop builds its snapshot first); round() may change it.
  ClockStatus status_for(const RoundFacts& f) const;

  double poll_s() const { return poll_s_; }
  bool alarm_active() const { return alarm_active_; }
  AlarmReason alarm_reason() const { return reason_; }
  const std::string& alarm_message() const { return message_; }
  uint64_t alarms_raised() const { return raised_; }
  int consecutive_failures() const { return failures_; }
  uint64_t failures() const { return total_failures_; }
  double since_answer_s(int64_t now_local, int64_t last_answer_local) const;

 private:
  bool supported(const RoundFacts& f) const;

  PolicyConfig c_;
  double poll_s_;
  int good_ = 0;
  int failures_ = 0;
  uint64_t total_failures_ = 0;
  bool armed_ = false;
  int64_t locked_since_ = -1;
  bool alarm_active_ = false;
  AlarmReason reason_ = AlarmReason::kNone;
  std::string message_;
  uint64_t raised_ = 0;
  uint64_t changes_seen_ = 0;
};

}  // namespace timesync::agent
