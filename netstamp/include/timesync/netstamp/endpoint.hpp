// A UDP endpoint: an IPv4 or IPv6 address and a port (a sockaddr by value).
//
// Addresses are numeric only ("127.0.0.1", "::1", "fe80::1%eth0"): resolving
// names can block for seconds, which has no place next to timestamping, so
// callers resolve first.
//
// Thread safety: plain values.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "timesync/netstamp/status.hpp"

namespace timesync::netstamp {

enum class Family : uint8_t { kIPv4, kIPv6 };

class Endpoint {
 public:
  Endpoint() = default;  // unspecified (family AF_UNSPEC); compares unequal to any address

  // A numeric address (IPv6 may carry a %scope) and a port.
  static Result<Endpoint> parse(std::string_view address, uint16_t port);
  static Endpoint loopback(Family family, uint16_t port = 0);  // 127.0.0.1 or ::1
  static Endpoint any(Family family, uint16_t port = 0);       // 0.0.0.0 or ::
  // From what the kernel wrote (recvmsg, getsockname); unspecified if the
  // family is neither AF_INET nor AF_INET6 or len is too short.
  static Endpoint from_sockaddr(const sockaddr* addr, socklen_t len);

  bool valid() const { return storage_.ss_family == AF_INET || storage_.ss_family == AF_INET6; }
  Family family() const { return storage_.ss_family == AF_INET6 ? Family::kIPv6 : Family::kIPv4; }
  uint16_t port() const;
  std::string to_string() const;  // "127.0.0.1:7470", "[::1]:7470", "?" if unspecified

  const sockaddr* addr() const { return reinterpret_cast<const sockaddr*>(&storage_); }
  socklen_t addr_len() const { return len_; }

  friend bool operator==(const Endpoint& a, const Endpoint& b);

 private:
  sockaddr_storage storage_{};
  socklen_t len_ = 0;
};

}  // namespace timesync::netstamp
