#include "beacon_stream.hpp"

#include <grpcpp/grpcpp.h>

#include <algorithm>

#include "timesync/daemon/log.hpp"

namespace timesync::agent {
namespace {

Waker make_waker() {
  Result<Waker> w = Waker::create();
  // Without an eventfd the loop could not be woken; the daemon cannot run.
  if (!w.ok()) std::abort();
  return std::move(w.value());
}

bool refused(grpc::StatusCode c) {
  return c == grpc::StatusCode::FAILED_PRECONDITION || c == grpc::StatusCode::UNIMPLEMENTED ||
         c == grpc::StatusCode::RESOURCE_EXHAUSTED;
}

}  // namespace

BeaconStream::BeaconStream(v1::TimeService::Stub& stub, const TimeSource& local,
                           std::string client_id)
    : stub_(stub),
      local_(local),
      client_id_(std::move(client_id)),
      stop_(make_waker()),
      ready_(make_waker()) {}

BeaconStream::~BeaconStream() { stop(); }

void BeaconStream::start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
}

void BeaconStream::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    if (live_ != nullptr) live_->TryCancel();
  }
  stop_.signal();
  if (thread_.joinable()) thread_.join();
}

std::vector<BeaconStream::Event> BeaconStream::take() {
  std::lock_guard<std::mutex> lock(mu_);
  ready_.reset();
  std::vector<Event> out;
  out.swap(queue_);
  return out;
}

void BeaconStream::push(Event e) {
  std::lock_guard<std::mutex> lock(mu_);
  queue_.push_back(std::move(e));
  ready_.signal();
}

void BeaconStream::run() {
  constexpr double kMinBackoffS = 0.1, kMaxBackoffS = 5, kMaxRefusedBackoffS = 30;
  double backoff_s = kMinBackoffS;
  while (!stop_.signalled()) {
    grpc::ClientContext ctx;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) break;
      live_ = &ctx;
    }
    v1::StreamTimeRequest req;
    req.set_client_id(client_id_);
    req.set_max_rate_hz(0);  // the master's rate
    std::unique_ptr<grpc::ClientReader<v1::TimeBeacon>> reader = stub_.StreamTime(&ctx, req);
    v1::TimeBeacon b;
    uint64_t n = 0;
    while (reader->Read(&b)) {
      // The receive stamp first: everything after it is processing, not delay.
      Event e;
      e.rx_local_ns = local_.now_ns();
      if (n++ == 0) push(Event{Event::Kind::kOpened, e.rx_local_ns, {}, {}});
      e.kind = Event::Kind::kBeacon;
      e.beacon.sequence = b.sequence();
      e.beacon.master_send_ns = b.master_send_ns();
      e.beacon.master_error_ns = b.master_error_ns();
      e.beacon.rate_hz = b.rate_hz();
      e.beacon.master.id = b.master_id();
      e.beacon.master.instance = b.master_instance();
      e.beacon.master.epoch = b.master_epoch();
      e.beacon.master.error_ns = b.master_error_ns();
      e.beacon.master.timebase = b.timebase() == v1::TIMEBASE_MONOTONIC  ? MasterTimebase::kMonotonic
                                 : b.timebase() == v1::TIMEBASE_REALTIME ? MasterTimebase::kRealtime
                                                                         : MasterTimebase::kUnknown;
      push(std::move(e));
    }
    const grpc::Status st = reader->Finish();
    {
      std::lock_guard<std::mutex> lock(mu_);
      live_ = nullptr;
    }
    Event closed;
    closed.kind = Event::Kind::kClosed;
    closed.error = "StreamTime: " + (st.ok() ? std::string("ended by the master")
                                             : st.error_message() + " (code " +
                                                   std::to_string(static_cast<int>(st.error_code())) +
                                                   ")");
    push(std::move(closed));
    if (n > 0) backoff_s = kMinBackoffS;
    const double cap = refused(st.error_code()) ? kMaxRefusedBackoffS : kMaxBackoffS;
    if (refused(st.error_code())) backoff_s = std::max(backoff_s, kMaxBackoffS);
    local_.sleep_until(local_.now_ns() + static_cast<int64_t>(backoff_s * 1e9), &stop_);
    backoff_s = std::min(cap, backoff_s * 2);
  }
}

}  // namespace timesync::agent
