// Value types shared by libtimesync and the agent.
//
// Units live in names and types: every time here is integer nanoseconds.
//   LocalTime - this host's CLOCK_MONOTONIC_RAW (never stepped, never slewed).
//   SyncTime  - the master's timeline as estimated by the agent.
// Keeping them distinct types makes "added a local reading to a synchronized
// one" a compile error instead of a silent offset bug.
//
// Thread safety: plain values.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <utility>

#include "timesync/timesync.h"

namespace timesync {

struct LocalTime {
  int64_t ns = 0;
  friend constexpr auto operator<=>(LocalTime, LocalTime) = default;
};

struct SyncTime {
  int64_t ns = 0;
  friend constexpr auto operator<=>(SyncTime, SyncTime) = default;
};

// Mirrors ts_error so the C and C++ APIs share codes and messages.
enum class Error : int {
  kOk = TS_OK,
  kInvalidArgument = TS_E_INVALID_ARGUMENT,
  kNoSegment = TS_E_NO_SEGMENT,
  kPermission = TS_E_PERMISSION,
  kIo = TS_E_IO,
  kTruncated = TS_E_TRUNCATED,
  kBadMagic = TS_E_BAD_MAGIC,
  kBadVersion = TS_E_BAD_VERSION,
  kSizeMismatch = TS_E_SIZE_MISMATCH,
  kNotInitialized = TS_E_NOT_INITIALIZED,
  kBusy = TS_E_BUSY,
  kCorrupt = TS_E_CORRUPT,
  kNotSynchronized = TS_E_NOT_SYNCHRONIZED,
  kStale = TS_E_STALE,
  kBoundExceeded = TS_E_BOUND_EXCEEDED,
  kClock = TS_E_CLOCK,
  kWriterExists = TS_E_WRITER_EXISTS,
  kNoMemory = TS_E_NO_MEMORY,
  kEpochChanged = TS_E_EPOCH_CHANGED,
  kInterrupted = TS_E_INTERRUPTED,
  kNotRegular = TS_E_NOT_REGULAR,
  kSymlink = TS_E_SYMLINK,
  kHardLink = TS_E_HARD_LINK,
  kWrongOwner = TS_E_WRONG_OWNER,
  kNoUtc = TS_E_NO_UTC,
};

inline const char* to_string(Error e) { return ts_strerror(static_cast<ts_error>(e)); }

enum class ClockStatus : uint32_t {
  kUnsynchronized = TS_STATUS_UNSYNCHRONIZED,
  kSynchronized = TS_STATUS_SYNCHRONIZED,
  kHoldover = TS_STATUS_HOLDOVER,
};

const char* to_string(ClockStatus s);

// A value or an Error; exceptions never cross the library boundary.
template <class T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : error_(error) {}         // NOLINT: implicit by design
  bool ok() const { return error_ == Error::kOk; }
  Error error() const { return error_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

 private:
  std::optional<T> value_;
  Error error_ = Error::kOk;
};

}  // namespace timesync
