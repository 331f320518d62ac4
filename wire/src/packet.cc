#include "timesync/wire/packet.hpp"

#include <algorithm>

#include "bytes.hpp"

namespace timesync::wire {

using namespace detail;

// Decoded::type() maps the variant's index to the type byte.
using Packet = std::variant<Request, Response, FollowUp>;
static_assert(static_cast<size_t>(PacketType::kRequest) == Packet(Request{}).index() + 1);
static_assert(static_cast<size_t>(PacketType::kResponse) == Packet(Response{}).index() + 1);
static_assert(static_cast<size_t>(PacketType::kFollowUp) == Packet(FollowUp{}).index() + 1);

const char* to_string(PacketType t) {
  switch (t) {
    case PacketType::kRequest: return "request";
    case PacketType::kResponse: return "response";
    case PacketType::kFollowUp: return "follow_up";
  }
  return "unknown";
}

namespace {

// Zeroes the packet and writes the header; the caller has checked the size.
void write_header(std::span<uint8_t> out, PacketType type, Framing f, uint64_t sequence) {
  const size_t n = packet_size(type, f);
  std::fill_n(out.begin(), n, uint8_t{0});
  store_u32(out, kOffMagic, kMagic);
  out[kOffVersion] = kVersion;
  out[kOffType] = static_cast<uint8_t>(type);
  out[kOffFlags] = f == Framing::kSealed ? kFlagAuth : uint8_t{0};
  store_u16(out, kOffLength, static_cast<uint16_t>(n));
  store_u64(out, kOffSequence, sequence);
}

bool known_timebase(Timebase t) { return t == Timebase::kMonotonic || t == Timebase::kRealtime; }

}  // namespace

Result<size_t> encode_request(const Request& r, std::span<uint8_t> out) {
  if (out.size() < kRequestSize) return Error::kBufferTooSmall;
  write_header(out, PacketType::kRequest, Framing::kPlain, r.sequence);
  return kRequestSize;
}

Result<size_t> encode_sealed_request(const Request& r, std::span<const uint8_t> cookie,
                                     std::span<uint8_t> out) {
  if (cookie.size() != kCookieSize) return Error::kInvalidArgument;
  if (out.size() < kSealedRequestSize) return Error::kBufferTooSmall;
  write_header(out, PacketType::kRequest, Framing::kSealed, r.sequence);
  store_u16(out, kOffCookieLength, static_cast<uint16_t>(kCookieSize));
  std::copy(cookie.begin(), cookie.end(), out.begin() + kOffCookie);
  return kSealedRequestSize;
}

Result<size_t> encode_response(const Response& r, Framing f, std::span<uint8_t> out) {
  if (!known_timebase(r.timebase)) return Error::kInvalidArgument;
  const size_t n = packet_size(PacketType::kResponse, f);
  if (out.size() < n) return Error::kBufferTooSmall;
  write_header(out, PacketType::kResponse, f, r.sequence);
  store_i64(out, kOffResponseT1, r.t1_ns);
  store_u64(out, kOffResponseEpoch, r.epoch);
  store_u64(out, kOffResponseInstance, r.instance);
  store_u64(out, kOffResponseError, r.master_error_ns);
  out[kOffResponseTimebase] = static_cast<uint8_t>(r.timebase);
  return n;
}

Result<size_t> encode_follow_up(const FollowUp& fu, Framing f, std::span<uint8_t> out) {
  const size_t n = packet_size(PacketType::kFollowUp, f);
  if (out.size() < n) return Error::kBufferTooSmall;
  write_header(out, PacketType::kFollowUp, f, fu.sequence);
  store_i64(out, kOffFollowUpT2, fu.t2_ns);
  store_u64(out, kOffFollowUpEpoch, fu.epoch);
  store_u64(out, kOffFollowUpError, fu.master_error_ns);
  return n;
}

Result<Decoded> decode(std::span<const uint8_t> b) {
  if (b.size() < kHeaderSize) return Error::kTooShort;
  // The identity checks come first, so foreign traffic and future versions
  // are counted as such rather than as length errors.
  if (load_u32(b, kOffMagic) != kMagic) return Error::kBadMagic;
  if (b[kOffVersion] != kVersion) return Error::kUnknownVersion;
  const uint8_t type_byte = b[kOffType];
  if (type_byte < static_cast<uint8_t>(PacketType::kRequest) ||
      type_byte > static_cast<uint8_t>(PacketType::kFollowUp)) {
    return Error::kUnknownType;
  }
  const auto type = static_cast<PacketType>(type_byte);
  const uint8_t flags = b[kOffFlags];
  if ((flags & ~kFlagAuth) != 0) return Error::kUnknownFlags;
  if (b[kOffReserved7] != 0 || load_u16(b, kOffReserved10) != 0 ||
      load_u32(b, kOffReserved12) != 0) {
    return Error::kReservedNotZero;
  }
  const Framing framing = (flags & kFlagAuth) != 0 ? Framing::kSealed : Framing::kPlain;
  const size_t n = packet_size(type, framing);
  if (b.size() != n) return Error::kWrongLength;
  if (load_u16(b, kOffLength) != n) return Error::kLengthFieldMismatch;
  // From here on b.size() == n: every offset below is inside the span.

  Decoded d;
  d.framing = framing;
  const uint64_t sequence = load_u64(b, kOffSequence);
  switch (type) {
    case PacketType::kRequest: {
      if (framing == Framing::kPlain) {
        if (!all_zero(b, kOffRequestPadding, kRequestPaddingSize)) return Error::kReservedNotZero;
      } else {
        if (load_u16(b, kOffCookieLength) != kCookieSize) return Error::kBadCookieLength;
        if (!all_zero(b, kOffCookieReserved, kCookieReservedSize) ||
            !all_zero(b, kOffSealedRequestPadding, kSealedRequestPaddingSize)) {
          return Error::kReservedNotZero;
        }
        d.cookie = b.subspan(kOffCookie, kCookieSize);
      }
      d.packet = Request{sequence};
      break;
    }
    case PacketType::kResponse: {
      const uint8_t tb = b[kOffResponseTimebase];
      if (!known_timebase(static_cast<Timebase>(tb))) return Error::kUnknownTimebase;
      if (!all_zero(b, kOffResponseReserved, kResponseReservedSize)) return Error::kReservedNotZero;
      Response r;
      r.sequence = sequence;
      r.t1_ns = load_i64(b, kOffResponseT1);
      r.epoch = load_u64(b, kOffResponseEpoch);
      r.instance = load_u64(b, kOffResponseInstance);
      r.master_error_ns = load_u64(b, kOffResponseError);
      r.timebase = static_cast<Timebase>(tb);
      d.packet = r;
      break;
    }
    case PacketType::kFollowUp: {
      FollowUp f;
      f.sequence = sequence;
      f.t2_ns = load_i64(b, kOffFollowUpT2);
      f.epoch = load_u64(b, kOffFollowUpEpoch);
      f.master_error_ns = load_u64(b, kOffFollowUpError);
      d.packet = f;
      break;
    }
  }
  return d;
}

}  // namespace timesync::wire
