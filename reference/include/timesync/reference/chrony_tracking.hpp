// ChronyTracking: what `chronyc tracking` shows, read from chronyd's command
// socket (REQ_TRACKING / RPY_TRACKING, command protocol version 6), and the
// error bound it implies.
//
// The wire format follows chrony's candm.h; the protocol is chrony's and only
// chronyd's answers count. The bytes are built and parsed by pure functions
// (encode_tracking_request, decode_tracking_reply) that tests drive directly;
// the ChronyTracking class only moves them over a socket and reads
// CLOCK_REALTIME when a reply arrives.
//
// Where to ask: chronyd's Unix socket (/run/chrony/chronyd.sock; Debian keeps
// its directory 0750 _chrony, so only root and that group reach it), or its UDP
// command port ("127.0.0.1:323"), which serves tracking to anyone allowed by
// `cmdallow` (localhost by default). Over Unix the reply socket lives in a
// private 0700 directory (src/dgram_client.hpp); see Params::reply_dir_parent.
//
// Units: ns for times and offsets (int64), ppm for frequencies (as chrony).
// Sign: system_time_offset_ns is chrony's "System time" with chrony's sign:
// positive means the system clock is SLOW of the reference, i.e. reference
// time = CLOCK_REALTIME + system_time_offset_ns. (chronyc prints "slow"/"fast".)
//
// Thread safety: values are plain; one thread at a time per ChronyTracking.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "timesync/reference/status.hpp"

namespace timesync::reference {

namespace detail {
class DgramClient;  // src/dgram_client.hpp
}

// chrony's default `maxclockerror` (ppm): how fast its dispersion grows.
inline constexpr double kChronyDefaultMaxClockErrorPpm = 1.0;

enum class ChronyLeap : uint8_t { kNormal = 0, kInsertSecond = 1, kDeleteSecond = 2, kUnsynchronised = 3 };
const char* to_string(ChronyLeap leap);

struct ChronyTrackingReport {
  uint32_t ref_id = 0;             // "Reference ID": IPv4 address or refclock refid ("TSYN")
  std::string ref_name;            // the source's address, else the printable refid characters
  uint16_t stratum = 0;
  ChronyLeap leap = ChronyLeap::kUnsynchronised;
  int64_t ref_time_ns = 0;         // CLOCK_REALTIME of chronyd's last clock update (0: never)
  int64_t system_time_offset_ns = 0;  // see the sign convention above
  int64_t last_offset_ns = 0;      // offset at the last update (chrony's sign: + = local fast)
  int64_t rms_offset_ns = 0;
  double freq_ppm = 0;             // + = the system clock would run fast without chrony
  double resid_freq_ppm = 0;
  double skew_ppm = 0;
  int64_t root_delay_ns = 0;
  int64_t root_dispersion_ns = 0;  // as of the reply: chronyd adds the growth since ref_time
  int64_t last_update_interval_ns = 0;

  // Set by decode: leap != kUnsynchronised and stratum < 16.
  bool synchronized = false;
  // |system time offset| + root dispersion + root delay / 2, as of the reply:
  // how far CLOCK_REALTIME + system_time_offset_ns may be from the reference's
  // true time. kUnboundedNs when not synchronized.
  int64_t error_ns = kUnboundedNs;
  // CLOCK_REALTIME when the reply was received (set by ChronyTracking::read).
  int64_t as_of_ns = 0;

  // The bound at `realtime_ns` >= as_of_ns without asking again: error_ns
  // growing from as_of_ns at the rate chronyd grows its own root dispersion,
  // skew + |residual freq| + maxclockerror (reference.c,
  // REF_GetReferenceParams). It grows from the reply, not from ref_time,
  // because the reported root dispersion already includes the growth from
  // ref_time to the reply: counting from ref_time would add that twice. The
  // offset term is kept as read: a chronyd steering the clock only slews it
  // towards zero (a chronyd -x, which steers nothing, lets it drift at
  // freq_ppm: ask again rather than extrapolate far).
  int64_t error_at_ns(int64_t realtime_ns, double max_clock_error_ppm = kChronyDefaultMaxClockErrorPpm) const;
};

// --- The wire (pure) -------------------------------------------------------

inline constexpr std::size_t kChronyTrackingRequestBytes = 104;  // padded to the reply's size
inline constexpr std::size_t kChronyReplyHeaderBytes = 28;
inline constexpr std::size_t kChronyTrackingReplyBytes = 104;

// chrony's 32-bit float: 7-bit signed exponent, 25-bit signed coefficient,
// value = coef * 2^(exp - 25), big-endian on the wire (these take host values).
double decode_chrony_float(uint32_t bits);
uint32_t encode_chrony_float(double value);  // nearest; saturates; NaN -> 0

std::array<uint8_t, kChronyTrackingRequestBytes> encode_tracking_request(uint32_t sequence, uint16_t attempt);

// Checks header, sequence, command, status, reply type and length, in that
// order: kMalformed (short, wrong version or packet type, bad field),
// kMismatch (another sequence, command or reply type), kRefused (chronyd's
// status, e.g. "bad packet version"). as_of_ns is left 0.
Result<ChronyTrackingReport> decode_tracking_reply(std::span<const uint8_t> bytes, uint32_t sequence);

// --- The client ------------------------------------------------------------

class ChronyTracking {
 public:
  struct Params {
    // Unix socket path, or "IPv4:port" / "[IPv6]:port" for the UDP command port.
    std::string address = "/run/chrony/chronyd.sock";
    // Where the private reply directory is made (Unix only). Empty: the
    // directory of chronyd's socket, as chronyc does; this process must be
    // able to create a directory there (root, on Debian).
    std::string reply_dir_parent;
    std::chrono::nanoseconds timeout{std::chrono::seconds(1)};  // per attempt
    int attempts = 3;
  };

  static Result<ChronyTracking> open(Params params);

  ChronyTracking(ChronyTracking&&) noexcept;
  ChronyTracking& operator=(ChronyTracking&&) noexcept;
  ~ChronyTracking();

  // One REQ_TRACKING, resent (same sequence, next attempt number) after each
  // timeout. Replies that are malformed or answer something else are skipped
  // while waiting; if no good one arrives, the error names the last skipped
  // reply's fault, or is kTimeout if nothing came back at all.
  Result<ChronyTrackingReport> read();

  // The reply socket's path (Unix), for tests and diagnostics.
  const std::string& reply_path() const;

 private:
  ChronyTracking(Params params, std::unique_ptr<detail::DgramClient> client, uint32_t sequence);

  Params params_;
  std::unique_ptr<detail::DgramClient> client_;
  uint32_t sequence_;
};

}  // namespace timesync::reference
