// LeapSeconds: the IETF/IERS leap-second list (/usr/share/zoneinfo/leap-seconds.list)
// parsed and verified, and what it says about a UTC instant: TAI-UTC, the next
// announced leap second, and whether the list has expired.
//
// The format: data lines "<NTP seconds> <TAI-UTC> # comment", each the first
// second at which that TAI-UTC applies; "#$ <NTP seconds>" the last update;
// "#@ <NTP seconds>" the expiry; "#h <5 hex words>" the SHA-1 of the digits of
// the #$ value, the #@ value and every data line's two numbers, concatenated
// in file order (whitespace and comments excluded). The words may omit leading
// zeros. A list without #$, #@ or #h, or whose hash does not match, is refused.
//
// Instants are UTC as CLOCK_REALTIME counts them (POSIX: leap seconds not
// counted). The queries are pure: the caller passes the instant.
//
// Thread safety: a LeapSeconds is immutable after parse; share it freely.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "timesync/reference/status.hpp"

namespace timesync::reference {

inline constexpr const char* kSystemLeapSecondsList = "/usr/share/zoneinfo/leap-seconds.list";
inline constexpr int64_t kNtpToUnixSeconds = 2'208'988'800;  // 1900-01-01 to 1970-01-01

struct LeapEntry {
  int64_t utc_s = 0;         // Unix seconds: the first second with this TAI-UTC
  int tai_minus_utc_s = 0;
};

enum class LeapKind : uint8_t { kInsert, kDelete };

struct NextLeap {
  int64_t utc_s = 0;         // when the new TAI-UTC starts: midnight UTC after the leap second
  int tai_minus_utc_s = 0;   // from then on
  LeapKind kind = LeapKind::kInsert;
};

struct LeapState {
  int tai_minus_utc_s = 0;
  std::optional<NextLeap> next;  // an entry after the instant, if the list has one
  // The instant is at or past the list's expiry: a leap second announced
  // since may be missing, so TAI-UTC after the expiry is not known.
  bool expired = false;
};

class LeapSeconds {
 public:
  // Parses and verifies (hash, ordering, steps of exactly one second).
  // `name` labels errors ("leap-seconds.list line 12: ...").
  static Result<LeapSeconds> parse(std::string_view text, std::string_view name = "leap-seconds.list");
  static Result<LeapSeconds> load(const std::string& path = kSystemLeapSecondsList);

  // kInvalidArgument before the first entry (1972: TAI-UTC was not an integer).
  Result<LeapState> at(int64_t utc_ns) const;

  int64_t updated_utc_s() const { return updated_utc_s_; }
  int64_t expires_utc_s() const { return expires_utc_s_; }
  const std::vector<LeapEntry>& entries() const { return entries_; }

 private:
  LeapSeconds() = default;
  int64_t updated_utc_s_ = 0;
  int64_t expires_utc_s_ = 0;
  std::vector<LeapEntry> entries_;
};

}  // namespace timesync::reference
