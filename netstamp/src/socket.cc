#include "timesync/netstamp/socket.hpp"

#include <linux/errqueue.h>
#include <linux/net_tstamp.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "timesync/netstamp/interface.hpp"

namespace timesync::netstamp {
namespace {

using Deadline = std::chrono::steady_clock::time_point;  // CLOCK_MONOTONIC on Linux

// SCM_TS_OPT_ID (Linux 6.13) lets each sendmsg carry its own OPT_ID, so ids
// cannot drift from ours. Its value is 81 in asm-generic/socket.h; the
// architectures with their own socket.h (alpha, mips, parisc, sparc) number
// it differently and are left on the counter.
#if defined(SCM_TS_OPT_ID)
constexpr int kScmTsOptId = SCM_TS_OPT_ID;
#elif defined(__x86_64__) || defined(__i386__) || defined(__aarch64__) || defined(__arm__) || \
    defined(__riscv) || defined(__loongarch__)
constexpr int kScmTsOptId = 81;
#else
constexpr int kScmTsOptId = -1;
#endif

// OPT_ID numbers transmit stamps; OPT_TSONLY returns the stamp without a copy
// of the packet (less receive buffer per pending stamp, and no packet data
// handed back). OPT_CMSG would only add IP_PKTINFO, which nothing here uses.
constexpr unsigned kSoftwareFlags = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_TX_SOFTWARE |
                                    SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_ID |
                                    SOF_TIMESTAMPING_OPT_TSONLY;
constexpr unsigned kHardwareFlags = SOF_TIMESTAMPING_RX_HARDWARE | SOF_TIMESTAMPING_TX_HARDWARE |
                                    SOF_TIMESTAMPING_RAW_HARDWARE | SOF_TIMESTAMPING_OPT_ID |
                                    SOF_TIMESTAMPING_OPT_TSONLY;

constexpr std::size_t kControlBytes = 512;  // errqueue: extended error + offender + stamps

int64_t raw_now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

Deadline deadline_after(std::chrono::nanoseconds timeout) {
  return std::chrono::steady_clock::now() + std::max(timeout, std::chrono::nanoseconds(0));
}

std::string describe_timeout(std::chrono::nanoseconds timeout) {
  return std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(timeout).count()) + " us";
}

// revents (> 0), 0 when the deadline passed first, or -errno. POLLERR is
// reported whatever `events` asks for, which is how a pending transmit stamp
// (or socket error) wakes a wait with events 0.
int wait_for(int fd, short events, Deadline deadline) {
  for (;;) {
    const auto left = std::max(deadline - std::chrono::steady_clock::now(),
                               std::chrono::steady_clock::duration::zero());
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    pollfd p{fd, events, 0};
    const int rc = ppoll(&p, 1, &ts, nullptr);
    if (rc > 0) return p.revents;
    if (rc == 0) return 0;
    if (errno != EINTR) return -errno;
  }
}

// The three stamps of SCM_TIMESTAMPING (software, legacy, hardware), in ns,
// whichever layout the kernel used; false if `c` is not one.
bool read_scm_timestamping(const cmsghdr* c, int64_t out[3]) {
  if (c->cmsg_level != SOL_SOCKET) return false;
  const auto* data = CMSG_DATA(c);
  const std::size_t len = c->cmsg_len - CMSG_LEN(0);
#ifdef SO_TIMESTAMPING_NEW
  if (c->cmsg_type == SO_TIMESTAMPING_NEW) {
    struct { int64_t sec, nsec; } ts[3];
    if (len < sizeof ts) return false;
    std::memcpy(ts, data, sizeof ts);
    for (int i = 0; i < 3; ++i) out[i] = ts[i].sec * 1'000'000'000 + ts[i].nsec;
    return true;
  }
#endif
#ifdef SO_TIMESTAMPING_OLD
  constexpr int kOld = SO_TIMESTAMPING_OLD;
#else
  constexpr int kOld = SO_TIMESTAMPING;
#endif
  if (c->cmsg_type == kOld) {
    struct { long sec, nsec; } ts[3];  // __kernel_old_timespec: the kernel's long
    if (len < sizeof ts) return false;
    std::memcpy(ts, data, sizeof ts);
    for (int i = 0; i < 3; ++i) out[i] = int64_t{ts[i].sec} * 1'000'000'000 + ts[i].nsec;
    return true;
  }
  return false;
}

Timestamp pick(TimestampMode mode, const int64_t ts[3]) {
  if (mode == TimestampMode::kHardware) {
    return ts[2] != 0 ? Timestamp{StampSource::kHardware, ts[2]} : Timestamp{};
  }
  return ts[0] != 0 ? Timestamp{StampSource::kKernelSoftware, ts[0]} : Timestamp{};
}

// true when `a` is at or after `b` in the wrapping 32-bit id sequence.
bool at_or_after(SendId a, SendId b) { return static_cast<uint32_t>(a - b) < 0x8000'0000u; }

Status set_flags(int fd, unsigned flags, const char* what) {
  const int value = static_cast<int>(flags);
  if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &value, sizeof value) != 0) {
    return system_error(std::string("setsockopt(SO_TIMESTAMPING, ") + what + ")", errno);
  }
  return {};
}

// Turns on hardware stamping on the interface (device-wide: other users of
// the NIC, ptp4l for one, see it too, which is why a configuration that
// already stamps everything is left alone and nothing is undone on close),
// then asks for hardware stamps on the socket. Returns the PHC index.
Result<int> enable_hardware(int fd, const std::string& ifname) {
  Result<InterfaceTimestamping> caps = query_interface(fd, ifname);
  if (!caps.ok()) return caps.status();
  if (!caps->hardware()) return Status(Errc::kUnsupported, caps->hardware_missing());

  hwtstamp_config cfg{};
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, ifname.data(), std::min(ifname.size(), std::size_t{IFNAMSIZ - 1}));
  ifr.ifr_data = reinterpret_cast<char*>(&cfg);
  const bool already = ioctl(fd, SIOCGHWTSTAMP, &ifr) == 0 && cfg.tx_type == HWTSTAMP_TX_ON &&
                       cfg.rx_filter == HWTSTAMP_FILTER_ALL;
  if (!already) {
    cfg = hwtstamp_config{};
    cfg.tx_type = HWTSTAMP_TX_ON;
    cfg.rx_filter = HWTSTAMP_FILTER_ALL;
    if (ioctl(fd, SIOCSHWTSTAMP, &ifr) != 0) {
      const int err = errno;
      if (err == EPERM) {
        return Status(Errc::kPermission, "SIOCSHWTSTAMP on '" + ifname + "' needs CAP_NET_ADMIN", err);
      }
      if (err == ERANGE || err == EOPNOTSUPP || err == EINVAL) {
        return Status(Errc::kUnsupported,
                      "interface '" + ifname + "' refused hardware stamping (TX_ON, FILTER_ALL): " +
                          std::strerror(err),
                      err);
      }
      return system_error("SIOCSHWTSTAMP on '" + ifname + "'", err);
    }
    if (cfg.tx_type != HWTSTAMP_TX_ON || cfg.rx_filter != HWTSTAMP_FILTER_ALL) {
      return Status(Errc::kUnsupported, "interface '" + ifname + "' set tx_type " +
                                            std::to_string(cfg.tx_type) + ", rx_filter " +
                                            std::to_string(cfg.rx_filter) +
                                            " instead of TX_ON, FILTER_ALL");
    }
  }
  Status st = set_flags(fd, kHardwareFlags, "hardware");
  if (!st.ok()) return st;
  return caps->phc_index;
}

}  // namespace

const char* to_string(TimestampMode mode) {
  switch (mode) {
    case TimestampMode::kUser: return "user";
    case TimestampMode::kSoftware: return "software";
    case TimestampMode::kHardware: return "hardware";
    case TimestampMode::kAuto: return "auto";
  }
  return "unknown";
}

TimestampingSocket::TimestampingSocket(int fd, Family family, const SocketOptions& options)
    : fd_(fd), family_(family), options_(options) {}

TimestampingSocket::TimestampingSocket(TimestampingSocket&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      family_(other.family_),
      options_(std::move(other.options_)),
      mode_(other.mode_),
      mode_reason_(std::move(other.mode_reason_)),
      phc_index_(other.phc_index_),
      opt_id_cmsg_(other.opt_id_cmsg_),
      out_of_step_(other.out_of_step_),
      next_id_(other.next_id_),
      tx_cache_(std::move(other.tx_cache_)),
      counters_(other.counters_) {}

TimestampingSocket& TimestampingSocket::operator=(TimestampingSocket&& other) noexcept {
  if (this != &other) {
    close_fd();
    fd_ = std::exchange(other.fd_, -1);
    family_ = other.family_;
    options_ = std::move(other.options_);
    mode_ = other.mode_;
    mode_reason_ = std::move(other.mode_reason_);
    phc_index_ = other.phc_index_;
    opt_id_cmsg_ = other.opt_id_cmsg_;
    out_of_step_ = other.out_of_step_;
    next_id_ = other.next_id_;
    tx_cache_ = std::move(other.tx_cache_);
    counters_ = other.counters_;
  }
  return *this;
}

TimestampingSocket::~TimestampingSocket() { close_fd(); }

void TimestampingSocket::close_fd() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Result<TimestampingSocket> TimestampingSocket::open(Family family, const SocketOptions& options) {
  const int domain = family == Family::kIPv4 ? AF_INET : AF_INET6;
  const int fd = ::socket(domain, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) return system_error(family == Family::kIPv4 ? "socket(AF_INET)" : "socket(AF_INET6)", errno);
  TimestampingSocket s(fd, family, options);
  if (family == Family::kIPv6) {
    const int v6only = options.v6_only ? 1 : 0;
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) != 0) {
      return system_error("setsockopt(IPV6_V6ONLY)", errno);
    }
  }
  if (options.bind_to_interface) {
    if (options.interface.empty()) {
      return Status(Errc::kInvalidArgument, "bind_to_interface without an interface name");
    }
    if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, options.interface.c_str(),
                   static_cast<socklen_t>(options.interface.size())) != 0) {
      const int err = errno;
      if (err == ENODEV) {
        return Status(Errc::kNoSuchInterface, "no interface '" + options.interface + "' in this network namespace");
      }
      return system_error("SO_BINDTODEVICE '" + options.interface + "'", err);
    }
  }
  Status st = s.enable_mode();
  if (!st.ok()) return st;
  return s;
}

Status TimestampingSocket::enable_mode() {
  const std::string& ifname = options_.interface;
  const auto software = [&](std::string reason) -> Status {
    Status st = set_flags(fd_, kSoftwareFlags, "software");
    if (!st.ok()) return st;
    mode_ = TimestampMode::kSoftware;
    mode_reason_ = std::move(reason);
    if (!ifname.empty()) {
      // Not fatal: the route may not use this interface. Said so that a
      // missing transmit stamp later has a visible cause.
      Result<InterfaceTimestamping> caps = query_interface(fd_, ifname);
      if (caps.ok() && !caps->software_tx()) {
        mode_reason_ += "; interface '" + ifname + "' does not report software transmit stamps";
      }
    }
    return {};
  };
  switch (options_.mode) {
    case TimestampMode::kUser:
      mode_ = TimestampMode::kUser;
      mode_reason_ = "user-space stamps requested";
      return {};
    case TimestampMode::kSoftware:
      return software("software stamps requested");
    case TimestampMode::kHardware: {
      if (ifname.empty()) {
        return Status(Errc::kInvalidArgument, "hardware timestamping needs SocketOptions::interface");
      }
      Result<int> phc = enable_hardware(fd_, ifname);
      if (!phc.ok()) return phc.status();
      mode_ = TimestampMode::kHardware;
      phc_index_ = *phc;
      mode_reason_ = "hardware stamps requested on '" + ifname + "' (/dev/ptp" + std::to_string(phc_index_) + ")";
      return {};
    }
    case TimestampMode::kAuto: {
      if (ifname.empty()) return software("auto without an interface: software");
      Result<int> phc = enable_hardware(fd_, ifname);
      if (phc.ok()) {
        mode_ = TimestampMode::kHardware;
        phc_index_ = *phc;
        mode_reason_ = "auto: hardware on '" + ifname + "' (/dev/ptp" + std::to_string(phc_index_) + ")";
        return {};
      }
      if (phc.code() == Errc::kNoSuchInterface) return phc.status();
      return software("auto: " + phc.status().message() + "; software stamps instead");
    }
  }
  return Status(Errc::kInvalidArgument, "unknown timestamping mode");
}

Status TimestampingSocket::bind(const Endpoint& local) {
  if (!local.valid()) return Status(Errc::kInvalidArgument, "bind: unspecified address");
  if (::bind(fd_, local.addr(), local.addr_len()) != 0) return system_error("bind " + local.to_string(), errno);
  return {};
}

Status TimestampingSocket::connect(const Endpoint& peer) {
  if (!peer.valid()) return Status(Errc::kInvalidArgument, "connect: unspecified address");
  if (::connect(fd_, peer.addr(), peer.addr_len()) != 0) {
    return system_error("connect " + peer.to_string(), errno);
  }
  return {};
}

Result<Endpoint> TimestampingSocket::local_endpoint() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return system_error("getsockname", errno);
  return Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss), len);
}

Result<SendId> TimestampingSocket::send(std::span<const std::byte> payload) {
  return send_impl(payload, nullptr);
}

Result<SendId> TimestampingSocket::send_to(std::span<const std::byte> payload, const Endpoint& peer) {
  if (!peer.valid()) return Status(Errc::kInvalidArgument, "send_to: unspecified address");
  return send_impl(payload, &peer);
}

Result<SendId> TimestampingSocket::send_impl(std::span<const std::byte> payload, const Endpoint* peer) {
  const SendId id = next_id_;
  const bool kernel = mode_ != TimestampMode::kUser;
  bool with_id = kernel && kScmTsOptId >= 0 && opt_id_cmsg_ != CmsgSupport::kNo;
  bool probing = false;  // the retry without SCM_TS_OPT_ID after EINVAL
  const Deadline deadline = deadline_after(options_.send_timeout);
  alignas(cmsghdr) unsigned char control[CMSG_SPACE(sizeof(uint32_t))] = {};
  for (;;) {
    iovec iov{const_cast<std::byte*>(payload.data()), payload.size()};
    msghdr msg{};
    msg.msg_name = peer != nullptr ? const_cast<sockaddr*>(peer->addr()) : nullptr;
    msg.msg_namelen = peer != nullptr ? peer->addr_len() : 0;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (with_id) {
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = kScmTsOptId;
      c->cmsg_len = CMSG_LEN(sizeof(uint32_t));
      const uint32_t value = id;
      std::memcpy(CMSG_DATA(c), &value, sizeof value);
    }
    // kUser: read before the call, so the packet cannot have left earlier.
    const int64_t user_stamp = kernel ? 0 : raw_now_ns();
    const ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
    if (n >= 0) {
      if (with_id) opt_id_cmsg_ = CmsgSupport::kYes;
      if (probing) opt_id_cmsg_ = CmsgSupport::kNo;
      ++next_id_;
      if (!kernel) cache_tx(id, Timestamp{StampSource::kUser, user_stamp});
      return id;
    }
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EINVAL && with_id && opt_id_cmsg_ == CmsgSupport::kUnknown) {
      // Kernels before 6.13 refuse the unknown cmsg before building the
      // packet (the counter is untouched): try once without, and if that
      // goes through, use the counter from now on.
      with_id = false;
      probing = true;
      continue;
    }
    if (err == EAGAIN || err == EWOULDBLOCK) {
      const int rev = wait_for(fd_, POLLOUT, deadline);
      if (rev < 0) return system_error("poll", -rev);
      if (rev == 0) {
        return Status(Errc::kTimeout, "send: no buffer space within " + describe_timeout(options_.send_timeout));
      }
      continue;
    }
    return system_error(peer != nullptr ? "sendto " + peer->to_string() : std::string("send"), err);
  }
}

void TimestampingSocket::cache_tx(SendId id, Timestamp stamp) {
  tx_cache_.emplace_back(id, stamp);
  ++counters_.tx_stamps_cached;
  while (tx_cache_.size() > std::max<std::size_t>(options_.max_cached_tx_stamps, 1)) {
    tx_cache_.pop_front();
    ++counters_.tx_stamps_evicted;
  }
}

Status TimestampingSocket::drain_error_queue() {
  bool any = false;
  for (;;) {
    alignas(cmsghdr) unsigned char control[kControlBytes];
    unsigned char data[64];
    iovec iov{data, sizeof data};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    if (::recvmsg(fd_, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN || err == EWOULDBLOCK) {
        return any ? Status() : Status(Errc::kTimeout, "error queue empty");
      }
      return system_error("recvmsg(MSG_ERRQUEUE)", err);
    }
    any = true;
    sock_extended_err ee{};
    bool have_ee = false;
    int64_t ts[3] = {0, 0, 0};
    bool have_ts = false;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if ((c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
          (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR)) {
        if (c->cmsg_len >= CMSG_LEN(sizeof ee)) {
          std::memcpy(&ee, CMSG_DATA(c), sizeof ee);
          have_ee = true;
        }
      } else if (read_scm_timestamping(c, ts)) {
        have_ts = true;
      }
    }
    if (!have_ee || !have_ts || ee.ee_errno != ENOMSG || ee.ee_origin != SO_EE_ORIGIN_TIMESTAMPING ||
        ee.ee_info != SCM_TSTAMP_SND) {
      ++counters_.errqueue_other;
      continue;
    }
    const SendId sid = ee.ee_data;
    if (at_or_after(sid, next_id_)) {
      // A stamp for a send we have not made: the kernel's counter ran ahead of
      // ours (a failed send that still consumed an id). Every match from here
      // could pair a packet with another's stamp, so none is made again.
      out_of_step_ = true;
      continue;
    }
    cache_tx(sid, pick(mode_, ts));
  }
}

Result<Timestamp> TimestampingSocket::tx_timestamp(SendId id, std::chrono::nanoseconds timeout) {
  if (at_or_after(id, next_id_)) {
    return Status(Errc::kInvalidArgument,
                  "id " + std::to_string(id) + " not sent yet (next is " + std::to_string(next_id_) + ")");
  }
  const auto take = [this, id]() -> std::optional<Timestamp> {
    const auto it = std::find_if(tx_cache_.begin(), tx_cache_.end(),
                                 [id](const auto& e) { return e.first == id; });
    if (it == tx_cache_.end()) return std::nullopt;
    const Timestamp t = it->second;
    tx_cache_.erase(it);
    return t;
  };
  const auto out_of_step = []() {
    return Status(Errc::kIdOutOfStep,
                  "the kernel's transmit stamp ids ran ahead of the sends; reopen the socket");
  };
  if (mode_ == TimestampMode::kUser) {
    if (auto t = take()) return *t;
    return Status(Errc::kInvalidArgument, "no user-space stamp for id " + std::to_string(id) +
                                              " (already read or evicted)");
  }
  if (out_of_step_) return out_of_step();
  const Deadline deadline = deadline_after(timeout);
  bool woke_on_error = false;
  for (;;) {
    Status drained = drain_error_queue();
    if (!drained.ok() && drained.code() != Errc::kTimeout) return drained;
    if (out_of_step_) return out_of_step();
    if (auto t = take()) return *t;
    if (drained.code() == Errc::kTimeout && woke_on_error) {
      // POLLERR with an empty error queue: a pending socket error (an ICMP
      // error on a connected socket). Reading it clears it; report it here.
      int err = 0;
      socklen_t len = sizeof err;
      if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0) {
        return system_error("socket error while waiting for a transmit stamp", err);
      }
    }
    const int rev = wait_for(fd_, 0, deadline);
    if (rev < 0) return system_error("poll", -rev);
    if (rev == 0) {
      return Status(Errc::kTimeout,
                    "no transmit stamp for id " + std::to_string(id) + " within " + describe_timeout(timeout));
    }
    woke_on_error = (rev & POLLERR) != 0;
  }
}

Result<Datagram> TimestampingSocket::recv(std::span<std::byte> buffer, std::chrono::nanoseconds timeout) {
  const Deadline deadline = deadline_after(timeout);
  for (;;) {
    alignas(cmsghdr) unsigned char control[kControlBytes];
    sockaddr_storage from{};
    iovec iov{buffer.data(), buffer.size()};
    msghdr msg{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof from;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(fd_, &msg, MSG_DONTWAIT);
    if (n >= 0) {
      // kUser: read after the call, so the packet cannot have arrived later.
      const int64_t user_stamp = mode_ == TimestampMode::kUser ? raw_now_ns() : 0;
      Datagram d;
      d.size = static_cast<std::size_t>(n);
      d.truncated = (msg.msg_flags & MSG_TRUNC) != 0;
      d.source = Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&from), msg.msg_namelen);
      if (mode_ == TimestampMode::kUser) {
        d.rx = Timestamp{StampSource::kUser, user_stamp};
      } else {
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
          int64_t ts[3] = {0, 0, 0};
          if (read_scm_timestamping(c, ts)) d.rx = pick(mode_, ts);
        }
      }
      return d;
    }
    const int err = errno;
    if (err == EINTR) continue;
    if (err != EAGAIN && err != EWOULDBLOCK) return system_error("recvmsg", err);
    const int rev = wait_for(fd_, POLLIN, deadline);
    if (rev < 0) return system_error("poll", -rev);
    if (rev == 0) return Status(Errc::kTimeout, "no datagram within " + describe_timeout(timeout));
    if ((rev & POLLIN) == 0 && (rev & POLLERR) != 0) {
      // Transmit stamps waiting keep POLLERR up; move them to the cache so the
      // wait does not spin. An empty queue means a socket error, which the
      // next recvmsg returns.
      Status drained = drain_error_queue();
      if (!drained.ok() && drained.code() != Errc::kTimeout) return drained;
    }
  }
}

}  // namespace timesync::netstamp
