#include "alarm_hub.hpp"

namespace timesync::agent {

uint64_t AlarmHub::publish(AlarmInfo e) {
  uint64_t s = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    s = ++seq_;
    e.sequence = s;
    events_.push_back(std::move(e));
    if (events_.size() > kKeep) events_.pop_front();
  }
  cv_.notify_all();
  return s;
}

std::optional<AlarmInfo> AlarmHub::active() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (events_.empty() || !events_.back().raised) return std::nullopt;
  return events_.back();
}

std::vector<AlarmInfo> AlarmHub::wait(uint64_t after, std::chrono::milliseconds wait) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, wait, [&] { return closed_ || seq_ > after; });
  std::vector<AlarmInfo> out;
  if (closed_) return out;
  for (const AlarmInfo& e : events_) {
    if (e.sequence > after) out.push_back(e);
  }
  return out;
}

uint64_t AlarmHub::last_sequence() const {
  std::lock_guard<std::mutex> lock(mu_);
  return seq_;
}

void AlarmHub::close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

bool AlarmHub::closed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_;
}

}  // namespace timesync::agent
