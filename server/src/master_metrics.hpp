// The master's Prometheus metrics: requests by method and status code, their
// handler latency, timeline steps, uptime and identity; beacon streams opened
// (as requests of method StreamTime, no latency), beacons sent and streams open.
// Latency, inside out:
//   timesync_master_request_duration_seconds{method}  the handler alone
//   timesync_master_call_duration_seconds{method}     from the handler's start
//                                        (gRPC has just read and parsed the
//                                        request) until gRPC is done with the
//                                        call: answer and status written, its
//                                        completion dispatched by gRPC's threads
//   timesync_master_self_check_seconds   a grpc.health Check the master asks
//                                        itself every 200 ms over gRPC's
//                                        in-process transport: what a client
//                                        would wait for beyond the network
// Time a request spends in the kernel before any gRPC thread reads it is
// only seen by clients: agents export timesync_agent_round_trip_seconds.
// Beacons and UDP:
//   timesync_master_beacons_sent_total   beacons handed to gRPC for writing
//   timesync_master_beacons_skipped_total ticks a stream skipped (its previous
//                                        beacon was still being written)
//   timesync_master_beacon_streams       streams open now
//   timesync_master_udp_requests_total{result}  UDP requests: "answered", or the
//                                        reason one was dropped (malformed, bad_tag,
//                                        cookie_expired, no_rx_stamp, stepped, ...)
//
// Thread safety: request(), completed(), self_check(), stream_opened(),
// beacons() from any thread; update() from the main loop.
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
  enum class Method { kGetTime, kGetStatus, kGetUdpSession };

  MasterMetrics(prometheus::Registry& registry, const std::string& master_id,
                const std::string& timebase);

  void request(Method method, grpc::StatusCode code, int64_t duration_ns);
  // A call gRPC is done with, `ns` after its handler started.
  void completed(Method method, int64_t ns);
  // One of the server's checks of itself (GrpcServer::on_self_check).
  void self_check(int64_t ns, bool ok);
  void update(double uptime_s, uint64_t timeline_steps);
  // A StreamTime call answered with `code` (OK: the stream was opened).
  void stream_opened(grpc::StatusCode code);
  void beacons(uint64_t sent, uint64_t skipped, size_t open_streams);
  // The UDP service: an exchange answered, or a request dropped and why.
  void udp_served();
  void udp_dropped(const std::string& why);

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& duration_family_;
  static constexpr size_t kMethodCount = 3;
  prometheus::Family<prometheus::Histogram>& call_family_;
  prometheus::Histogram* duration_[kMethodCount];
  prometheus::Histogram* call_[kMethodCount];
  prometheus::Counter* ok_[kMethodCount];  // the common case, without a label lookup
  prometheus::Histogram& self_check_;
  prometheus::Counter& self_check_failures_;
  prometheus::Counter& steps_;
  prometheus::Gauge& uptime_;
  prometheus::Counter& beacons_sent_;
  prometheus::Counter& beacons_skipped_;
  prometheus::Gauge& beacon_streams_;
  prometheus::Counter* stream_ok_;
  prometheus::Family<prometheus::Counter>& udp_;
  prometheus::Counter* udp_answered_;
  uint64_t steps_seen_ = 0;
};

}  // namespace timesync::master
