#include "dgram_client.hpp"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>
#include <vector>

#include "timesync/netstamp/endpoint.hpp"

namespace timesync::reference::detail {
namespace {

bool fill_unix(const std::string& path, sockaddr_un* addr) {
  if (path.empty() || path.size() >= sizeof(addr->sun_path)) return false;
  std::memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  std::memcpy(addr->sun_path, path.data(), path.size());
  return true;
}

std::string parent_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// "127.0.0.1:323", "[::1]:323".
Result<netstamp::Endpoint> parse_udp(const std::string& address) {
  std::string host;
  std::string port;
  if (!address.empty() && address.front() == '[') {
    const auto close = address.find("]:");
    if (close == std::string::npos) return Status(Errc::kInvalidArgument, "bad address '" + address + "'");
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
  } else {
    const auto colon = address.rfind(':');
    if (colon == std::string::npos) {
      return Status(Errc::kInvalidArgument,
                    "bad address '" + address + "': a Unix socket path (absolute) or IP:port");
    }
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
  }
  char* end = nullptr;
  const unsigned long n = std::strtoul(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || n == 0 || n > 65535) {
    return Status(Errc::kInvalidArgument, "bad port in '" + address + "'");
  }
  auto ep = netstamp::Endpoint::parse(host, static_cast<uint16_t>(n));
  if (!ep.ok()) return Status(Errc::kInvalidArgument, "bad address '" + address + "': " + ep.status().message());
  return *ep;
}

}  // namespace

Result<DgramClient> DgramClient::open(const std::string& address, const std::string& reply_dir_parent,
                                      const std::string& tag) {
  if (address.empty() || address.front() != '/') {
    auto ep = parse_udp(address);
    if (!ep.ok()) return ep.status();
    const int fd = ::socket(ep->addr()->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return system_error("socket", errno);
    if (::connect(fd, ep->addr(), ep->addr_len()) != 0) {
      const int err = errno;
      ::close(fd);
      return system_error("connect " + address, err);
    }
    return DgramClient(fd, address, "", "");
  }

  sockaddr_un server{};
  if (!fill_unix(address, &server)) return Status(Errc::kInvalidArgument, "socket path too long: " + address);
  struct stat server_st{};
  if (::stat(address.c_str(), &server_st) != 0) return system_error(address, errno);

  const std::string parent = reply_dir_parent.empty() ? parent_of(address) : reply_dir_parent;
  std::string templ = parent + "/." + tag + "-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) return system_error("mkdtemp " + templ, errno);
  std::string dir(buf.data());
  std::string path = dir + "/reply.sock";
  sockaddr_un local{};
  if (!fill_unix(path, &local)) {
    ::rmdir(dir.c_str());
    return Status(Errc::kInvalidArgument, "reply socket path too long: " + path);
  }
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    const int err = errno;
    ::rmdir(dir.c_str());
    return system_error("socket", err);
  }
  DgramClient client(fd, address, dir, "");  // removes what exists so far on any return below
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0) {
    return system_error("bind " + path, errno);
  }
  client.reply_path_ = path;
  if (::geteuid() == 0 && server_st.st_uid != 0) {
    if (::chown(dir.c_str(), server_st.st_uid, server_st.st_gid) != 0 ||
        ::chown(path.c_str(), server_st.st_uid, server_st.st_gid) != 0) {
      return system_error("chown " + dir + " to the owner of " + address, errno);
    }
  }
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&server), sizeof server) != 0) {
    return system_error("connect " + address, errno);
  }
  return client;
}

DgramClient::DgramClient(DgramClient&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), address_(std::move(other.address_)),
      reply_dir_(std::exchange(other.reply_dir_, {})), reply_path_(std::exchange(other.reply_path_, {})) {}

DgramClient& DgramClient::operator=(DgramClient&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    address_ = std::move(other.address_);
    reply_dir_ = std::exchange(other.reply_dir_, {});
    reply_path_ = std::exchange(other.reply_path_, {});
  }
  return *this;
}

DgramClient::~DgramClient() { close(); }

void DgramClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!reply_path_.empty()) ::unlink(reply_path_.c_str());
  if (!reply_dir_.empty()) ::rmdir(reply_dir_.c_str());
  reply_path_.clear();
  reply_dir_.clear();
}

Status DgramClient::send(std::span<const uint8_t> bytes) {
  for (;;) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(bytes.size())) return {};
    if (n >= 0) return Status(Errc::kSystem, "send to " + address_ + ": short write");
    if (errno == EINTR) continue;
    return system_error("send to " + address_, errno);
  }
}

Result<std::size_t> DgramClient::receive(std::span<uint8_t> buf, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    const auto left = std::max(deadline - std::chrono::steady_clock::now(),
                               std::chrono::steady_clock::duration::zero());
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    pollfd p{fd_, POLLIN, 0};
    const int rc = ::ppoll(&p, 1, &ts, nullptr);
    if (rc < 0) {
      if (errno == EINTR) continue;
      return system_error("poll", errno);
    }
    if (rc == 0) return Status(Errc::kTimeout, "no reply from " + address_);
    const ssize_t n = ::recv(fd_, buf.data(), buf.size(), MSG_TRUNC | MSG_DONTWAIT);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR || errno == EAGAIN) continue;
    // A refused earlier send (nobody bound at the path, UDP port closed) shows up here.
    return system_error("receive from " + address_, errno);
  }
}

}  // namespace timesync::reference::detail
