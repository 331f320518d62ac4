// Errors of the reference clients: one closed code plus a message for people.
//
// Every failure names its cause ("chronyd at /run/chrony/chronyd.sock: short
// reply: 12 bytes, a reply header is 28", "leap-seconds.list line 71: hash
// mismatch"), and bad input from a daemon or a file is an error value, never a
// crash. Nothing throws.
//
// Thread safety: plain values.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>

namespace timesync::reference {

// An error bound that bounds nothing (the reference is not synchronized).
inline constexpr int64_t kUnboundedNs = std::numeric_limits<int64_t>::max();

enum class Errc : uint8_t {
  kOk = 0,
  kInvalidArgument,  // the caller asked for something impossible (path too long, bad address)
  kSystem,           // a system call failed; sys_errno() says which way
  kTimeout,          // no reply before the deadline
  kMalformed,        // bytes that do not parse: too short, wrong version, type or magic, bad file line
  kMismatch,         // a well-formed reply to another request (sequence, command, dataset)
  kRefused,          // the daemon answered with an error status (chronyd STT_*, ptp4l error TLV)
  kBadHash,          // leap-second file: the #h hash does not match its data
  kOutOfRange,       // a value outside what the receiver accepts (a sample's error above the limit)
};

const char* to_string(Errc code);

class Status {
 public:
  Status() = default;  // success
  Status(Errc code, std::string message, int sys_errno = 0)
      : code_(code), sys_errno_(sys_errno), message_(std::move(message)) {}

  bool ok() const { return code_ == Errc::kOk; }
  Errc code() const { return code_; }
  int sys_errno() const { return sys_errno_; }  // 0 unless code() is kSystem
  const std::string& message() const { return message_; }

 private:
  Errc code_ = Errc::kOk;
  int sys_errno_ = 0;
  std::string message_;
};

// A failed system call: "<what>: <strerror(err)>", code kSystem.
Status system_error(std::string what, int err);

// A value or the Status saying why there is none.
template <class T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
    if (status_.ok()) status_ = Status(Errc::kInvalidArgument, "Result built from a success status");
  }
  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  Errc code() const { return status_.code(); }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace timesync::reference
