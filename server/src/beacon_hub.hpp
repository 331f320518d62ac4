// BeaconHub: serves TimeService.StreamTime (beacon mode, seed 003's timing
// beacons). One ticker thread wakes beacon.rate_hz times a second and, for
// every open stream in turn, reads the master's timeline and hands a beacon
// carrying that reading to gRPC (the callback API's ServerWriteReactor), so the
// stamp is taken as late as this process can before its own write starts.
// No thread per stream: N agents cost N small writes per tick on one thread
// plus gRPC's own completion threads.
//
// Back-pressure: a stream whose previous beacon is still being written skips
// the tick (counted); a stream wanting a lower rate (max_rate_hz) gets every
// k-th tick. The beacon's sequence counts ticks offered to that stream, so the
// agent sees skipped ones as gaps.
//
// Refusals (a status, no stream): FAILED_PRECONDITION when beacons are
// disabled, INVALID_ARGUMENT naming a bad field (a client_id over 256 bytes; a
// max_rate_hz that is negative, not finite, or positive but below
// kMinRateHz, which would hold a stream slot while sending next to nothing),
// RESOURCE_EXHAUSTED beyond max_streams, UNAVAILABLE once stop() ran.
//
// Units: rate in Hz, times in ns on the master's timeline.
// Thread safety: open() from gRPC threads, stop() and the counters from any;
// one recursive mutex orders the ticker's writes with gRPC's reactions (which
// may run inline from a StartWrite) and with stream teardown.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "master_metrics.hpp"
#include "master_timeline.hpp"
#include "time_service_identity.hpp"
#include "timesync/v1/timesync.grpc.pb.h"

namespace timesync::master {



struct BeaconSettings {
  bool enabled = true;
  double rate_hz = 10;
  size_t max_streams = 64;
};

class BeaconHub {
 public:
  static constexpr size_t kMaxClientIdBytes = 256;
  // The slowest stream a client may ask for: the master's own beacon.rate_hz
  // minimum.
  static constexpr double kMinRateHz = 0.1;

  // The request checks open() makes before a stream is admitted, without a
  // stream or a lock: OK and the stride (send on every stride-th tick), or the
  // refusal. Pure, so the fuzz harness (fuzz/) calls it on any request.
  static grpc::Status admit(const BeaconSettings& s, const v1::StreamTimeRequest& req,
                            uint64_t* stride);

  // `identity` and `timeline` must outlive the hub; metrics may be null.
  BeaconHub(const MasterTimeline& timeline, const Identity& identity, BeaconSettings s,
            MasterMetrics* metrics = nullptr);
  ~BeaconHub();  // stop()

  grpc::ServerWriteReactor<v1::TimeBeacon>* open(grpc::CallbackServerContext* ctx,
                                                 const v1::StreamTimeRequest* req);
  // Ends every stream (OK: the master is stopping) and the ticker; later
  // opens are refused. Call before the server's Shutdown.
  void stop();

  size_t open_streams() const;
  uint64_t sent() const { return sent_.load(std::memory_order_relaxed); }

 private:
  class Stream;
  void run();
  void tick(uint64_t n);
  void finish_locked(Stream* s, const grpc::Status& st);
  void forget_locked(Stream* s);

  const MasterTimeline& timeline_;
  const Identity& identity_;
  const BeaconSettings settings_;
  MasterMetrics* metrics_;

  mutable std::recursive_mutex mu_;
  std::condition_variable_any cv_;
  std::vector<Stream*> streams_;  // open (not finished) streams
  std::vector<Stream*> graveyard_;  // done while a tick held them; deleted after it
  bool in_tick_ = false;
  bool stopping_ = false;
  std::atomic<uint64_t> sent_{0};
  uint64_t skipped_ = 0;
  std::thread ticker_;
};

}  // namespace timesync::master
