// TimestampingSocket: a UDP socket (IPv4 or IPv6) that says when each packet
// really left and arrived, with SO_TIMESTAMPING (Linux only).
//
// Modes (SocketOptions::mode; mode() says which one is in effect):
//   kSoftware  kernel software stamps, CLOCK_REALTIME: transmit when the driver
//              hands the packet to the device, receive when the stack takes it.
//   kHardware  the NIC's PTP clock (after SIOCSHWTSTAMP on options.interface).
//              Fails with kUnsupported naming the interface when it has no PHC,
//              no hardware transmit stamps or no receive filter for all packets.
//   kAuto      hardware if options.interface can, else software (mode_reason()
//              says why).
//   kUser      no kernel stamps: CLOCK_MONOTONIC_RAW read just before sendmsg
//              and just after recvmsg, for comparison and as a fallback. The
//              packet cannot have left before nor arrived after these reads,
//              so a delay computed from them is an over-estimate, never under.
//
// Sending returns an id; tx_timestamp(id) reads that packet's transmit stamp
// back from the socket's error queue (MSG_ERRQUEUE, matched on the OPT_ID in
// sock_extended_err::ee_data). Stamps of other ids read on the way are kept
// (up to options.max_cached_tx_stamps, oldest dropped first) for a later call,
// so several sends may be in flight and be asked for in any order. Ids are set
// per send with SCM_TS_OPT_ID where the kernel has it (Linux 6.13+), else they
// follow the socket's counter, which counts datagrams from 0 (kernels before
// 6.8 without the stable fix may count a failed send; a stamp whose id is
// ahead of the sends gives kIdOutOfStep rather than a wrong match). Read every
// transmit stamp (or let it be dropped from the cache): unread ones use the
// socket's receive buffer.
//
// recv() returns the datagram's length, source and receive stamp, or a
// Timestamp with source kNone when the kernel gave none (for instance the
// first packets after the first socket on the host enables software receive
// stamps: the kernel switches stamping on from a work queue).
//
// All waits are poll(2) with a deadline on CLOCK_MONOTONIC; a zero timeout
// is a non-blocking attempt. The file descriptor is always O_NONBLOCK.
//
// Thread safety: one thread at a time per socket (the stamp cache and id
// counter are unsynchronized). Different sockets are independent.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <utility>

#include "timesync/netstamp/endpoint.hpp"
#include "timesync/netstamp/status.hpp"
#include "timesync/netstamp/timestamp.hpp"

namespace timesync::netstamp {

enum class TimestampMode : uint8_t { kUser, kSoftware, kHardware, kAuto };

const char* to_string(TimestampMode mode);

struct SocketOptions {
  TimestampMode mode = TimestampMode::kSoftware;
  // The interface whose stamps are wanted: required for kHardware, consulted
  // by kAuto (empty: software). Hardware stamps only come from packets that
  // go through it; bind_to_interface makes sure they do.
  std::string interface;
  bool bind_to_interface = false;  // SO_BINDTODEVICE (needs CAP_NET_RAW)
  bool v6_only = true;  // an IPv6 socket does not also take IPv4 (mapped) traffic
  std::chrono::nanoseconds send_timeout = std::chrono::milliseconds(100);  // waiting for buffer space
  std::size_t max_cached_tx_stamps = 64;
};

using SendId = uint32_t;

struct Datagram {
  std::size_t size = 0;    // bytes copied into the buffer
  bool truncated = false;  // the datagram was longer than the buffer (rest discarded)
  Endpoint source;
  Timestamp rx;            // source kNone when the kernel gave no stamp
};

class TimestampingSocket {
 public:
  static Result<TimestampingSocket> open(Family family, const SocketOptions& options = {});

  TimestampingSocket(TimestampingSocket&& other) noexcept;
  TimestampingSocket& operator=(TimestampingSocket&& other) noexcept;
  TimestampingSocket(const TimestampingSocket&) = delete;
  TimestampingSocket& operator=(const TimestampingSocket&) = delete;
  ~TimestampingSocket();

  Status bind(const Endpoint& local);
  Status connect(const Endpoint& peer);
  Result<Endpoint> local_endpoint() const;

  TimestampMode mode() const { return mode_; }  // in effect: never kAuto
  const std::string& mode_reason() const { return mode_reason_; }
  int phc_index() const { return phc_index_; }  // kHardware: /dev/ptp<N>; else -1
  // True once a send has carried SCM_TS_OPT_ID; false before the first send
  // and where the kernel lacks it (ids then follow the socket's counter).
  bool ids_set_per_send() const { return opt_id_cmsg_ == CmsgSupport::kYes; }

  // Sends one datagram (connected socket / to `peer`); the id names it for
  // tx_timestamp(). Waits up to options.send_timeout for buffer space.
  Result<SendId> send(std::span<const std::byte> payload);
  Result<SendId> send_to(std::span<const std::byte> payload, const Endpoint& peer);

  // The transmit stamp of send `id`, which it takes from the cache or the
  // error queue. kTimeout if none came in time (the driver may not stamp, the
  // packet was dropped before it, or the stamp was already read or evicted);
  // kInvalidArgument for an id not sent yet (and in kUser mode for one already
  // read). A stamp record without a time from the mode's source comes back
  // as a Timestamp with source kNone.
  Result<Timestamp> tx_timestamp(SendId id, std::chrono::nanoseconds timeout);

  // The next datagram, within timeout (kTimeout otherwise). A pending socket
  // error (ICMP port unreachable on a connected socket) is returned as kSystem.
  Result<Datagram> recv(std::span<std::byte> buffer, std::chrono::nanoseconds timeout);

  int fd() const { return fd_; }

  struct Counters {
    uint64_t tx_stamps_cached = 0;   // read while looking for another id
    uint64_t tx_stamps_evicted = 0;  // dropped from the cache unread
    uint64_t errqueue_other = 0;     // error-queue entries that were not transmit stamps
  };
  const Counters& counters() const { return counters_; }

 private:
  enum class CmsgSupport : uint8_t { kUnknown, kYes, kNo };
  TimestampingSocket(int fd, Family family, const SocketOptions& options);
  Result<SendId> send_impl(std::span<const std::byte> payload, const Endpoint* peer);
  Status enable_mode();
  // Moves what is on the error queue into the cache; kTimeout if it was empty.
  Status drain_error_queue();
  void cache_tx(SendId id, Timestamp stamp);
  void close_fd();

  int fd_ = -1;
  Family family_ = Family::kIPv4;
  SocketOptions options_;
  TimestampMode mode_ = TimestampMode::kUser;
  std::string mode_reason_;
  int phc_index_ = -1;
  CmsgSupport opt_id_cmsg_ = CmsgSupport::kUnknown;
  bool out_of_step_ = false;  // the kernel's ids ran ahead: no stamp is matched again
  SendId next_id_ = 0;
  std::deque<std::pair<SendId, Timestamp>> tx_cache_;
  Counters counters_;
};

}  // namespace timesync::netstamp
