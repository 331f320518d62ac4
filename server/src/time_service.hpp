// TimeService: answers GetTime and GetStatus (synchronous handlers), and hands
// StreamTime to the BeaconHub (callback API, no thread per stream). GetTime is
// stateless per request: the only shared state is the timeline (read-only but
// for its epoch) and a counter.
//
// Thread safety: gRPC calls the handlers concurrently from its pool.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "beacon_hub.hpp"
#include "master_metrics.hpp"
#include "master_timeline.hpp"
#include "time_service_identity.hpp"
#include "udp_service.hpp"
#include "timesync/v1/timesync.grpc.pb.h"

namespace timesync::master {


class TimeServiceImpl final
    : public v1::TimeService::WithCallbackMethod_StreamTime<v1::TimeService::Service> {
 public:
  static constexpr size_t kMaxClientIdBytes = 256;

  // metrics and beacons may be null (no accounting; StreamTime UNIMPLEMENTED).
  TimeServiceImpl(const MasterTimeline& timeline, Identity identity,
                  MasterMetrics* metrics = nullptr, BeaconHub* beacons = nullptr);

  grpc::Status GetTime(grpc::ServerContext* ctx, const v1::GetTimeRequest* req,
                       v1::GetTimeResponse* resp) override;
  grpc::Status GetStatus(grpc::ServerContext* ctx, const v1::GetStatusRequest* req,
                         v1::GetStatusResponse* resp) override;
  grpc::ServerWriteReactor<v1::TimeBeacon>* StreamTime(grpc::CallbackServerContext* ctx,
                                                       const v1::StreamTimeRequest* req) override;
  grpc::Status GetUdpSession(grpc::ServerContext* ctx, const v1::GetUdpSessionRequest* req,
                             v1::GetUdpSessionResponse* resp) override;
  // The UDP service to advertise in every answer and to hand sessions for
  // (null: none). Set before the server starts.
  void set_udp(UdpService* udp) { udp_ = udp; }

  uint64_t served() const { return served_.load(std::memory_order_relaxed); }
  double uptime_s() const { return static_cast<double>(host_raw_now_ns() - started_raw_ns_) / 1e9; }

 private:
  // GetTime itself, between t1 and t2.
  grpc::Status answer(grpc::ServerContext* ctx, const v1::GetTimeRequest* req,
                      v1::GetTimeResponse* resp);

  const MasterTimeline& timeline_;
  Identity identity_;
  int64_t started_raw_ns_;
  std::atomic<uint64_t> served_{0};
  MasterMetrics* metrics_;
  BeaconHub* beacons_;
  UdpService* udp_ = nullptr;
};

}  // namespace timesync::master
