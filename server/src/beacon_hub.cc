#include "beacon_hub.hpp"

#include <chrono>
#include <cmath>

#include "time_service.hpp"
#include "timesync/daemon/log.hpp"

namespace timesync::master {

// One open StreamTime call. Owned by gRPC from open() to OnDone().
class BeaconHub::Stream final : public grpc::ServerWriteReactor<v1::TimeBeacon> {
 public:
  Stream(BeaconHub& hub, uint64_t every, double rate_hz) : hub_(hub), stride(every) {
    msg.set_rate_hz(rate_hz);
  }
  void OnWriteDone(bool ok) override {
    std::lock_guard<std::recursive_mutex> lock(hub_.mu_);
    writing = false;
    if (!ok && !finished) hub_.finish_locked(this, {grpc::StatusCode::UNAVAILABLE, "write failed"});
  }
  void OnCancel() override {
    std::lock_guard<std::recursive_mutex> lock(hub_.mu_);
    if (!finished) hub_.finish_locked(this, grpc::Status::CANCELLED);
  }
  void OnDone() override {
    std::unique_lock<std::recursive_mutex> lock(hub_.mu_);
    // Inside a tick only the ticker can hold the (recursive) lock: it may
    // still hold this pointer in its snapshot, so it deletes it afterwards.
    if (hub_.in_tick_) {
      hub_.graveyard_.push_back(this);
      return;
    }
    lock.unlock();
    delete this;
  }

  BeaconHub& hub_;
  const uint64_t stride;      // send on every stride-th tick
  uint64_t offered = 0;       // ticks offered: the beacon's sequence
  bool writing = false;       // a StartWrite is outstanding
  bool finished = false;      // Finish() called
  v1::TimeBeacon msg;         // must live until OnWriteDone
};

namespace {
// A refused call: finished at once with the status.
class Refused final : public grpc::ServerWriteReactor<v1::TimeBeacon> {
 public:
  explicit Refused(const grpc::Status& st) { Finish(st); }
  void OnDone() override { delete this; }
};
}  // namespace

BeaconHub::BeaconHub(const MasterTimeline& timeline, const Identity& identity, BeaconSettings s,
                     MasterMetrics* metrics)
    : timeline_(timeline), identity_(identity), settings_(s), metrics_(metrics) {
  if (settings_.enabled) ticker_ = std::thread([this] { run(); });
}

BeaconHub::~BeaconHub() {
  stop();
  std::lock_guard<std::recursive_mutex> lock(mu_);
  for (Stream* s : graveyard_) delete s;
  graveyard_.clear();
}

size_t BeaconHub::open_streams() const {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  return streams_.size();
}

grpc::Status BeaconHub::admit(const BeaconSettings& s, const v1::StreamTimeRequest& req,
                              uint64_t* stride) {
  if (!s.enabled) {
    return {grpc::StatusCode::FAILED_PRECONDITION,
            "beacons are disabled on this master (beacon.enabled: false); use GetTime"};
  }
  if (req.client_id().size() > kMaxClientIdBytes) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "client_id is longer than 256 bytes"};
  }
  const double want = req.max_rate_hz();
  // Also NaN. A positive rate below the minimum would keep a stream slot (of
  // beacon.max_streams) for a beacon every few years.
  if (!(want == 0 || (want >= kMinRateHz && std::isfinite(want)))) {
    return {grpc::StatusCode::INVALID_ARGUMENT,
            "max_rate_hz must be 0 (the master's rate) or a finite rate of at least 0.1 Hz"};
  }
  // Every k-th tick: the fastest rate not above the one asked for (the cap
  // only matters for settings no configuration allows).
  *stride = 1;
  if (want > 0 && want < s.rate_hz) {
    *stride = static_cast<uint64_t>(std::min(1e9, std::ceil(s.rate_hz / want - 1e-9)));
  }
  return grpc::Status::OK;
}

grpc::ServerWriteReactor<v1::TimeBeacon>* BeaconHub::open(grpc::CallbackServerContext* /*ctx*/,
                                                          const v1::StreamTimeRequest* req) {
  auto refuse = [&](grpc::StatusCode code, const std::string& why) {
    if (metrics_ != nullptr) metrics_->stream_opened(code);
    return new Refused(grpc::Status(code, why));
  };
  uint64_t stride = 1;
  if (const grpc::Status st = admit(settings_, *req, &stride); !st.ok()) {
    return refuse(st.error_code(), st.error_message());
  }
  std::lock_guard<std::recursive_mutex> lock(mu_);
  if (stopping_) return refuse(grpc::StatusCode::UNAVAILABLE, "the master is stopping");
  if (streams_.size() >= settings_.max_streams) {
    return refuse(grpc::StatusCode::RESOURCE_EXHAUSTED,
                  "beacon.max_streams (" + std::to_string(settings_.max_streams) +
                      ") streams are open; poll with GetTime or raise the limit");
  }
  auto* s = new Stream(*this, stride, settings_.rate_hz / static_cast<double>(stride));
  streams_.push_back(s);
  if (metrics_ != nullptr) metrics_->stream_opened(grpc::StatusCode::OK);
  TS_LOG_DEBUG("beacon stream opened for '%s' at %.3f Hz (%zu open)", req->client_id().c_str(),
               s->msg.rate_hz(), streams_.size());
  cv_.notify_all();
  return s;
}

void BeaconHub::finish_locked(Stream* s, const grpc::Status& st) {
  s->finished = true;
  forget_locked(s);
  s->Finish(st);
}

void BeaconHub::forget_locked(Stream* s) {
  for (auto it = streams_.begin(); it != streams_.end(); ++it) {
    if (*it == s) {
      streams_.erase(it);
      return;
    }
  }
}

void BeaconHub::stop() {
  {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (stopping_ && !ticker_.joinable()) return;
    stopping_ = true;
    const std::vector<Stream*> open = streams_;
    for (Stream* s : open) finish_locked(s, grpc::Status::OK);
    cv_.notify_all();
  }
  if (ticker_.joinable()) ticker_.join();
}

void BeaconHub::run() {
  using Clock = std::chrono::steady_clock;
  const auto period = std::chrono::nanoseconds(std::llround(1e9 / settings_.rate_hz));
  std::unique_lock<std::recursive_mutex> lock(mu_);
  auto next = Clock::now();
  uint64_t n = 0;
  while (!stopping_) {
    if (streams_.empty()) {
      // Idle masters do not tick; the first stream starts the schedule.
      cv_.wait(lock, [&] { return stopping_ || !streams_.empty(); });
      next = Clock::now();
      continue;
    }
    if (cv_.wait_until(lock, next, [&] { return stopping_; })) break;
    tick(++n);
    next += period;
    // Fell behind (a stalled process): resume the schedule from now instead
    // of sending a burst of catch-up beacons.
    if (const auto now = Clock::now(); next < now) next = now + period;
  }
}

void BeaconHub::tick(uint64_t n) {
  in_tick_ = true;
  uint64_t sent = 0, skipped = 0;
  // A snapshot: a write's reaction may run inline and finish a stream.
  const std::vector<Stream*> open = streams_;
  for (Stream* s : open) {
    if (s->finished || n % s->stride != 0) continue;
    ++s->offered;
    if (s->writing) {
      ++skipped;
      continue;
    }
    v1::TimeBeacon& b = s->msg;
    const Identity who = current(identity_, timeline_);
    b.set_sequence(s->offered);
    b.set_master_id(who.id);
    b.set_master_instance(who.instance);
    b.set_timebase(who.realtime ? v1::TIMEBASE_REALTIME : v1::TIMEBASE_MONOTONIC);
    // The stamp last, right before the write is started.
    const MasterTimeline::Reading now = timeline_.read();
    // A realtime step during the read, or a standby with nothing to serve.
    if (now.ambiguous) continue;
    b.set_master_error_ns(who.master_error_ns + now.error_ns);
    b.set_master_epoch(now.epoch);
    b.set_master_send_ns(now.ns);
    s->writing = true;
    s->StartWrite(&b);
    ++sent;
  }
  in_tick_ = false;
  for (Stream* s : graveyard_) delete s;
  graveyard_.clear();
  sent_.fetch_add(sent, std::memory_order_relaxed);
  skipped_ += skipped;
  if (metrics_ != nullptr) metrics_->beacons(sent, skipped, streams_.size());
}

}  // namespace timesync::master
