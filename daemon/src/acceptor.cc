#include "timesync/daemon/acceptor.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "timesync/daemon/log.hpp"

namespace timesync::daemon {
namespace {

constexpr int64_t kBackoffNs = 100'000'000;
constexpr int64_t kLogEveryNs = 10'000'000'000;
constexpr int kAcceptBatch = 64;  // per wake-up, so probes and stop stay prompt

int64_t steady_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

// "host:port", "[v6]:port" or ":port".
bool split_host_port(const std::string& s, std::string* host, std::string* port) {
  if (!s.empty() && s[0] == '[') {
    const size_t close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':') return false;
    *host = s.substr(1, close - 1);
    *port = s.substr(close + 2);
  } else {
    const size_t colon = s.rfind(':');
    if (colon == std::string::npos) return false;
    *host = s.substr(0, colon);
    *port = s.substr(colon + 1);
    if (host->find(':') != std::string::npos) return false;  // IPv6 needs brackets
  }
  return !port->empty();
}

bool is_wildcard(const std::string& host) {
  return host.empty() || host == "0.0.0.0" || host == "::";
}

// A v4-mapped IPv6 address as the IPv4 one, so that the probe's source and the
// peer a dual-stack socket reports compare equal.
sockaddr_storage normalized(const sockaddr_storage& a) {
  if (a.ss_family != AF_INET6) return a;
  const auto* a6 = reinterpret_cast<const sockaddr_in6*>(&a);
  if (!IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr)) return a;
  sockaddr_storage out{};
  auto* a4 = reinterpret_cast<sockaddr_in*>(&out);
  a4->sin_family = AF_INET;
  a4->sin_port = a6->sin6_port;
  std::memcpy(&a4->sin_addr, &a6->sin6_addr.s6_addr[12], 4);
  return out;
}

bool same_endpoint(const sockaddr_storage& x, const sockaddr_storage& y) {
  const sockaddr_storage a = normalized(x), b = normalized(y);
  if (a.ss_family != b.ss_family) return false;
  if (a.ss_family == AF_INET) {
    const auto* p = reinterpret_cast<const sockaddr_in*>(&a);
    const auto* q = reinterpret_cast<const sockaddr_in*>(&b);
    return p->sin_port == q->sin_port && p->sin_addr.s_addr == q->sin_addr.s_addr;
  }
  if (a.ss_family == AF_INET6) {
    const auto* p = reinterpret_cast<const sockaddr_in6*>(&a);
    const auto* q = reinterpret_cast<const sockaddr_in6*>(&b);
    return p->sin6_port == q->sin6_port &&
           std::memcmp(&p->sin6_addr, &q->sin6_addr, sizeof p->sin6_addr) == 0;
  }
  return false;
}

// A listening socket; -1 with *err = errno on failure.
int listen_on(const sockaddr* addr, socklen_t len, bool dual_stack, int* err) {
  const int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *err = errno;
    return -1;
  }
  const int one = 1, v6only = dual_stack ? 0 : 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (addr->sa_family == AF_INET6) {
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
  }
  // The kernel caps the backlog at net.core.somaxconn.
  if (::bind(fd, addr, len) != 0 || ::listen(fd, 4096) != 0) {
    *err = errno;
    close(fd);
    return -1;
  }
  return fd;
}

bool resource_shortage(int err) {
  return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

}  // namespace

std::unique_ptr<Acceptor> Acceptor::bind(const std::string& listen, std::string* why) {
  auto fail = [&](const std::string& what) -> std::unique_ptr<Acceptor> {
    if (why != nullptr) *why = "cannot listen on '" + listen + "': " + what;
    return nullptr;
  };
  std::string host, port_text;
  char* end = nullptr;
  if (!split_host_port(listen, &host, &port_text)) return fail("not a host:port");
  const long port = std::strtol(port_text.c_str(), &end, 10);
  if (*end != '\0' || port < 0 || port > 65535) return fail("bad port '" + port_text + "'");

  std::unique_ptr<Acceptor> a(new Acceptor);
  int err = 0;
  if (is_wildcard(host)) {
    // Every address: dual-stack IPv6, or IPv4 alone where there is no IPv6.
    sockaddr_in6 any6{};
    any6.sin6_family = AF_INET6;
    any6.sin6_addr = in6addr_any;
    any6.sin6_port = htons(static_cast<uint16_t>(port));
    int fd = listen_on(reinterpret_cast<sockaddr*>(&any6), sizeof any6, true, &err);
    if (fd < 0 && (err == EAFNOSUPPORT || err == EADDRNOTAVAIL)) {
      sockaddr_in any4{};
      any4.sin_family = AF_INET;
      any4.sin_addr.s_addr = htonl(INADDR_ANY);
      any4.sin_port = htons(static_cast<uint16_t>(port));
      fd = listen_on(reinterpret_cast<sockaddr*>(&any4), sizeof any4, false, &err);
    }
    if (fd < 0) return fail(std::strerror(err));
    a->listeners_.push_back(fd);
  } else {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    if (const int rc = getaddrinfo(host.c_str(), port_text.c_str(), &hints, &res); rc != 0) {
      return fail(gai_strerror(rc));
    }
    for (addrinfo* r = res; r != nullptr; r = r->ai_next) {
      const int fd = listen_on(r->ai_addr, r->ai_addrlen, false, &err);
      if (fd >= 0) {
        a->listeners_.push_back(fd);
      } else if (err == EADDRINUSE) {
        freeaddrinfo(res);
        return fail(std::strerror(err));  // another owner: refuse rather than share
      }
    }
    freeaddrinfo(res);
    if (a->listeners_.empty()) return fail(std::strerror(err));
  }

  // The probe dials the first socket; a wildcard one through loopback.
  sockaddr_storage local{};
  socklen_t len = sizeof local;
  if (getsockname(a->listeners_[0], reinterpret_cast<sockaddr*>(&local), &len) != 0) {
    return fail(std::strerror(errno));
  }
  if (local.ss_family == AF_INET6) {
    const auto* l6 = reinterpret_cast<const sockaddr_in6*>(&local);
    a->port_ = ntohs(l6->sin6_port);
    if (IN6_IS_ADDR_UNSPECIFIED(&l6->sin6_addr)) {
      // Dual-stack: IPv4 loopback reaches it too, and every host has one.
      auto* to = reinterpret_cast<sockaddr_in*>(&a->probe_to_);
      to->sin_family = AF_INET;
      to->sin_port = l6->sin6_port;
      to->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a->probe_to_len_ = sizeof(sockaddr_in);
    } else {
      a->probe_to_ = local;
      a->probe_to_len_ = sizeof(sockaddr_in6);
    }
  } else {
    auto* l4 = reinterpret_cast<sockaddr_in*>(&local);
    a->port_ = ntohs(l4->sin_port);
    if (l4->sin_addr.s_addr == htonl(INADDR_ANY)) l4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a->probe_to_ = local;
    a->probe_to_len_ = sizeof(sockaddr_in);
  }
  a->wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (a->wake_fd_ < 0) return fail(std::string("eventfd: ") + std::strerror(errno));
  return a;
}

Acceptor::~Acceptor() {
  stop();
  if (wake_fd_ >= 0) close(wake_fd_);
}

void Acceptor::start(std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> sink,
                     std::function<void(bool)> on_change) {
  sink_ = std::move(sink);
  on_change_ = std::move(on_change);
  const int64_t now = steady_ns();
  last_ok_ns_.store(now);
  next_probe_ns_ = now;
  cap_.store(cap());
  thread_ = std::thread([this] { run(); });
}

void Acceptor::stop() {
  if (stopping_.exchange(true)) return;
  if (thread_.joinable()) {
    const uint64_t one = 1;
    if (write(wake_fd_, &one, sizeof one) < 0) {
      // An eventfd write fails only on overflow: it is readable then anyway.
    }
    thread_.join();
  }
  for (int fd : listeners_) close(fd);
  listeners_.clear();
  for (const Probe& p : probes_) close(p.fd);
  probes_.clear();
}

bool Acceptor::accepting() const { return steady_ns() - last_ok_ns_.load() < kStaleAfterNs; }

Acceptor::Stats Acceptor::stats() const {
  Stats s;
  s.accepted = accepted_.load();
  s.refused = refused_.load();
  s.errors = errors_.load();
  s.cap = cap_.load();
  return s;
}

int Acceptor::cap() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) return cap_.load();
  const int64_t soft =
      r.rlim_cur == RLIM_INFINITY ? (int64_t{1} << 20) : static_cast<int64_t>(r.rlim_cur);
  const int64_t reserve = std::clamp<int64_t>(soft / 16, 32, 256);
  return static_cast<int>(std::max<int64_t>(soft - reserve, 0));
}

void Acceptor::probe(int64_t now) {
  next_probe_ns_ = now + kProbeEveryNs;
  cap_.store(cap());  // the limit may have been changed from outside (prlimit)
  // Give up the probes whose connect failed (refused, timed out) or that are
  // too old to wait for. The others stay open: one queued behind EMFILE is
  // accepted once descriptors are back, and must still be recognised then,
  // not handed to gRPC as a client.
  std::erase_if(probes_, [now](const Probe& p) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(p.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err == 0 && now - p.sent_ns < kProbeGiveUpNs) return false;
    close(p.fd);
    return true;
  });
  if (!probes_.empty() && now - probes_.back().sent_ns < kStaleAfterNs) return;  // on its way
  if (probes_.size() >= kMaxProbes) return;
  const int fd = socket(probe_to_.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return;  // no descriptor: this probe fails, as a client's connect would
  if (connect(fd, reinterpret_cast<const sockaddr*>(&probe_to_), probe_to_len_) != 0 &&
      errno != EINPROGRESS) {
    close(fd);
    return;
  }
  Probe p{fd, {}, now};
  socklen_t len = sizeof p.from;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&p.from), &len) != 0) {
    close(fd);
    return;
  }
  probes_.push_back(p);
}

void Acceptor::handle(int listener, int fd, int64_t now) {
  sockaddr_storage peer{};
  socklen_t len = sizeof peer;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) {
    close(fd);  // already reset by the peer
    return;
  }
  for (auto p = probes_.begin(); p != probes_.end(); ++p) {
    if (!same_endpoint(peer, p->from)) continue;
    close(fd);
    close(p->fd);
    probes_.erase(p);
    last_ok_ns_.store(now);
    return;
  }
  // The cap is refreshed at each probe; before refusing, make sure it is not
  // stale (a limit raised since, with prlimit or after a spell of EMFILE).
  if (fd >= cap_.load()) cap_.store(cap());
  if (fd >= cap_.load()) {
    close(fd);
    refused_.fetch_add(1);
    if (now >= next_refusal_log_ns_) {
      const uint64_t n = refused_.load();
      TS_LOG_WARN("refused %llu connection(s) on port %d since the last report: %d descriptors "
                  "are open and connections stay below %d (the soft RLIMIT_NOFILE minus a "
                  "reserve; LimitNOFILE= raises it)",
                  static_cast<unsigned long long>(n - refusals_logged_), port_, fd, cap_.load());
      refusals_logged_ = n;
      next_refusal_log_ns_ = now + kLogEveryNs;
    }
    return;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  grpc::experimental::ExternalConnectionAcceptor::NewConnectionParameters p;
  p.listener_fd = listener;
  p.fd = fd;
  sink_->HandleNewConnection(&p);  // gRPC owns fd from here
  accepted_.fetch_add(1);
}

void Acceptor::run() {
  std::vector<pollfd> fds;
  int64_t backoff_until = 0;
  while (!stopping_.load()) {
    const int64_t now = steady_ns();
    if (now >= next_probe_ns_) probe(now);
    if (const bool ok = accepting(); ok != reported_accepting_) {
      reported_accepting_ = ok;
      if (ok) {
        TS_LOG_INFO("accepting connections on port %d again", port_);
      } else {
        TS_LOG_ERROR("not accepting connections on port %d: no connection to itself got through "
                     "for %.0f s (%llu accept failures for want of descriptors or memory)",
                     port_, static_cast<double>(kStaleAfterNs) / 1e9,
                     static_cast<unsigned long long>(errors_.load()));
      }
      if (on_change_) on_change_(ok);
    }
    fds.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    const bool backing_off = now < backoff_until;
    if (!backing_off) {
      for (int l : listeners_) fds.push_back({l, POLLIN, 0});
    }
    const int64_t wake_at = backing_off ? std::min(next_probe_ns_, backoff_until) : next_probe_ns_;
    const int timeout_ms = static_cast<int>(std::max<int64_t>(0, (wake_at - now + 999'999) / 1'000'000));
    if (poll(fds.data(), fds.size(), timeout_ms) <= 0) continue;
    if (fds[0].revents != 0) break;
    for (size_t i = 1; i < fds.size(); ++i) {
      if ((fds[i].revents & POLLIN) == 0) continue;
      for (int k = 0; k < kAcceptBatch; ++k) {
        const int fd = accept4(fds[i].fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
          handle(fds[i].fd, fd, steady_ns());
          continue;
        }
        const int err = errno;
        if (err == EAGAIN || err == EWOULDBLOCK) break;
        if (!resource_shortage(err)) continue;  // ECONNABORTED, EPROTO, EPERM, ...: next one
        // Out of descriptors or memory: the connection waits in the backlog
        // and we retry shortly. Never give the socket up.
        errors_.fetch_add(1);
        const int64_t t = steady_ns();
        if (t >= next_error_log_ns_) {
          const uint64_t n = errors_.load();
          TS_LOG_WARN("accept on port %d: %s (%llu time(s) since the last report); retrying "
                      "every %.1f s",
                      port_, std::strerror(err), static_cast<unsigned long long>(n - errors_logged_),
                      static_cast<double>(kBackoffNs) / 1e9);
          errors_logged_ = n;
          next_error_log_ns_ = t + kLogEveryNs;
        }
        backoff_until = t + kBackoffNs;
        break;
      }
    }
  }
}

}  // namespace timesync::daemon
