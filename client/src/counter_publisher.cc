#include "counter_publisher.hpp"

#include <cinttypes>

#include "counter_host.hpp"
#include "timesync/daemon/log.hpp"

namespace timesync::agent {

void CounterPublisher::publish(const TransformSnapshot& s) {
  const CounterCalibrator::Verdict v = cal_.add(take_counter_pair());
  TransformSnapshot out = s;
  if (s.status != ClockStatus::kUnsynchronized) out.counter = cal_.map_for(out);
  const bool mapped = out.counter.valid();
  if (v != CounterCalibrator::Verdict::kFirst && v != CounterCalibrator::Verdict::kAgrees) {
    TS_LOG_WARN("counter map restarted: %s; readers call clock_gettime until two pairs agree",
                cal_.why().c_str());
  } else if (mapped && !mapped_) {
    TS_LOG_INFO("counter map: %.6f GHz, error %" PRIu64
                " ns: readers read the counter instead of calling clock_gettime",
                1.0 / cal_.ns_per_count(), out.counter.error_ns);
  }
  mapped_ = mapped;
  inner_.publish(out);
}

}  // namespace timesync::agent
