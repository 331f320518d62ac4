#include "counter_publisher.hpp"

#include <cinttypes>
#include <cstdio>

#include "counter_host.hpp"
#include "timesync/daemon/log.hpp"

namespace timesync::agent {

void CounterPublisher::publish(const TransformSnapshot& s) {
  if (given_up_.empty() && still_allowed_) {
    given_up_ = still_allowed_();
    if (!given_up_.empty()) {
      TS_LOG_WARN("counter map given up: %s; readers call clock_gettime from now on",
                  given_up_.c_str());
      std::lock_guard<std::mutex> lock(mu_);
      described_ = "clock_gettime: " + given_up_;
    }
  }
  if (!given_up_.empty()) {
    inner_.publish(s);
    return;
  }
  const CounterCalibrator::Verdict v = cal_.add(take_counter_pair());
  TransformSnapshot out = s;
  if (s.status != ClockStatus::kUnsynchronized) out.counter = cal_.map_for(out);
  const bool mapped = out.counter.valid();
  const bool restarted =
      v != CounterCalibrator::Verdict::kFirst && v != CounterCalibrator::Verdict::kAgrees;
  if (restarted && cal_.why() != last_restart_) {  // once per distinct reason in a row
    TS_LOG_WARN("counter map restarted: %s; readers call clock_gettime until a new line is "
                "confirmed",
                cal_.why().c_str());
  } else if (mapped && !mapped_) {
    TS_LOG_INFO("counter map: %.6f GHz, error %" PRIu64
                " ns: readers read the counter instead of calling clock_gettime",
                1.0 / cal_.ns_per_count(), out.counter.error_ns);
  }
  mapped_ = mapped;
  last_restart_ = restarted ? cal_.why() : "";
  std::string now;
  if (mapped) {
    char buf[128];
    std::snprintf(buf, sizeof buf, "CPU counter (%.6f GHz), map error %" PRIu64 " ns",
                  1.0 / cal_.ns_per_count(), out.counter.error_ns);
    now = buf;
  } else if (!cal_.why().empty()) {
    now = "clock_gettime: counter map restarted (" + cal_.why() + ")";
  } else if (s.status == ClockStatus::kUnsynchronized) {
    now = "clock_gettime while unsynchronized";
  } else {
    now = "clock_gettime: " + cal_.why_none();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    described_ = std::move(now);
  }
  inner_.publish(out);
}

std::string CounterPublisher::describe() const {
  std::lock_guard<std::mutex> lock(mu_);
  return described_;
}

}  // namespace timesync::agent
