// TimeService: answers GetTime, GetStatus and GetUdpSession, and hands
// StreamTime to the BeaconHub. All four run on gRPC's callback API: the
// handler runs on the gRPC thread that read the request, with no hop to a
// pool of its own (the synchronous API's), which costs a thread wake-up and
// a context switch per call. GetTime is stateless per request: the only
// shared state is the timeline (read-only but for its epoch) and a counter.
//
// answer_time() and udp_session() are the handlers' work without a call, for
// tests and the fuzz harness.
//
// Thread safety: gRPC calls the handlers concurrently from its threads.
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
    : public v1::TimeService::WithCallbackMethod_GetTime<
          v1::TimeService::WithCallbackMethod_GetStatus<
              v1::TimeService::WithCallbackMethod_StreamTime<
                  v1::TimeService::WithCallbackMethod_GetUdpSession<v1::TimeService::Service>>>> {
 public:
  static constexpr size_t kMaxClientIdBytes = 256;

  // metrics and beacons may be null (no accounting; StreamTime UNIMPLEMENTED).
  TimeServiceImpl(const MasterTimeline& timeline, Identity identity,
                  MasterMetrics* metrics = nullptr, BeaconHub* beacons = nullptr);

  grpc::ServerUnaryReactor* GetTime(grpc::CallbackServerContext* ctx,
                                    const v1::GetTimeRequest* req,
                                    v1::GetTimeResponse* resp) override;
  grpc::ServerUnaryReactor* GetStatus(grpc::CallbackServerContext* ctx,
                                      const v1::GetStatusRequest* req,
                                      v1::GetStatusResponse* resp) override;
  grpc::ServerWriteReactor<v1::TimeBeacon>* StreamTime(grpc::CallbackServerContext* ctx,
                                                       const v1::StreamTimeRequest* req) override;
  grpc::ServerUnaryReactor* GetUdpSession(grpc::CallbackServerContext* ctx,
                                          const v1::GetUdpSessionRequest* req,
                                          v1::GetUdpSessionResponse* resp) override;
  // The UDP service to advertise in every answer and to hand sessions for
  // (null: none). Set before the server starts.
  void set_udp(UdpService* udp) { udp_ = udp; }

  // GetTime's answer between t1 and t2, and GetUdpSession's.
  grpc::Status answer_time(const v1::GetTimeRequest& req, v1::GetTimeResponse* resp);
  grpc::Status udp_session(const v1::GetUdpSessionRequest& req, v1::GetUdpSessionResponse* resp);

  uint64_t served() const { return served_.load(std::memory_order_relaxed); }
  double uptime_s() const { return static_cast<double>(host_raw_now_ns() - started_raw_ns_) / 1e9; }

 private:
  // Finishes the call; its end-to-end time is accounted when gRPC is done.
  grpc::ServerUnaryReactor* finish(MasterMetrics::Method m, int64_t entered_ns,
                                   const grpc::Status& st);

  const MasterTimeline& timeline_;
  Identity identity_;
  int64_t started_raw_ns_;
  std::atomic<uint64_t> served_{0};
  MasterMetrics* metrics_;
  BeaconHub* beacons_;
  UdpService* udp_ = nullptr;
};

}  // namespace timesync::master
