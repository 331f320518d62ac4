#include "timesync/reference/chrony_tracking.hpp"

#include <arpa/inet.h>
#include <sys/random.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <optional>
#include <utility>

#include "bytes.hpp"
#include "dgram_client.hpp"

namespace timesync::reference {
namespace {

using detail::be16;
using detail::be32;

constexpr uint8_t kProtoVersion = 6;
constexpr uint8_t kPktRequest = 1;
constexpr uint8_t kPktReply = 2;
constexpr uint16_t kReqTracking = 33;
constexpr uint16_t kRpyTracking = 5;
constexpr uint32_t kNoHighSec = 0x7fffffff;  // tv_sec_high of a 32-bit time_t sender

constexpr int kExpBits = 7;
constexpr int kCoefBits = 25;
constexpr int32_t kExpMin = -(1 << (kExpBits - 1));
constexpr int32_t kExpMax = -kExpMin - 1;
constexpr int32_t kCoefMax = (1 << (kCoefBits - 1)) - 1;

// Reply offsets (candm.h CMD_Reply, RPY_Tracking).
constexpr std::size_t kOffCommand = 4;
constexpr std::size_t kOffReply = 6;
constexpr std::size_t kOffStatus = 8;
constexpr std::size_t kOffSequence = 16;
constexpr std::size_t kOffRefId = 28;
constexpr std::size_t kOffIpAddr = 32;   // 16 address bytes, family, pad
constexpr std::size_t kOffIpFamily = 48;
constexpr std::size_t kOffStratum = 52;
constexpr std::size_t kOffLeap = 54;
constexpr std::size_t kOffRefTime = 56;  // sec high, sec low, nsec
constexpr std::size_t kOffFloats = 68;   // nine Floats follow

const char* status_name(uint16_t status) {
  switch (status) {
    case 1: return "failed";
    case 2: return "unauthorised";
    case 3: return "invalid command";
    case 4: return "no such source";
    case 5: return "invalid timestamp";
    case 6: return "not enabled";
    case 7: return "bad subnet";
    case 8: return "access allowed";
    case 9: return "access denied";
    case 10: return "no host access";
    case 11: return "source already known";
    case 12: return "too many sources";
    case 13: return "no RTC";
    case 14: return "bad RTC file";
    case 15: return "inactive";
    case 16: return "bad sample";
    case 17: return "invalid address family";
    case 18: return "bad packet version";
    case 19: return "bad packet length";
    case 21: return "invalid name";
    default: return "unknown status";
  }
}

std::string ref_name(uint32_t ref_id, std::span<const uint8_t> ip, uint16_t family) {
  char text[INET6_ADDRSTRLEN] = {};
  if (family == 1) {  // IPADDR_INET4: the address in the first 4 bytes
    if (inet_ntop(AF_INET, ip.data(), text, sizeof text) != nullptr) return text;
  } else if (family == 2) {
    if (inet_ntop(AF_INET6, ip.data(), text, sizeof text) != nullptr) return text;
  }
  std::string out;  // a refclock's or LOCAL's refid: its printable characters, as chronyc
  for (int shift = 24; shift >= 0; shift -= 8) {
    const auto c = static_cast<unsigned char>(ref_id >> shift);
    if (std::isprint(c) != 0) out += static_cast<char>(c);
  }
  return out;
}

}  // namespace

const char* to_string(ChronyLeap leap) {
  switch (leap) {
    case ChronyLeap::kNormal: return "normal";
    case ChronyLeap::kInsertSecond: return "insert second";
    case ChronyLeap::kDeleteSecond: return "delete second";
    case ChronyLeap::kUnsynchronised: return "not synchronised";
  }
  return "unknown";
}

int64_t ChronyTrackingReport::error_at_ns(int64_t realtime_ns, double max_clock_error_ppm) const {
  if (!synchronized || error_ns == kUnboundedNs) return kUnboundedNs;
  const int64_t elapsed_ns = realtime_ns > as_of_ns ? realtime_ns - as_of_ns : 0;
  const double rate_ppm = std::max(max_clock_error_ppm, 0.0) + std::fabs(skew_ppm) + std::fabs(resid_freq_ppm);
  const double growth_ns = std::ceil(static_cast<double>(elapsed_ns) * rate_ppm * 1e-6);
  if (!(growth_ns < 9.2e18)) return kUnboundedNs;
  return detail::saturating_add(error_ns, static_cast<int64_t>(growth_ns));
}

double decode_chrony_float(uint32_t bits) {
  int32_t exp = static_cast<int32_t>(bits >> kCoefBits);
  if (exp >= (1 << (kExpBits - 1))) exp -= 1 << kExpBits;
  int32_t coef = static_cast<int32_t>(bits & ((1U << kCoefBits) - 1));
  if (coef >= (1 << (kCoefBits - 1))) coef -= 1 << kCoefBits;
  return std::ldexp(static_cast<double>(coef), exp - kCoefBits);
}

uint32_t encode_chrony_float(double value) {
  if (std::isnan(value) || value == 0.0) return 0;
  const bool negative = value < 0;
  const double magnitude = std::fabs(value);
  int e = 0;
  const double m = std::frexp(magnitude, &e);  // magnitude = m * 2^e, m in [0.5, 1)
  int64_t coef = std::llround(std::ldexp(m, kCoefBits - 1));  // [2^23, 2^24]
  int64_t exp = int64_t{e} + 1;                                // value = coef * 2^(exp - 25)
  if (coef > kCoefMax) {  // rounded up to 2^24
    coef >>= 1;
    ++exp;
  }
  if (exp > kExpMax || std::isinf(value)) {
    exp = kExpMax;
    coef = kCoefMax;
  } else if (exp < kExpMin) {  // denormalise; tiny values become 0
    const int64_t shift = kExpMin - exp;
    coef = shift >= 63 ? 0 : coef >> shift;
    exp = kExpMin;
  }
  if (negative) coef = -coef;
  return (static_cast<uint32_t>(exp) & ((1U << kExpBits) - 1)) << kCoefBits |
         (static_cast<uint32_t>(coef) & ((1U << kCoefBits) - 1));
}

std::array<uint8_t, kChronyTrackingRequestBytes> encode_tracking_request(uint32_t sequence, uint16_t attempt) {
  // Header (20 bytes) then zero padding up to the reply's length, which chronyd
  // requires of protocol 6 requests (no amplification).
  std::array<uint8_t, kChronyTrackingRequestBytes> out{};
  out[0] = kProtoVersion;
  out[1] = kPktRequest;
  detail::put16(out, 4, kReqTracking);
  detail::put16(out, 6, attempt);
  detail::put32(out, 8, sequence);
  return out;
}

Result<ChronyTrackingReport> decode_tracking_reply(std::span<const uint8_t> b, uint32_t sequence) {
  if (b.size() < kChronyReplyHeaderBytes) {
    return Status(Errc::kMalformed, "short reply: " + std::to_string(b.size()) + " bytes, a reply header is " +
                                        std::to_string(kChronyReplyHeaderBytes));
  }
  if (b[0] != kProtoVersion) {
    return Status(Errc::kMalformed,
                  "protocol version " + std::to_string(b[0]) + ", expected " + std::to_string(kProtoVersion));
  }
  if (b[1] != kPktReply) return Status(Errc::kMalformed, "not a reply (packet type " + std::to_string(b[1]) + ")");
  if (be32(b, kOffSequence) != sequence) {
    return Status(Errc::kMismatch, "reply to sequence " + std::to_string(be32(b, kOffSequence)) + ", expected " +
                                       std::to_string(sequence));
  }
  if (be16(b, kOffCommand) != kReqTracking) {
    return Status(Errc::kMismatch, "reply to command " + std::to_string(be16(b, kOffCommand)) +
                                       ", expected REQ_TRACKING (33)");
  }
  const uint16_t status = be16(b, kOffStatus);
  if (status != 0) {
    return Status(Errc::kRefused, std::string("chronyd answered '") + status_name(status) + "' (status " +
                                      std::to_string(status) + ")");
  }
  if (be16(b, kOffReply) != kRpyTracking) {
    return Status(Errc::kMismatch, "reply type " + std::to_string(be16(b, kOffReply)) +
                                       ", expected RPY_TRACKING (5)");
  }
  if (b.size() < kChronyTrackingReplyBytes) {
    return Status(Errc::kMalformed, "short reply: " + std::to_string(b.size()) + " bytes, tracking needs " +
                                        std::to_string(kChronyTrackingReplyBytes));
  }

  ChronyTrackingReport r;
  r.ref_id = be32(b, kOffRefId);
  r.ref_name = ref_name(r.ref_id, b.subspan(kOffIpAddr, 16), be16(b, kOffIpFamily));
  r.stratum = be16(b, kOffStratum);
  const uint16_t leap = be16(b, kOffLeap);
  if (leap > 3) return Status(Errc::kMalformed, "leap status " + std::to_string(leap) + " (0..3)");
  r.leap = static_cast<ChronyLeap>(leap);

  uint32_t sec_high = be32(b, kOffRefTime);
  const uint32_t sec_low = be32(b, kOffRefTime + 4);
  const uint32_t nsec = be32(b, kOffRefTime + 8);
  if (sec_high == kNoHighSec) sec_high = 0;
  if (nsec >= 1'000'000'000U || sec_high > 1) {  // beyond year 2514: not a time chronyd sends
    return Status(Errc::kMalformed, "bad reference time");
  }
  r.ref_time_ns = static_cast<int64_t>((uint64_t{sec_high} << 32) | sec_low) * 1'000'000'000 + nsec;

  double f[9];
  for (std::size_t i = 0; i < 9; ++i) f[i] = decode_chrony_float(be32(b, kOffFloats + 4 * i));
  r.system_time_offset_ns = detail::seconds_to_ns(f[0]);
  r.last_offset_ns = detail::seconds_to_ns(f[1]);
  r.rms_offset_ns = detail::seconds_to_ns(f[2]);
  r.freq_ppm = f[3];
  r.resid_freq_ppm = f[4];
  r.skew_ppm = f[5];
  r.root_delay_ns = detail::seconds_to_ns(f[6]);
  r.root_dispersion_ns = detail::seconds_to_ns(f[7]);
  r.last_update_interval_ns = detail::seconds_to_ns(f[8]);

  r.synchronized = r.leap != ChronyLeap::kUnsynchronised && r.stratum < 16;
  if (r.synchronized) {
    int64_t e = detail::saturating_abs(r.system_time_offset_ns);
    e = detail::saturating_add(e, detail::saturating_abs(r.root_dispersion_ns));
    e = detail::saturating_add(e, detail::saturating_abs(r.root_delay_ns) / 2);
    r.error_ns = e;
  }
  return r;
}

// --- ChronyTracking ----------------------------------------------------------

ChronyTracking::ChronyTracking(Params params, std::unique_ptr<detail::DgramClient> client, uint32_t sequence)
    : params_(std::move(params)), client_(std::move(client)), sequence_(sequence) {}
ChronyTracking::ChronyTracking(ChronyTracking&&) noexcept = default;
ChronyTracking& ChronyTracking::operator=(ChronyTracking&&) noexcept = default;
ChronyTracking::~ChronyTracking() = default;

Result<ChronyTracking> ChronyTracking::open(Params params) {
  if (params.attempts < 1) return Status(Errc::kInvalidArgument, "attempts must be >= 1");
  if (params.timeout <= std::chrono::nanoseconds::zero()) {
    return Status(Errc::kInvalidArgument, "timeout must be > 0");
  }
  auto client = detail::DgramClient::open(params.address, params.reply_dir_parent, "timesync-chronyc");
  if (!client.ok()) return Status(client.code(), "chronyd at " + params.address + ": " + client.status().message(),
                                  client.status().sys_errno());
  uint32_t sequence = 0;  // random start, as chronyc: a restarted client's replies do not match stale ones
  if (getrandom(&sequence, sizeof sequence, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof sequence)) {
    sequence = static_cast<uint32_t>(detail::realtime_now_ns());
  }
  return ChronyTracking(std::move(params), std::make_unique<detail::DgramClient>(std::move(*client)), sequence);
}

const std::string& ChronyTracking::reply_path() const { return client_->reply_path(); }

Result<ChronyTrackingReport> ChronyTracking::read() {
  const uint32_t sequence = ++sequence_;
  const std::string where = "chronyd at " + params_.address + ": ";
  std::array<uint8_t, 2048> buf{};
  std::optional<Status> skipped;  // why the last unusable reply was skipped
  for (int attempt = 0; attempt < params_.attempts; ++attempt) {
    const auto request = encode_tracking_request(sequence, static_cast<uint16_t>(attempt));
    if (Status s = client_->send(request); !s.ok()) return Status(s.code(), where + s.message(), s.sys_errno());
    const auto deadline = std::chrono::steady_clock::now() + params_.timeout;
    for (;;) {
      auto n = client_->receive(buf, deadline);
      if (!n.ok()) {
        if (n.code() == Errc::kTimeout) break;
        return Status(n.code(), where + n.status().message(), n.status().sys_errno());
      }
      const int64_t received_ns = detail::realtime_now_ns();
      if (*n > buf.size()) {
        skipped = Status(Errc::kMalformed, "reply of " + std::to_string(*n) + " bytes, longer than any chrony reply");
        continue;
      }
      auto report = decode_tracking_reply(std::span<const uint8_t>(buf.data(), *n), sequence);
      if (report.ok()) {
        report->as_of_ns = received_ns;
        return report;
      }
      if (report.code() == Errc::kRefused) return Status(report.code(), where + report.status().message());
      skipped = report.status();
    }
  }
  const std::string tried = std::to_string(params_.attempts) + " attempt(s) of " +
                            std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(params_.timeout).count()) +
                            " ms";
  if (skipped) return Status(skipped->code(), where + "no usable reply in " + tried + "; last: " + skipped->message());
  return Status(Errc::kTimeout, where + "no reply in " + tried);
}

}  // namespace timesync::reference
