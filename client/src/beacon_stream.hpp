// BeaconStream: keeps one TimeService.StreamTime stream to the master open on
// its own thread (beacon mode) and queues what arrives for the agent's loop.
//
// Each beacon is stamped with the local clock right after gRPC hands it over
// (t_rx, as early as the sync API allows); the loop may process it later, the
// stamp is what counts. A stream that ends (master gone, refused, network) is
// reopened after a backoff: 0.1 s doubling to 5 s, or to 30 s when the master
// refuses beacons (FAILED_PRECONDITION, UNIMPLEMENTED, RESOURCE_EXHAUSTED),
// reset once a stream has delivered a beacon. While no stream is open the agent
// simply polls.
//
// Events: kOpened before a stream's first beacon, kBeacon per beacon, kClosed
// with the status text when a stream ends.
//
// Thread safety: start()/stop() from the owner's thread; take() and ready_fd()
// from the one consumer thread; the reader thread only touches the queue.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "master_link.hpp"
#include "timesync/timebase/time_source.hpp"
#include "timesync/v1/timesync.grpc.pb.h"

namespace timesync::agent {

class BeaconStream {
 public:
  // One beacon, as plain values (the stream is the RPC edge).
  struct Beacon {
    uint64_t sequence = 0;
    int64_t master_send_ns = 0;   // the master's timeline, stamped just before sending
    uint64_t master_error_ns = 0;
    double rate_hz = 0;
    MasterInfo master;            // id, instance, epoch, timebase
  };
  struct Event {
    enum class Kind { kOpened, kBeacon, kClosed };
    Kind kind = Kind::kBeacon;
    int64_t rx_local_ns = 0;  // kBeacon: local receive time
    Beacon beacon;            // kBeacon
    std::string error;        // kClosed: why
  };

  // `stub` and `local` must outlive this object.
  BeaconStream(v1::TimeService::Stub& stub, const TimeSource& local, std::string client_id);
  ~BeaconStream();

  void start();
  // Cancels the open stream and joins the reader thread.
  void stop();
  // Readable while events are queued (for poll(2) beside the stop waker).
  int ready_fd() const { return ready_.fd(); }
  std::vector<Event> take();

 private:
  void run();
  void push(Event e);

  v1::TimeService::Stub& stub_;
  const TimeSource& local_;
  const std::string client_id_;
  Waker stop_;
  Waker ready_;
  std::mutex mu_;
  std::vector<Event> queue_;              // guarded by mu_
  grpc::ClientContext* live_ = nullptr;   // guarded by mu_: the open call, to cancel it
  bool stopping_ = false;                 // guarded by mu_
  std::thread thread_;
};

}  // namespace timesync::agent
