// The UDP exchange's errors and the Result type every wire/ function returns.
//
// One closed enum for the whole library, so that a receiver can count every
// dropped packet by one label (to_string gives snake_case, fit for a metric
// label) without knowing which layer refused it. The groups:
//   malformed      decode() refused the bytes: is_malformed() is true
//   role           well-formed, but not what this end expects (a RESPONSE sent
//                  to the master, a sealed packet where none was asked for, ...)
//   authentication a cookie or a packet tag that does not verify
//   freshness      authentic, but not for the outstanding request
//   local          this end's own failure (buffer, RNG, OpenSSL): never caused
//                  by a peer's bytes
//
// Thread safety: plain values.
#pragma once

#include <optional>
#include <utility>

namespace timesync::wire {

enum class Error : int {
  kOk = 0,
  // Malformed (decode).
  kTooShort,            // shorter than the 24-byte header
  kBadMagic,            // not "TSUD"
  kUnknownVersion,      // version != 1
  kUnknownType,         // type not REQUEST, RESPONSE or FOLLOW_UP
  kUnknownFlags,        // a flag bit other than AUTH set
  kReservedNotZero,     // a reserved byte or the padding not zero
  kWrongLength,         // datagram size is not the exact size of its type (and AUTH)
  kLengthFieldMismatch, // the header's length field differs from the datagram size
  kBadCookieLength,     // sealed REQUEST whose cookie length field is not 72
  kUnknownTimebase,     // RESPONSE timebase not 1 (monotonic) or 2 (realtime)
  // Role.
  kWrongType,           // e.g. a RESPONSE given to open_request, a REQUEST to open_response
  kUnauthenticated,     // unsealed packet where a sealed one is required
  kUnexpectedAuth,      // sealed packet where no key is held to check it
  // Authentication.
  kBadTag,              // a sealed packet's tag does not verify: forged or tampered
  kCookieMalformed,     // cookie is not 72 bytes
  kCookieUnknownKey,    // cookie key id is neither the current nor the previous key
  kCookieBadTag,        // cookie does not decrypt under its key: forged or tampered
  kCookieExpired,       // cookie's expiry is not after now
  // Freshness.
  kWrongSequence,       // authentic, but not the outstanding request's: replayed or late
  // Local.
  kBufferTooSmall,      // encode: the caller's buffer cannot hold the packet
  kInvalidArgument,     // encode: a field this format cannot carry (timebase, cookie size)
  kRandomFailure,       // RAND_bytes failed
  kCryptoFailure,       // OpenSSL could not set up AES-256-GCM
};

// Stable snake_case names ("bad_tag", "wrong_sequence", ...): metric labels.
const char* to_string(Error e);

// True for the errors decode() returns: the bytes are not a version-1 packet.
bool is_malformed(Error e);

// A value or an Error; exceptions never cross the library boundary. A Result
// is built from a value (ok) or from an Error other than kOk.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : error_(error == Error::kOk ? Error::kInvalidArgument : error) {}  // NOLINT
  bool ok() const { return error_ == Error::kOk; }
  explicit operator bool() const { return ok(); }
  Error error() const { return error_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  std::optional<T> value_;
  Error error_ = Error::kOk;
};

}  // namespace timesync::wire
