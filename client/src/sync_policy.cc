#include "sync_policy.hpp"

#include <algorithm>
#include <cstdio>

namespace timesync::agent {

namespace {
constexpr int kGoodSamplesPerPollStep = 4;
}

const char* to_string(AlarmReason r) {
  switch (r) {
    case AlarmReason::kBoundExceeded: return "bound_exceeded";
    case AlarmReason::kMasterUnreachable: return "master_unreachable";
    case AlarmReason::kSplitBrain: return "split_brain";
    case AlarmReason::kNone: return "none";
  }
  return "?";
}

SyncPolicy::SyncPolicy(const PolicyConfig& c, int64_t /*start_local*/) : c_(c), poll_s_(c.poll_min_s) {}

double SyncPolicy::since_answer_s(int64_t now_local, int64_t last_answer_local) const {
  return static_cast<double>(now_local - last_answer_local) / 1e9;
}

bool SyncPolicy::supported(const RoundFacts& f) const {
  // The bound must stay under max_error until the next poll is due: right
  // after the first lock the envelope is wide and the bound grows fast.
  if (!f.locked || !f.has_estimate) return false;
  const double ahead = static_cast<double>(f.bound_now_ns) + f.growth_ppb * poll_s_;
  return ahead <= static_cast<double>(c_.max_error_ns);
}

ClockStatus SyncPolicy::status_for(const RoundFacts& f) const {
  if (!supported(f) || alarm_active_) return ClockStatus::kUnsynchronized;
  return failures_ > 0 ? ClockStatus::kHoldover : ClockStatus::kSynchronized;
}

Decision SyncPolicy::round(const RoundFacts& f) {
  Decision d;
  if (f.exchange == RoundFacts::Exchange::kAnswered) failures_ = 0;
  if (f.exchange == RoundFacts::Exchange::kFailed) {
    ++failures_;
    ++total_failures_;
  }

  // Arm the bound alarm once the estimate supported max_error, or once a
  // locked estimate failed to for unreachable_after_s (say so rather than
  // wait silently).
  if (supported(f)) {
    armed_ = true;
  } else if (f.locked && locked_since_ < 0) {
    locked_since_ = f.now_local;
  }
  if (!f.locked) locked_since_ = -1;
  if (locked_since_ >= 0 &&
      static_cast<double>(f.now_local - locked_since_) / 1e9 >= c_.unreachable_after_s) {
    armed_ = true;
  }

  // The alarm.
  const double silent_s = since_answer_s(f.now_local, f.last_answer_local);
  const bool unreachable = silent_s >= c_.unreachable_after_s;
  const uint64_t bound = f.has_estimate ? f.bound_now_ns : 0;
  char msg[512];
  if (!alarm_active_) {
    if (unreachable) {
      std::snprintf(msg, sizeof msg, "master %s unreachable for %.1f s (last error: %s)",
                    f.master.c_str(), silent_s, f.last_error.c_str());
      d.alarm = AlarmTransition{true, AlarmReason::kMasterUnreachable, msg, bound};
    } else if (!f.split_brain.empty()) {
      d.alarm = AlarmTransition{true, AlarmReason::kSplitBrain, f.split_brain, bound};
    } else if (armed_ && f.has_estimate && bound > c_.max_error_ns) {
      std::snprintf(msg, sizeof msg, "error bound %.3f us exceeds max_error %.3f us",
                    static_cast<double>(bound) / 1e3, static_cast<double>(c_.max_error_ns) / 1e3);
      d.alarm = AlarmTransition{true, AlarmReason::kBoundExceeded, msg, bound};
    }
    if (d.alarm) {
      alarm_active_ = true;
      reason_ = d.alarm->reason;
      message_ = d.alarm->message;
      ++raised_;
    }
  } else {
    const double clear_below = c_.clear_ratio * static_cast<double>(c_.max_error_ns);
    if (!unreachable && failures_ == 0 && f.split_brain.empty() && f.locked &&
        static_cast<double>(bound) < clear_below) {
      std::snprintf(msg, sizeof msg, "back in sync: bound %.3f us below %.3f us x %.2f",
                    static_cast<double>(bound) / 1e3, static_cast<double>(c_.max_error_ns) / 1e3,
                    c_.clear_ratio);
      d.alarm = AlarmTransition{false, reason_, msg, bound};  // keeps the reason it clears
      alarm_active_ = false;
      reason_ = AlarmReason::kNone;
      message_.clear();
    }
  }

  d.status = status_for(f);

  // The poll interval, for the next round.
  d.frequency_changed = f.freq_changes != changes_seen_;
  changes_seen_ = f.freq_changes;
  if (f.accepted) ++good_;
  if (!f.locked || alarm_active_ || failures_ > 0 || d.frequency_changed) {
    poll_s_ = c_.poll_min_s;
    good_ = 0;
  } else if (static_cast<double>(bound) + f.growth_ppb * 2 * poll_s_ >
             0.5 * static_cast<double>(c_.max_error_ns)) {
    // The bound two polls ahead, if nothing new arrives, would pass half the limit.
    poll_s_ = std::max(c_.poll_min_s, poll_s_ / 2);
    good_ = 0;
  } else if (good_ >= kGoodSamplesPerPollStep) {
    poll_s_ = std::min(c_.poll_max_s, poll_s_ * 2);
    good_ = 0;
  }
  d.poll_s = poll_s_;
  return d;
}

}  // namespace timesync::agent
