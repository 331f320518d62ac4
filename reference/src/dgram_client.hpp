// A datagram socket that asks one local daemon and waits for its answers
// (internal to reference/: chronyd's command socket, ptp4l's management socket).
//
// Unix: the reply address is a socket in a private directory made for it
// (mkdtemp, mode 0700) under `reply_dir_parent`, connected to the daemon's
// socket so that only the daemon's datagrams arrive; both are removed by the
// destructor. A daemon that dropped root (chronyd as _chrony) cannot send into
// a root-owned 0700 directory, so when this process is root and the daemon's
// socket belongs to another user, the directory and socket are handed to that
// user (still 0700). UDP: a socket connected to a numeric address and port.
//
// Thread safety: one thread at a time.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "timesync/reference/status.hpp"

namespace timesync::reference::detail {

class DgramClient {
 public:
  // `address`: an absolute Unix socket path, or "IPv4:port" / "[IPv6]:port".
  // `reply_dir_parent`: where the private directory is made (Unix only); empty
  // means the directory of the daemon's socket, as chronyc does.
  static Result<DgramClient> open(const std::string& address, const std::string& reply_dir_parent,
                                  const std::string& tag);

  DgramClient(DgramClient&& other) noexcept;
  DgramClient& operator=(DgramClient&& other) noexcept;
  DgramClient(const DgramClient&) = delete;
  DgramClient& operator=(const DgramClient&) = delete;
  ~DgramClient();

  Status send(std::span<const uint8_t> bytes);
  // One datagram (its full length, which may exceed buf.size(): then only
  // buf.size() bytes were kept), or kTimeout once `deadline` has passed.
  Result<std::size_t> receive(std::span<uint8_t> buf, std::chrono::steady_clock::time_point deadline);

  const std::string& address() const { return address_; }
  const std::string& reply_path() const { return reply_path_; }  // empty for UDP

 private:
  DgramClient(int fd, std::string address, std::string reply_dir, std::string reply_path)
      : fd_(fd), address_(std::move(address)), reply_dir_(std::move(reply_dir)),
        reply_path_(std::move(reply_path)) {}
  void close();

  int fd_ = -1;
  std::string address_;
  std::string reply_dir_;
  std::string reply_path_;
};

}  // namespace timesync::reference::detail
