#include "master_metrics.hpp"

#include <array>

#include "timesync/daemon/metrics.hpp"

namespace timesync::master {
namespace {

constexpr std::array<const char*, 3> kMethods{"GetTime", "GetStatus", "GetUdpSession"};

std::string code_name(grpc::StatusCode c) {
  switch (c) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    default: return "CODE_" + std::to_string(static_cast<int>(c));
  }
}

}  // namespace

MasterMetrics::MasterMetrics(prometheus::Registry& registry, const std::string& master_id,
                             const std::string& timebase)
    : requests_(prometheus::BuildCounter()
                    .Name("timesync_master_requests_total")
                    .Help("Timestamp-service RPCs answered, by method and gRPC status code.")
                    .Register(registry)),
      duration_family_(prometheus::BuildHistogram()
                           .Name("timesync_master_request_duration_seconds")
                           .Help("Time in the RPC handler, from the request's arrival in it to "
                                 "the answer being ready (excludes the network and gRPC).")
                           .Register(registry)),
      call_family_(prometheus::BuildHistogram()
                       .Name("timesync_master_call_duration_seconds")
                       .Help("Time from a call's handler starting (gRPC has just read and parsed "
                             "the request) until gRPC is done with it: answer and status "
                             "written, completion dispatched by gRPC's threads.")
                       .Register(registry)),
      self_check_(prometheus::BuildHistogram()
                      .Name("timesync_master_self_check_seconds")
                      .Help("grpc.health Check round trips the master makes to itself every "
                            "200 ms over gRPC's in-process transport (no network, no kernel).")
                      .Register(registry)
                      .Add({}, daemon::decade_buckets(1e-5, 1.0))),
      self_check_failures_(prometheus::BuildCounter()
                               .Name("timesync_master_self_check_failures_total")
                               .Help("Self checks that failed or took over a second.")
                               .Register(registry)
                               .Add({})),
      steps_(prometheus::BuildCounter()
                 .Name("timesync_master_timeline_steps_total")
                 .Help("Realtime steps that started a new epoch.")
                 .Register(registry)
                 .Add({})),
      uptime_(prometheus::BuildGauge()
                  .Name("timesync_master_uptime_seconds")
                  .Help("Seconds since this master process started.")
                  .Register(registry)
                  .Add({})),
      beacons_sent_(prometheus::BuildCounter()
                        .Name("timesync_master_beacons_sent_total")
                        .Help("Beacons handed to gRPC for writing, over all streams.")
                        .Register(registry)
                        .Add({})),
      beacons_skipped_(prometheus::BuildCounter()
                           .Name("timesync_master_beacons_skipped_total")
                           .Help("Beacon ticks a stream skipped because its previous beacon "
                                 "was still being written (a slow or stuck reader).")
                           .Register(registry)
                           .Add({})),
      beacon_streams_(prometheus::BuildGauge()
                          .Name("timesync_master_beacon_streams")
                          .Help("Beacon streams (StreamTime) open now.")
                          .Register(registry)
                          .Add({})),
      stream_ok_(&requests_.Add({{"method", "StreamTime"}, {"code", "OK"}})),
      udp_(prometheus::BuildCounter()
               .Name("timesync_master_udp_requests_total")
               .Help("UDP exchange requests: answered, or dropped and why (malformed, "
                     "unauthenticated, bad_tag, cookie_expired, no_rx_stamp, stepped, ...).")
               .Register(registry)),
      udp_answered_(&udp_.Add({{"result", "answered"}})) {
  prometheus::BuildGauge()
      .Name("timesync_master_info")
      .Help("Identity of this master (value 1).")
      .Register(registry)
      .Add({{"master_id", master_id}, {"timebase", timebase}})
      .Set(1);
  const std::vector<double> buckets = daemon::decade_buckets(1e-6, 1e-2);
  static_assert(kMethods.size() == kMethodCount);
  const std::vector<double> call_buckets = daemon::decade_buckets(1e-5, 1.0);
  for (size_t i = 0; i < kMethods.size(); ++i) {
    duration_[i] = &duration_family_.Add({{"method", kMethods[i]}}, buckets);
    call_[i] = &call_family_.Add({{"method", kMethods[i]}}, call_buckets);
    // Series that exist from the start, so rate() and alerts see zeros, not gaps.
    ok_[i] = &requests_.Add({{"method", kMethods[i]}, {"code", "OK"}});
  }
  requests_.Add({{"method", "GetTime"}, {"code", "INVALID_ARGUMENT"}});
}

void MasterMetrics::request(Method method, grpc::StatusCode code, int64_t duration_ns) {
  const size_t m = static_cast<size_t>(method);
  if (code == grpc::StatusCode::OK) {
    ok_[m]->Increment();
  } else {
    requests_.Add({{"method", kMethods[m]}, {"code", code_name(code)}}).Increment();
  }
  duration_[m]->Observe(static_cast<double>(duration_ns) / 1e9);
}

void MasterMetrics::completed(Method method, int64_t ns) {
  call_[static_cast<size_t>(method)]->Observe(static_cast<double>(ns) / 1e9);
}

void MasterMetrics::self_check(int64_t ns, bool ok) {
  if (ok) {
    self_check_.Observe(static_cast<double>(ns) / 1e9);
  } else {
    self_check_failures_.Increment();
  }
}

void MasterMetrics::stream_opened(grpc::StatusCode code) {
  if (code == grpc::StatusCode::OK) {
    stream_ok_->Increment();
  } else {
    requests_.Add({{"method", "StreamTime"}, {"code", code_name(code)}}).Increment();
  }
}

void MasterMetrics::beacons(uint64_t sent, uint64_t skipped, size_t open_streams) {
  if (sent > 0) beacons_sent_.Increment(static_cast<double>(sent));
  if (skipped > 0) beacons_skipped_.Increment(static_cast<double>(skipped));
  beacon_streams_.Set(static_cast<double>(open_streams));
}

void MasterMetrics::update(double uptime_s, uint64_t timeline_steps) {
  uptime_.Set(uptime_s);
  if (timeline_steps > steps_seen_) {
    steps_.Increment(static_cast<double>(timeline_steps - steps_seen_));
    steps_seen_ = timeline_steps;
  }
}

void MasterMetrics::udp_served() { udp_answered_->Increment(); }

void MasterMetrics::udp_dropped(const std::string& why) { udp_.Add({{"result", why}}).Increment(); }

}  // namespace timesync::master
