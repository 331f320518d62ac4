// AlarmHub: the agent's out-of-sync alarm as a stream of events.
//
// The measurement loop publish()es each transition (RAISED or CLEARED); any
// number of WatchAlarms streams wait() for events after the last one they sent.
// The hub keeps the most recent kKeep events, so a slow watcher that falls
// further behind than that skips to the oldest one kept.
//
// Thread safety: all methods may be called concurrently.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <vector>

#include "agent_state.hpp"

namespace timesync::agent {

class AlarmHub {
 public:
  static constexpr size_t kKeep = 256;

  // Assigns the event's sequence number (1, 2, ...) and wakes the watchers.
  // Events are plain values; the gRPC service converts them as it sends.
  uint64_t publish(AlarmInfo e);
  // The RAISED event of the alarm that is active now, if any.
  std::optional<AlarmInfo> active() const;
  // Events with sequence > after, waiting up to `wait` for the first one. Empty
  // on timeout or after close().
  std::vector<AlarmInfo> wait(uint64_t after, std::chrono::milliseconds wait);
  uint64_t last_sequence() const;
  // Ends every wait (the agent is stopping).
  void close();
  bool closed() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<AlarmInfo> events_;
  uint64_t seq_ = 0;
  bool closed_ = false;
};

}  // namespace timesync::agent
