// ChronySockRefclock: feeds synchronized time to chronyd as a reference clock
// (`refclock SOCK <path>` in chrony.conf), so chronyd, which has the privilege
// and the discipline loop, steers CLOCK_REALTIME. timesync never touches it.
//
// The datagram is chrony's documented `struct sock_sample` (refclock_sock.c),
// in this machine's native layout, as chronyd reads it:
//   struct timeval tv;  the CLOCK_REALTIME instant the sample refers to
//   double offset;      seconds, reference minus local: true time = tv + offset
//   int pulse;          0 here (not a PPS edge)
//   int leap;           0 normal, 1 insert, 2 delete (at the end of the UTC day)
//   int _pad;
//   int magic;          0x534f434b ("SOCK")
// chronyd creates the socket; the writer only sends to it. tv has microsecond
// resolution; the instant is truncated to it and the offset kept, which moves
// the sample by < 1 us x the frequency difference (picoseconds).
//
// Carrying the error. A SOCK sample has no error field, so chrony cannot be
// told each sample's bound. What it has are the refclock's options:
//   delay D          the source's root delay; D/2 is part of chrony's root
//                    distance (the maximum error it assumes and passes on to
//                    its own NTP clients, "Root delay" in chronyc tracking)
//   precision P      added to each sample's dispersion
//   maxdispersion M  drops filtered samples whose dispersion exceeds M
// Recommended (chrony_conf_line): D = 2 x max_error_ns, so chrony's root
// distance includes the largest bound timesync will ever feed it; and the
// writer refuses (kOutOfRange) a sample whose bound exceeds max_error_ns, so
// no sample outside what D covers reaches chrony. When timesync is out of sync
// it sends nothing and chrony sees the source go quiet (unreachable after 8
// polls) instead of being fed a wrong time.
//
// Units: ns. Thread safety: one thread at a time per writer.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>

#include "timesync/reference/status.hpp"

namespace timesync::reference {

enum class SockLeap : int { kNone = 0, kInsert = 1, kDelete = 2 };

inline constexpr int kSockMagic = 0x534f434b;
inline constexpr std::size_t kSockSampleBytes = 40;  // x86_64, aarch64: 64-bit time_t

struct SockSample {
  int64_t realtime_ns = 0;  // CLOCK_REALTIME of the measurement
  int64_t offset_ns = 0;    // synchronized time - realtime at that instant
  SockLeap leap = SockLeap::kNone;
};

// The native struct sock_sample bytes for `sample` (pure).
std::array<uint8_t, kSockSampleBytes> encode_sock_sample(const SockSample& sample);

class ChronySockRefclock {
 public:
  struct Params {
    std::string socket_path;            // as in `refclock SOCK <path>`
    int64_t max_error_ns = 1'000'000;   // the largest bound sent; chrony's delay = 2x this
  };

  static Result<ChronySockRefclock> open(Params params);

  ChronySockRefclock(ChronySockRefclock&& other) noexcept;
  ChronySockRefclock& operator=(ChronySockRefclock&& other) noexcept;
  ChronySockRefclock(const ChronySockRefclock&) = delete;
  ChronySockRefclock& operator=(const ChronySockRefclock&) = delete;
  ~ChronySockRefclock();

  // "At CLOCK_REALTIME sample.realtime_ns the synchronized time was
  // realtime_ns + offset_ns, within error_ns." kOutOfRange (nothing sent) if
  // error_ns > max_error_ns; kSystem if chronyd is not listening (ENOENT,
  // ECONNREFUSED) or its queue is full (EAGAIN: the sample is dropped).
  Status send(const SockSample& sample, int64_t error_ns);

  // The chrony.conf line for these params, e.g.
  // "refclock SOCK /run/timesync/chrony.sock refid TSYN poll 0 delay 0.002".
  static std::string chrony_conf_line(const Params& params, const std::string& refid = "TSYN", int poll = 0);

  const Params& params() const { return params_; }

 private:
  ChronySockRefclock(int fd, Params params) : fd_(fd), params_(std::move(params)) {}
  int fd_ = -1;
  Params params_;
};

}  // namespace timesync::reference
