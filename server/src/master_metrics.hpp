// The master's Prometheus metrics: requests by method and status code, their
// handler latency, timeline steps, uptime and identity.
//
// Thread safety: request() from any gRPC thread; update() from the main loop.
#pragma once

#include <grpcpp/grpcpp.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <string>

namespace timesync::master {

class MasterMetrics {
 public:
  enum class Method { kGetTime, kGetStatus };

  MasterMetrics(prometheus::Registry& registry, const std::string& master_id,
                const std::string& timebase);

  void request(Method method, grpc::StatusCode code, int64_t duration_ns);
  void update(double uptime_s, uint64_t timeline_steps);

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& duration_family_;
  prometheus::Histogram* duration_[2];
  prometheus::Counter* ok_[2];  // the common case, without a label lookup
  prometheus::Counter& steps_;
  prometheus::Gauge& uptime_;
  uint64_t steps_seen_ = 0;
};

}  // namespace timesync::master
