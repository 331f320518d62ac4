#include "timesync/reference/chrony_sock_refclock.hpp"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <utility>

namespace timesync::reference {
namespace {

// chrony's struct, field for field (refclock_sock.c).
struct NativeSockSample {
  timeval tv;
  double offset;
  int pulse;
  int leap;
  int pad;
  int magic;
};
static_assert(sizeof(NativeSockSample) == kSockSampleBytes, "struct sock_sample is 40 bytes with 64-bit time_t");
static_assert(offsetof(NativeSockSample, offset) == 16);
static_assert(offsetof(NativeSockSample, magic) == 36);

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0); }

}  // namespace

std::array<uint8_t, kSockSampleBytes> encode_sock_sample(const SockSample& sample) {
  NativeSockSample s{};
  const int64_t us = floor_div(sample.realtime_ns, 1000);
  s.tv.tv_sec = static_cast<time_t>(floor_div(us, 1'000'000));
  s.tv.tv_usec = static_cast<suseconds_t>(us - int64_t{s.tv.tv_sec} * 1'000'000);
  s.offset = static_cast<double>(sample.offset_ns) * 1e-9;
  s.pulse = 0;
  s.leap = static_cast<int>(sample.leap);
  s.pad = 0;
  s.magic = kSockMagic;
  std::array<uint8_t, kSockSampleBytes> out{};
  std::memcpy(out.data(), &s, sizeof s);
  return out;
}

Result<ChronySockRefclock> ChronySockRefclock::open(Params params) {
  sockaddr_un addr{};
  if (params.socket_path.empty() || params.socket_path.size() >= sizeof(addr.sun_path)) {
    return Status(Errc::kInvalidArgument, "bad refclock socket path '" + params.socket_path + "'");
  }
  if (params.max_error_ns <= 0) return Status(Errc::kInvalidArgument, "max_error_ns must be > 0");
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return system_error("socket", errno);
  return ChronySockRefclock(fd, std::move(params));
}

ChronySockRefclock::ChronySockRefclock(ChronySockRefclock&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), params_(std::move(other.params_)) {}

ChronySockRefclock& ChronySockRefclock::operator=(ChronySockRefclock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    params_ = std::move(other.params_);
  }
  return *this;
}

ChronySockRefclock::~ChronySockRefclock() {
  if (fd_ >= 0) ::close(fd_);
}

Status ChronySockRefclock::send(const SockSample& sample, int64_t error_ns) {
  if (error_ns < 0 || error_ns > params_.max_error_ns) {
    return Status(Errc::kOutOfRange, "sample not sent: error " + std::to_string(error_ns) + " ns outside 0.." +
                                         std::to_string(params_.max_error_ns) +
                                         " ns, what the refclock's delay covers");
  }
  const auto bytes = encode_sock_sample(sample);
  // Not connected: chronyd recreates its socket when it restarts, and a
  // sendto finds the new one.
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, params_.socket_path.data(), params_.socket_path.size());
  for (;;) {
    const ssize_t n = ::sendto(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&addr),
                               sizeof addr);
    if (n == static_cast<ssize_t>(bytes.size())) return {};
    if (n >= 0) return Status(Errc::kSystem, "send to " + params_.socket_path + ": short write");
    if (errno == EINTR) continue;
    return system_error("send to chronyd's refclock socket " + params_.socket_path, errno);
  }
}

std::string ChronySockRefclock::chrony_conf_line(const Params& params, const std::string& refid, int poll) {
  char delay[32];
  std::snprintf(delay, sizeof delay, "%.9g", 2.0 * static_cast<double>(params.max_error_ns) * 1e-9);
  return "refclock SOCK " + params.socket_path + " refid " + refid + " poll " + std::to_string(poll) + " delay " +
         delay;
}

}  // namespace timesync::reference
