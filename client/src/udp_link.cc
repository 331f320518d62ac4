#include "udp_link.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <chrono>
#include <cmath>
#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include "timesync/daemon/log.hpp"
#include "timesync/netstamp/socket.hpp"
#include "timesync/netstamp/stamp_converter.hpp"
#include "timesync/wire/exchange.hpp"

namespace timesync::agent {

using namespace std::chrono_literals;

struct UdpLink::State {
  netstamp::TimestampingSocket sock;
  netstamp::StampConverter conv;
  netstamp::Endpoint peer;
  bool sealed = false;
  std::optional<wire::SessionKey> key;
  std::vector<wire::Cookie> cookies;
  size_t next_cookie = 0;
  int64_t renew_at_local = 0;
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

StampSource source_of(netstamp::TimestampMode m) {
  switch (m) {
    case netstamp::TimestampMode::kHardware: return StampSource::kHardware;
    case netstamp::TimestampMode::kSoftware: return StampSource::kKernel;
    default: return StampSource::kUser;
  }
}

// host:port (a name, an IPv4 or a [IPv6]) -> endpoint. Names are resolved
// here, while setting up, never while timestamping.
bool resolve(const std::string& host_port, uint16_t port_override, netstamp::Endpoint* out,
             std::string* why) {
  const size_t colon = host_port.rfind(':');
  std::string host = colon == std::string::npos ? host_port : host_port.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const uint16_t port = port_override != 0
                            ? port_override
                            : static_cast<uint16_t>(std::atoi(host_port.c_str() + colon + 1));
  netstamp::Result<netstamp::Endpoint> numeric = netstamp::Endpoint::parse(host, port);
  if (numeric.ok()) {
    *out = *numeric;
    return true;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0 || res == nullptr) {
    *why = "cannot resolve '" + host + "': " + gai_strerror(rc);
    return false;
  }
  sockaddr_storage ss{};
  std::memcpy(&ss, res->ai_addr, std::min<size_t>(res->ai_addrlen, sizeof ss));
  const auto len = static_cast<socklen_t>(std::min<size_t>(res->ai_addrlen, sizeof ss));
  freeaddrinfo(res);
  if (ss.ss_family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&ss)->sin_port = htons(port);
  } else if (ss.ss_family == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port = htons(port);
  }
  *out = netstamp::Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss), len);
  if (!out->valid()) {
    *why = "cannot use the address of '" + host + "'";
    return false;
  }
  return true;
}

}  // namespace

UdpLink::UdpLink(UdpLinkOptions o, const TimeSource& local, GrpcLink& keys)
    : o_(std::move(o)), local_(local), keys_(keys), rng_(std::random_device{}()) {}

UdpLink::~UdpLink() = default;

std::string UdpLink::describe() const { return description_; }

void UdpLink::detach() {
  state_.reset();
  description_ = "UDP (not set up)";
}

bool UdpLink::renew_session(std::string* why) {
  UdpSession s;
  if (!keys_.session(&s, why)) return false;
  if (s.key.size() != wire::kSessionKeySize) {
    *why = "GetUdpSession: a key of " + std::to_string(s.key.size()) + " bytes";
    return false;
  }
  wire::SessionKey key;
  std::memcpy(key.bytes.data(), s.key.data(), key.bytes.size());
  std::vector<wire::Cookie> cookies;
  for (const std::string& c : s.cookies) {
    if (c.size() != wire::kCookieSize) continue;
    wire::Cookie cookie;
    std::memcpy(cookie.bytes.data(), c.data(), cookie.bytes.size());
    cookies.push_back(cookie);
  }
  if (cookies.empty()) {
    *why = "GetUdpSession: no usable cookie";
    return false;
  }
  state_->key = key;
  state_->cookies = std::move(cookies);
  state_->next_cookie = 0;
  // Renew at half the lifetime: the cookies are still good while the next
  // session is fetched, even if that takes a few tries.
  state_->renew_at_local = local_.now_ns() + static_cast<int64_t>(s.lifetime_s * 0.5e9);
  return true;
}

bool UdpLink::attach(const MasterInfo& m, std::string* why) {
  state_.reset();
  if (m.udp_port == 0 && o_.udp_master.empty()) {
    *why = "the master offers no UDP service";
    return false;
  }
  if (o_.tls && !m.udp_authenticated) {
    *why = "the master's UDP is unauthenticated but the channel to it is TLS: refusing "
           "unauthenticated time (turn TLS on at the master, or set transport: grpc)";
    return false;
  }
  if (!o_.tls && m.udp_authenticated) {
    *why = "the master seals its UDP packets (TLS on) but this agent's channel is plaintext: "
           "no way to get its keys";
    return false;
  }
  netstamp::Endpoint peer;
  const std::string& where = o_.udp_master.empty() ? o_.grpc_target : o_.udp_master;
  if (!resolve(where, o_.udp_master.empty() ? m.udp_port : 0, &peer, why)) return false;
  netstamp::SocketOptions so;
  so.mode = mode_of(o_.timestamping);
  so.interface = o_.interface;
  netstamp::Result<netstamp::TimestampingSocket> sock = netstamp::TimestampingSocket::open(peer.family(), so);
  if (!sock.ok()) {
    *why = "UDP socket: " + sock.status().message();
    return false;
  }
  if (netstamp::Status st = sock->connect(peer); !st.ok()) {
    *why = "UDP connect to " + peer.to_string() + ": " + st.message();
    return false;
  }
  netstamp::Result<netstamp::StampConverter> conv = netstamp::StampConverter::for_socket(*sock);
  if (!conv.ok()) {
    *why = "UDP timestamps: " + conv.status().message();
    return false;
  }
  const std::string mode = to_string(source_of(sock->mode()));
  const std::string reason = sock->mode_reason();
  state_ = std::make_unique<State>(State{std::move(sock.value()), std::move(conv.value()), peer,
                                         m.udp_authenticated, std::nullopt, {}, 0, 0});
  if (state_->sealed && !renew_session(why)) {
    state_.reset();
    return false;
  }
  description_ = "UDP " + peer.to_string() + ", " + mode + " timestamps" +
                 (reason.empty() ? "" : " (" + reason + ")") + ", " +
                 (state_->sealed ? "authenticated (keys over the mutual-TLS channel)"
                                 : "unauthenticated (TLS off)");
  unanswered_ = 0;
  return true;
}

LinkResult UdpLink::exchange() {
  LinkResult r;
  if (!state_) {
    r.error = LinkError::kUnreachable;
    r.message = "UDP not set up";
    return r;
  }
  State& s = *state_;
  if (s.sealed && local_.now_ns() >= s.renew_at_local) {
    std::string why;
    if (!renew_session(&why)) {
      // The current cookies are still good for the other half of their life.
      TS_LOG_WARN("renewing the UDP session failed: %s", why.c_str());
      s.renew_at_local = local_.now_ns() + 5'000'000'000;
    }
  }
  const uint64_t seq = rng_();
  wire::Session auth;
  if (s.sealed) {
    auth.key = *s.key;
    auth.cookie = s.cookies[s.next_cookie++ % s.cookies.size()];
  }
  wire::Result<wire::Datagram> req = wire::make_request(seq, s.sealed ? &auth : nullptr);
  if (!req.ok()) {
    r.error = LinkError::kBadAnswer;
    r.message = std::string("UDP request: ") + wire::to_string(req.error());
    return r;
  }
  const int64_t deadline_raw = local_.host_now_ns() + static_cast<int64_t>(o_.timeout_s * 1e9);
  auto remaining = [&] { return std::chrono::nanoseconds(std::max<int64_t>(0, deadline_raw - local_.host_now_ns())); };
  netstamp::Result<netstamp::PairedRead> before = s.conv.mark();
  if (!before.ok()) {
    r.error = LinkError::kStepped;
    r.message = "UDP: cannot read the clocks: " + before.status().message();
    return r;
  }
  netstamp::Result<netstamp::SendId> id =
      s.sock.send({reinterpret_cast<const std::byte*>(req->bytes.data()), req->size});
  if (!id.ok()) {
    r.error = LinkError::kUnreachable;
    r.message = "UDP send to " + s.peer.to_string() + ": " + id.status().message();
    return r;
  }
  netstamp::Result<netstamp::Timestamp> tx = s.sock.tx_timestamp(*id, std::min(remaining(), std::chrono::nanoseconds(50ms)));
  std::optional<wire::Response> resp;
  std::optional<wire::FollowUp> fu;
  netstamp::Timestamp rx;
  std::array<std::byte, 512> buf{};
  const wire::SessionKey* key = s.sealed ? &*s.key : nullptr;
  while (!(resp && fu)) {
    netstamp::Result<netstamp::Datagram> d = s.sock.recv(buf, remaining());
    if (!d.ok()) {
      if (d.code() == netstamp::Errc::kTimeout) break;
      // ICMP port unreachable on the connected socket: nobody listens.
      r.error = LinkError::kUnreachable;
      r.message = "UDP " + s.peer.to_string() + ": " + d.status().message();
      return r;
    }
    const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(buf.data()), d->size);
    wire::Result<wire::Answer> a = wire::open_answer(bytes, key, seq);
    if (!a.ok()) {
      drop(wire::to_string(a.error()));
      continue;
    }
    if (const auto* p = std::get_if<wire::Response>(&*a)) {
      if (resp) {
        drop("duplicate");
        continue;
      }
      resp = *p;
      rx = d->rx;
    } else {
      if (fu) {
        drop("duplicate");
        continue;
      }
      fu = std::get<wire::FollowUp>(*a);
    }
  }
  if (!resp || !fu) {
    r.error = LinkError::kTimeout;
    r.message = std::string("UDP ") + s.peer.to_string() + ": " +
                (resp ? "no follow-up" : "no answer") + " within " + std::to_string(o_.timeout_s) + " s";
    // Sealed requests nobody answers: the master may have restarted with new
    // cookie keys. Ask for a new session (over gRPC) after two in a row.
    if (s.sealed && ++unanswered_ >= 2) {
      unanswered_ = 0;
      s.renew_at_local = 0;
    }
    return r;
  }
  unanswered_ = 0;
  if (!tx.ok() || !tx->present() || !rx.present()) {
    // The kernel gives no stamp for the first packets after it switches
    // stamping on (and none when the driver does not stamp): no sample.
    r.error = LinkError::kBadAnswer;
    r.message = std::string("UDP: the kernel gave no ") + (!rx.present() ? "receive" : "transmit") + " timestamp";
    return r;
  }
  if (fu->epoch != resp->epoch) {
    r.error = LinkError::kStepped;
    r.message = "UDP: the master's timeline stepped between t1 and t2";
    return r;
  }
  const netstamp::Conversion c0 = s.conv.convert(*tx, *before);
  const netstamp::Conversion c3 = s.conv.convert(rx, *before);
  if (!c0.ok() || !c3.ok()) {
    r.error = LinkError::kStepped;
    r.message = std::string("UDP: CLOCK_REALTIME stepped during the exchange (") +
                netstamp::to_string((!c0.ok() ? c0 : c3).verdict) + "): sample dropped";
    return r;
  }
  r.ex.x.t0 = LocalTime{local_.from_host_raw_ns(c0.raw_ns)};
  r.ex.x.t3 = LocalTime{local_.from_host_raw_ns(c3.raw_ns)};
  r.ex.x.t1_ns = resp->t1_ns;
  r.ex.x.t2_ns = fu->t2_ns;
  r.ex.x.master_error_ns = fu->master_error_ns;
  // +1 each for the raw -> local mapping's rounding.
  r.ex.x.stamp_error_ns = static_cast<uint64_t>(std::max(c0.uncertainty_ns, c3.uncertainty_ns)) + 2;
  r.ex.local_stamps = r.ex.master_stamps = source_of(s.sock.mode());
  r.ex.master.instance = resp->instance;
  r.ex.master.epoch = resp->epoch;
  r.ex.master.timebase = resp->timebase == wire::Timebase::kRealtime ? MasterTimebase::kRealtime
                                                                     : MasterTimebase::kMonotonic;
  r.ex.master.error_ns = fu->master_error_ns;
  return r;
}

}  // namespace timesync::agent
