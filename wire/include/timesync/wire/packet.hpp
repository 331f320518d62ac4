// The UDP exchange's packets, version 1: the one definition of their bytes
// (docs/udp-transport.md, "Packet layout").
//
// Every integer is big-endian at a fixed offset; each type has one exact
// length unsealed and one sealed (flag AUTH: the packet ends in nonce | tag,
// filled by seal() in seal.hpp). This layer knows where the cookie, nonce and
// tag sit but never checks or computes them: exchange.hpp does, with seal.hpp.
//
// Units: t1/t2 and master_error are signed/unsigned ns on the master's
// timeline (the timebase the RESPONSE names); epoch and instance are opaque
// identifiers, as in the gRPC protocol. The sequence is the agent's choice,
// echoed by the master.
//
// decode() has no preconditions: any span, of any length (empty, or with a
// null data pointer), is a valid input; it reads only inside the span, checks
// every length before reading, and answers with a packet or an Error (the
// fuzzing entry point, issue 17, may call it directly). Encoding writes into
// the caller's buffer; nothing here allocates.
//
// Thread safety: pure functions on plain values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <variant>

#include "timesync/wire/error.hpp"

namespace timesync::wire {

inline constexpr uint32_t kMagic = 0x54535544;  // "TSUD" in network order
inline constexpr uint8_t kVersion = 1;
inline constexpr uint8_t kFlagAuth = 0x01;

enum class PacketType : uint8_t { kRequest = 1, kResponse = 2, kFollowUp = 3 };
const char* to_string(PacketType t);

// As the proto's Timebase (0, unspecified, is never sent).
enum class Timebase : uint8_t { kMonotonic = 1, kRealtime = 2 };

// Sealed or not: the AUTH flag, and which of a type's two lengths applies.
enum class Framing : uint8_t { kPlain, kSealed };

// Header offsets (every packet).
inline constexpr size_t kOffMagic = 0;       // u32
inline constexpr size_t kOffVersion = 4;     // u8
inline constexpr size_t kOffType = 5;        // u8
inline constexpr size_t kOffFlags = 6;       // u8
inline constexpr size_t kOffReserved7 = 7;   // u8, 0
inline constexpr size_t kOffLength = 8;      // u16, whole packet
inline constexpr size_t kOffReserved10 = 10; // u16, 0
inline constexpr size_t kOffReserved12 = 12; // u32, 0
inline constexpr size_t kOffSequence = 16;   // u64
inline constexpr size_t kHeaderSize = 24;

// RESPONSE body.
inline constexpr size_t kOffResponseT1 = 24;        // i64
inline constexpr size_t kOffResponseEpoch = 32;     // u64
inline constexpr size_t kOffResponseInstance = 40;  // u64
inline constexpr size_t kOffResponseError = 48;     // u64
inline constexpr size_t kOffResponseTimebase = 56;  // u8
inline constexpr size_t kOffResponseReserved = 57;  // 7 bytes, 0
inline constexpr size_t kResponseReservedSize = 7;

// FOLLOW_UP body.
inline constexpr size_t kOffFollowUpT2 = 24;     // i64
inline constexpr size_t kOffFollowUpEpoch = 32;  // u64
inline constexpr size_t kOffFollowUpError = 40;  // u64: this exchange's master error

// REQUEST body: unsealed, 88 bytes of zero padding; sealed, the cookie.
inline constexpr size_t kOffRequestPadding = 24;
inline constexpr size_t kRequestPaddingSize = 88;
inline constexpr size_t kOffCookieLength = 24;        // u16, = kCookieSize
inline constexpr size_t kOffCookieReserved = 26;      // 6 bytes, 0
inline constexpr size_t kCookieReservedSize = 6;
inline constexpr size_t kOffCookie = 32;              // kCookieSize bytes
inline constexpr size_t kOffSealedRequestPadding = 104;
inline constexpr size_t kSealedRequestPaddingSize = 36;

// Sealing trailer: AES-256-GCM nonce and tag; everything before is the AD.
inline constexpr size_t kNonceSize = 12;
inline constexpr size_t kTagSize = 16;
inline constexpr size_t kTrailerSize = kNonceSize + kTagSize;

// Cookie: key_id (4) | nonce (12) | sealed (session key 32 | expiry 8) | tag (16).
inline constexpr size_t kSessionKeySize = 32;
inline constexpr size_t kCookiePlaintextSize = kSessionKeySize + 8;
inline constexpr size_t kCookieSize = 4 + kNonceSize + kCookiePlaintextSize + kTagSize;

inline constexpr size_t kRequestSize = 112;
inline constexpr size_t kResponseSize = 64;
inline constexpr size_t kFollowUpSize = 48;
inline constexpr size_t kSealedRequestSize = 168;
inline constexpr size_t kSealedResponseSize = kResponseSize + kTrailerSize;
inline constexpr size_t kSealedFollowUpSize = kFollowUpSize + kTrailerSize;
inline constexpr size_t kMaxPacketSize = kSealedRequestSize;

static_assert(kOffSequence + 8 == kHeaderSize);
static_assert(kOffRequestPadding + kRequestPaddingSize == kRequestSize);
static_assert(kOffResponseReserved + kResponseReservedSize == kResponseSize);
static_assert(kOffFollowUpError + 8 == kFollowUpSize);
static_assert(kCookieSize == 72);
static_assert(kOffCookieLength + 2 + kCookieReservedSize == kOffCookie);
static_assert(kOffCookie + kCookieSize == kOffSealedRequestPadding);
static_assert(kOffSealedRequestPadding + kSealedRequestPaddingSize + kTrailerSize ==
              kSealedRequestSize);
static_assert(kSealedResponseSize == 92 && kSealedFollowUpSize == 76);
// No amplification: a request is as long as both answers together.
static_assert(kRequestSize == kResponseSize + kFollowUpSize);
static_assert(kSealedRequestSize == kSealedResponseSize + kSealedFollowUpSize);
static_assert(kMaxPacketSize <= 0xFFFF);  // the length field is 16 bits

// The exact length of a type in a framing.
constexpr size_t packet_size(PacketType t, Framing f) {
  const bool sealed = f == Framing::kSealed;
  switch (t) {
    case PacketType::kRequest: return sealed ? kSealedRequestSize : kRequestSize;
    case PacketType::kResponse: return sealed ? kSealedResponseSize : kResponseSize;
    case PacketType::kFollowUp: return sealed ? kSealedFollowUpSize : kFollowUpSize;
  }
  return 0;
}

struct Request {
  uint64_t sequence = 0;
};

struct Response {
  uint64_t sequence = 0;
  int64_t t1_ns = 0;           // master's receive time of the request
  uint64_t epoch = 0;
  uint64_t instance = 0;
  uint64_t master_error_ns = 0;
  Timebase timebase = Timebase::kMonotonic;
};

struct FollowUp {
  uint64_t sequence = 0;
  int64_t t2_ns = 0;  // master's transmit time of the RESPONSE
  uint64_t epoch = 0;
  // The master's error for this exchange: its declared error plus how well
  // it knows t1 and t2 (the kernel stamps' conversion to its timeline), ns.
  // Known only once t2 is, so it rides here rather than in the RESPONSE.
  uint64_t master_error_ns = 0;
};

// Encoders write the whole packet at out[0, n) and return n. Sealed framing
// writes the AUTH flag, the sealed length and a zero trailer for seal() to
// fill. Errors: kBufferTooSmall, kInvalidArgument (a timebase outside the
// enum, a cookie not kCookieSize bytes).
Result<size_t> encode_request(const Request& r, std::span<uint8_t> out);
Result<size_t> encode_sealed_request(const Request& r, std::span<const uint8_t> cookie,
                                     std::span<uint8_t> out);
Result<size_t> encode_response(const Response& r, Framing f, std::span<uint8_t> out);
Result<size_t> encode_follow_up(const FollowUp& f, Framing framing, std::span<uint8_t> out);

struct Decoded {
  std::variant<Request, Response, FollowUp> packet;
  Framing framing = Framing::kPlain;
  // Sealed REQUEST: its kCookieSize cookie bytes, a view into decode()'s input
  // (valid while that is). Empty otherwise.
  std::span<const uint8_t> cookie;

  PacketType type() const { return static_cast<PacketType>(packet.index() + 1); }
};

// Checks, in order: length >= header (kTooShort), magic, version, type, flags,
// reserved header bytes, the datagram's exact length for its type and framing
// (kWrongLength), the length field, then the body (cookie length, timebase,
// reserved bytes and padding). Does not verify a seal: a sealed packet's
// nonce and tag are opaque here. No preconditions (see the top).
Result<Decoded> decode(std::span<const uint8_t> bytes);

}  // namespace timesync::wire
