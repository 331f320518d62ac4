// TimeService: answers GetTime and GetStatus. Stateless per request: the only
// shared state is the timeline (read-only but for its epoch) and a counter.
//
// Thread safety: gRPC calls the handlers concurrently from its pool.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "master_timeline.hpp"
#include "timesync/v1/timesync.grpc.pb.h"

namespace timesync::master {

struct Identity {
  std::string id;
  uint64_t instance = 0;
  v1::Timebase timebase = v1::TIMEBASE_MONOTONIC;
  uint64_t master_error_ns = 0;
};

class TimeServiceImpl final : public v1::TimeService::Service {
 public:
  static constexpr size_t kMaxClientIdBytes = 256;

  TimeServiceImpl(const MasterTimeline& timeline, Identity identity);

  grpc::Status GetTime(grpc::ServerContext* ctx, const v1::GetTimeRequest* req,
                       v1::GetTimeResponse* resp) override;
  grpc::Status GetStatus(grpc::ServerContext* ctx, const v1::GetStatusRequest* req,
                         v1::GetStatusResponse* resp) override;

  uint64_t served() const { return served_.load(std::memory_order_relaxed); }

 private:
  const MasterTimeline& timeline_;
  Identity identity_;
  int64_t started_raw_ns_;
  std::atomic<uint64_t> served_{0};
};

}  // namespace timesync::master
