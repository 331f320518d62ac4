#include "udp_service.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "master_metrics.hpp"
#include "timesync/daemon/log.hpp"
#include "timesync/netstamp/socket.hpp"
#include "timesync/netstamp/stamp_converter.hpp"
#include "timesync/wire/exchange.hpp"

namespace timesync::master {

using namespace std::chrono_literals;

struct UdpService::Socket {
  netstamp::TimestampingSocket sock;
  netstamp::StampConverter conv;
};

namespace {

netstamp::TimestampMode mode_of(config::Timestamping t) {
  switch (t) {
    case config::Timestamping::kHardware: return netstamp::TimestampMode::kHardware;
    case config::Timestamping::kSoftware: return netstamp::TimestampMode::kSoftware;
    case config::Timestamping::kUser: return netstamp::TimestampMode::kUser;
    default: return netstamp::TimestampMode::kAuto;
  }
}

// "0.0.0.0:7452", "[::]:7452", "[fe80::1%eth0]:7452" -> endpoint.
bool parse_listen(const std::string& text, netstamp::Endpoint* out, std::string* why) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos) {
    *why = "udp.listen '" + text + "' is not host:port";
    return false;
  }
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const int port = std::atoi(text.c_str() + colon + 1);
  netstamp::Result<netstamp::Endpoint> e = netstamp::Endpoint::parse(host, static_cast<uint16_t>(port));
  if (!e.ok()) {
    *why = "udp.listen '" + text + "': " + e.status().message() +
           " (the UDP service takes a numeric address)";
    return false;
  }
  *out = *e;
  return true;
}

const char* stamp_name(netstamp::TimestampMode m) {
  switch (m) {
    case netstamp::TimestampMode::kHardware: return "hardware";
    case netstamp::TimestampMode::kSoftware: return "kernel software";
    default: return "user-space";
  }
}

}  // namespace

UdpService::UdpService(const MasterTimeline& timeline, const Identity& who,
                       const config::MasterUdp& cfg, bool authenticated, MasterMetrics* metrics)
    : timeline_(timeline), who_(who), cfg_(cfg), authenticated_(authenticated), metrics_(metrics) {}

UdpService::~UdpService() { stop(); }

bool UdpService::start(std::string* why) {
  netstamp::Endpoint local;
  if (!parse_listen(cfg_.listen, &local, why)) return false;
  netstamp::SocketOptions o;
  o.mode = mode_of(cfg_.timestamping);
  o.interface = cfg_.interface;
  o.v6_only = false;  // [::] takes IPv4 too
  netstamp::Result<netstamp::TimestampingSocket> s = netstamp::TimestampingSocket::open(local.family(), o);
  if (!s.ok()) {
    *why = "UDP socket: " + s.status().message();
    return false;
  }
  if (netstamp::Status st = s->bind(local); !st.ok()) {
    *why = "cannot listen on UDP " + cfg_.listen + ": " + st.message();
    return false;
  }
  netstamp::Result<netstamp::StampConverter> conv = netstamp::StampConverter::for_socket(*s);
  if (!conv.ok()) {
    *why = "UDP timestamps: " + conv.status().message();
    return false;
  }
  netstamp::Result<netstamp::Endpoint> bound = s->local_endpoint();
  port_ = bound.ok() ? bound->port() : local.port();
  mode_ = stamp_name(s->mode());
  if (!s->mode_reason().empty()) mode_ += " (" + s->mode_reason() + ")";
  if (authenticated_) {
    wire::Result<wire::CookieKeyRing> ring = wire::CookieKeyRing::create();
    if (!ring.ok()) {
      *why = std::string("UDP cookie keys: ") + wire::to_string(ring.error());
      return false;
    }
    ring_ = std::make_unique<wire::CookieKeyRing>(std::move(ring.value()));
    next_rotation_raw_ = host_raw_now_ns() + static_cast<int64_t>(cfg_.key_rotation_s * 1e9);
  }
  sock_ = std::make_unique<Socket>(Socket{std::move(s.value()), std::move(conv.value())});
  thread_ = std::thread([this] { run(); });
  return true;
}

void UdpService::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

std::string UdpService::describe() const {
  return "UDP " + cfg_.listen + " (port " + std::to_string(port_) + "), " + mode_ + " timestamps, " +
         (authenticated_ ? "sealed (keys over the TLS channel)" : "unauthenticated (TLS off)");
}

bool UdpService::new_session(int n, UdpSessionGrant* out) {
  if (!authenticated_ || ring_ == nullptr) return false;
  wire::Result<wire::SessionKey> fresh = wire::SessionKey::generate();
  if (!fresh.ok()) return false;
  const wire::SessionKey& key = *fresh;
  const double lifetime_s = std::min(cfg_.session_lifetime_s, cfg_.key_rotation_s);
  const int64_t expiry = host_raw_now_ns() + static_cast<int64_t>(lifetime_s * 1e9);
  out->cookies.clear();
  std::lock_guard<std::mutex> lock(ring_mu_);
  for (int i = 0; i < n; ++i) {
    wire::Result<wire::Cookie> c = ring_->make_cookie(key, expiry);
    if (!c.ok()) return false;
    out->cookies.emplace_back(reinterpret_cast<const char*>(c->bytes.data()), c->bytes.size());
  }
  out->key.assign(reinterpret_cast<const char*>(key.bytes.data()), key.bytes.size());
  // The agent should renew before the rotation after next retires the key:
  // a lifetime of at most one rotation period guarantees it.
  out->lifetime_s = lifetime_s;
  return true;
}

std::map<std::string, uint64_t> UdpService::drops() const {
  std::lock_guard<std::mutex> lock(drops_mu_);
  return drops_;
}

void UdpService::drop(const char* why) {
  {
    std::lock_guard<std::mutex> lock(drops_mu_);
    ++drops_[why];
  }
  if (metrics_ != nullptr) metrics_->udp_dropped(why);
}

void UdpService::run() {
  netstamp::TimestampingSocket& sock = sock_->sock;
  netstamp::StampConverter& conv = sock_->conv;
  std::array<std::byte, 512> buf{};
  // The mark every conversion is checked against: read before a receive that
  // found the socket empty, so every packet read since was stamped after it.
  netstamp::Result<netstamp::PairedRead> safe = conv.mark();
  while (!stop_.load(std::memory_order_relaxed)) {
    if (ring_ != nullptr && host_raw_now_ns() >= next_rotation_raw_) {
      std::lock_guard<std::mutex> lock(ring_mu_);
      if (ring_->rotate() != wire::Error::kOk) TS_LOG_WARN("UDP cookie key rotation failed: keeping the current key");
      next_rotation_raw_ = host_raw_now_ns() + static_cast<int64_t>(cfg_.key_rotation_s * 1e9);
    }
    netstamp::Result<netstamp::PairedRead> candidate = conv.mark();
    netstamp::Result<netstamp::Datagram> d = sock.recv(buf, 0ns);
    if (!d.ok() && d.code() == netstamp::Errc::kTimeout) {
      // Empty: packets from now on are stamped after `candidate`.
      if (candidate.ok()) safe = std::move(candidate);
      d = sock.recv(buf, 100ms);
      if (!d.ok()) continue;  // timeout (housekeeping) or a socket error
    } else if (!d.ok()) {
      continue;
    }
    if (!safe.ok()) {
      drop("no_mark");
      continue;
    }
    if (d->truncated) {
      drop("malformed");
      continue;
    }
    const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(buf.data()), d->size);
    wire::Result<wire::OpenedRequest> req = [&] {
      std::lock_guard<std::mutex> lock(ring_mu_);
      return wire::open_request(bytes, ring_.get(), host_raw_now_ns());
    }();
    if (!req.ok()) {
      drop(wire::to_string(req.error()));
      continue;
    }
    if (!d->rx.present()) {
      // The kernel switches receive stamping on lazily after the first socket
      // asks for it: the first packets come unstamped. No t1, no answer.
      drop("no_rx_stamp");
      continue;
    }
    const netstamp::Conversion c1 = conv.convert(d->rx, *safe);
    if (!c1.ok()) {
      drop("stepped");
      continue;
    }
    const MasterTimeline::Reading t1 = timeline_.at_host_raw(c1.raw_ns);
    if (t1.unavailable) {
      drop("unavailable");  // a standby with nothing to serve
      continue;
    }
    if (t1.ambiguous) {
      drop("stepped");
      continue;
    }
    const Identity who = current(who_, timeline_);
    const wire::SessionKey* key = req->key ? &*req->key : nullptr;
    wire::Response resp;
    resp.sequence = req->sequence;
    resp.t1_ns = t1.ns;
    resp.epoch = t1.epoch;
    resp.instance = who_.instance;
    resp.master_error_ns = who.master_error_ns + t1.error_ns;
    resp.timebase = who.realtime ? wire::Timebase::kRealtime : wire::Timebase::kMonotonic;
    wire::Result<wire::Datagram> out = wire::make_response(resp, key);
    if (!out.ok()) {
      drop("encode");
      continue;
    }
    const auto* out_bytes = reinterpret_cast<const std::byte*>(out->bytes.data());
    netstamp::Result<netstamp::SendId> id = sock.send_to({out_bytes, out->size}, d->source);
    if (!id.ok()) {
      drop("send");
      continue;
    }
    netstamp::Result<netstamp::Timestamp> tx = sock.tx_timestamp(*id, 20ms);
    if (!tx.ok() || !tx->present()) {
      drop("no_tx_stamp");
      continue;
    }
    const netstamp::Conversion c2 = conv.convert(*tx, *safe);
    if (!c2.ok()) {
      drop("stepped");
      continue;
    }
    const MasterTimeline::Reading t2 = timeline_.at_host_raw(c2.raw_ns);
    if (t2.unavailable) {
      drop("unavailable");
      continue;
    }
    if (t2.ambiguous || t2.epoch != t1.epoch) {
      drop("stepped");
      continue;
    }
    wire::FollowUp fu;
    fu.sequence = req->sequence;
    fu.t2_ns = t2.ns;
    fu.epoch = t2.epoch;
    // A simulated or slewed timeline runs at its own rate: the conversion's
    // raw uncertainty is worth about as much of its time.
    // A standby adds its own error at t1 and t2.
    fu.master_error_ns = who.master_error_ns + std::max(t1.error_ns, t2.error_ns) +
                         static_cast<uint64_t>(std::max(c1.uncertainty_ns, c2.uncertainty_ns)) + 1;
    out = wire::make_follow_up(fu, key);
    if (!out.ok()) {
      drop("encode");
      continue;
    }
    out_bytes = reinterpret_cast<const std::byte*>(out->bytes.data());
    netstamp::Result<netstamp::SendId> id2 = sock.send_to({out_bytes, out->size}, d->source);
    if (!id2.ok()) {
      drop("send");
      continue;
    }
    // Its transmit stamp is not wanted; read it so it does not pile up.
    (void)sock.tx_timestamp(*id2, 1ms);
    served_.fetch_add(1, std::memory_order_relaxed);
    if (metrics_ != nullptr) metrics_->udp_served();
  }
}

}  // namespace timesync::master
