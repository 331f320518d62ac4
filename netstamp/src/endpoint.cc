#include "timesync/netstamp/endpoint.hpp"

#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>

#include <cstring>
#include <string>

namespace timesync::netstamp {

Result<Endpoint> Endpoint::parse(std::string_view address, uint16_t port) {
  const std::string host(address);
  const std::string service = std::to_string(port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  // Numeric only: getaddrinfo then never touches DNS, and still parses an
  // IPv6 scope ("fe80::1%eth0"), which inet_pton does not.
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* list = nullptr;
  const int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &list);
  if (rc != 0 || list == nullptr) {
    return Status(Errc::kInvalidArgument,
                  "'" + host + "' is not a numeric IPv4 or IPv6 address (" + gai_strerror(rc) + ")");
  }
  Endpoint e = from_sockaddr(list->ai_addr, list->ai_addrlen);
  freeaddrinfo(list);
  if (!e.valid()) return Status(Errc::kInvalidArgument, "'" + host + "': unexpected address family");
  return e;
}

Endpoint Endpoint::loopback(Family family, uint16_t port) {
  Endpoint e;
  if (family == Family::kIPv4) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::memcpy(&e.storage_, &a, sizeof a);
    e.len_ = sizeof a;
  } else {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    a.sin6_addr = in6addr_loopback;
    std::memcpy(&e.storage_, &a, sizeof a);
    e.len_ = sizeof a;
  }
  return e;
}

Endpoint Endpoint::any(Family family, uint16_t port) {
  Endpoint e;
  if (family == Family::kIPv4) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    std::memcpy(&e.storage_, &a, sizeof a);
    e.len_ = sizeof a;
  } else {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    a.sin6_addr = in6addr_any;
    std::memcpy(&e.storage_, &a, sizeof a);
    e.len_ = sizeof a;
  }
  return e;
}

Endpoint Endpoint::from_sockaddr(const sockaddr* addr, socklen_t len) {
  Endpoint e;
  if (addr == nullptr) return e;
  if (addr->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    std::memcpy(&e.storage_, addr, sizeof(sockaddr_in));
    e.len_ = sizeof(sockaddr_in);
  } else if (addr->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    std::memcpy(&e.storage_, addr, sizeof(sockaddr_in6));
    e.len_ = sizeof(sockaddr_in6);
  }
  return e;
}

uint16_t Endpoint::port() const {
  if (storage_.ss_family == AF_INET) {
    sockaddr_in a;
    std::memcpy(&a, &storage_, sizeof a);
    return ntohs(a.sin_port);
  }
  if (storage_.ss_family == AF_INET6) {
    sockaddr_in6 a;
    std::memcpy(&a, &storage_, sizeof a);
    return ntohs(a.sin6_port);
  }
  return 0;
}

std::string Endpoint::to_string() const {
  char text[INET6_ADDRSTRLEN + IF_NAMESIZE + 2] = {};
  if (storage_.ss_family == AF_INET) {
    sockaddr_in a;
    std::memcpy(&a, &storage_, sizeof a);
    inet_ntop(AF_INET, &a.sin_addr, text, sizeof text);
    return std::string(text) + ":" + std::to_string(port());
  }
  if (storage_.ss_family == AF_INET6) {
    sockaddr_in6 a;
    std::memcpy(&a, &storage_, sizeof a);
    inet_ntop(AF_INET6, &a.sin6_addr, text, sizeof text);
    std::string s = "[" + std::string(text);
    if (a.sin6_scope_id != 0) {
      char name[IF_NAMESIZE] = {};
      s += "%";
      s += if_indextoname(a.sin6_scope_id, name) != nullptr ? std::string(name)
                                                             : std::to_string(a.sin6_scope_id);
    }
    return s + "]:" + std::to_string(port());
  }
  return "?";
}

bool operator==(const Endpoint& a, const Endpoint& b) {
  if (!a.valid() || !b.valid() || a.storage_.ss_family != b.storage_.ss_family) return false;
  if (a.storage_.ss_family == AF_INET) {
    sockaddr_in x, y;
    std::memcpy(&x, &a.storage_, sizeof x);
    std::memcpy(&y, &b.storage_, sizeof y);
    return x.sin_port == y.sin_port && x.sin_addr.s_addr == y.sin_addr.s_addr;
  }
  sockaddr_in6 x, y;
  std::memcpy(&x, &a.storage_, sizeof x);
  std::memcpy(&y, &b.storage_, sizeof y);
  return x.sin6_port == y.sin6_port && x.sin6_scope_id == y.sin6_scope_id &&
         std::memcmp(&x.sin6_addr, &y.sin6_addr, sizeof x.sin6_addr) == 0;
}

}  // namespace timesync::netstamp
