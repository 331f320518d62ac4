#include "timesync/wire/error.hpp"

namespace timesync::wire {

const char* to_string(Error e) {
  switch (e) {
    case Error::kOk: return "ok";
    case Error::kTooShort: return "too_short";
    case Error::kBadMagic: return "bad_magic";
    case Error::kUnknownVersion: return "unknown_version";
    case Error::kUnknownType: return "unknown_type";
    case Error::kUnknownFlags: return "unknown_flags";
    case Error::kReservedNotZero: return "reserved_not_zero";
    case Error::kWrongLength: return "wrong_length";
    case Error::kLengthFieldMismatch: return "length_field_mismatch";
    case Error::kBadCookieLength: return "bad_cookie_length";
    case Error::kUnknownTimebase: return "unknown_timebase";
    case Error::kWrongType: return "wrong_type";
    case Error::kUnauthenticated: return "unauthenticated";
    case Error::kUnexpectedAuth: return "unexpected_auth";
    case Error::kBadTag: return "bad_tag";
    case Error::kCookieMalformed: return "cookie_malformed";
    case Error::kCookieUnknownKey: return "cookie_unknown_key";
    case Error::kCookieBadTag: return "cookie_bad_tag";
    case Error::kCookieExpired: return "cookie_expired";
    case Error::kWrongSequence: return "wrong_sequence";
    case Error::kBufferTooSmall: return "buffer_too_small";
    case Error::kInvalidArgument: return "invalid_argument";
    case Error::kRandomFailure: return "random_failure";
    case Error::kCryptoFailure: return "crypto_failure";
  }
  return "unknown_error";
}

bool is_malformed(Error e) {
  switch (e) {
    case Error::kTooShort:
    case Error::kBadMagic:
    case Error::kUnknownVersion:
    case Error::kUnknownType:
    case Error::kUnknownFlags:
    case Error::kReservedNotZero:
    case Error::kWrongLength:
    case Error::kLengthFieldMismatch:
    case Error::kBadCookieLength:
    case Error::kUnknownTimebase:
      return true;
    default:
      return false;
  }
}

}  // namespace timesync::wire
