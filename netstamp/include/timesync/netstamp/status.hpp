// Errors of netstamp: one closed code plus a message for people.
//
// netstamp reports failures that need more than a code to act on ("interface
// 'eth1' cannot timestamp in hardware", "sendto [::1]:7470: Network is
// unreachable"), so unlike libtimesync's Error it carries a message, and the
// errno when the operating system refused something. Nothing throws.
//
// Thread safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace timesync::netstamp {

enum class Errc : uint8_t {
  kOk = 0,
  kInvalidArgument,   // the caller asked for something impossible (bad address, unknown id)
  kSystem,            // a system call failed; sys_errno() says which way
  kTimeout,           // nothing arrived before the deadline (also for a zero timeout)
  kUnsupported,       // the interface or kernel cannot do what was asked (hardware stamps)
  kNoSuchInterface,   // the named interface does not exist in this network namespace
  kPermission,        // needs a capability (CAP_NET_ADMIN for SIOCSHWTSTAMP, CAP_NET_RAW)
  kIdOutOfStep,       // the kernel's OPT_ID counter and ours disagree: stamps cannot be matched
  kClockStepped,      // a clock was stepped during a paired read (PHC via realtime): read again
};

const char* to_string(Errc code);

class Status {
 public:
  Status() = default;  // success
  Status(Errc code, std::string message, int sys_errno = 0)
      : code_(code), sys_errno_(sys_errno), message_(std::move(message)) {}

  bool ok() const { return code_ == Errc::kOk; }
  Errc code() const { return code_; }
  int sys_errno() const { return sys_errno_; }  // 0 unless code() is kSystem or kPermission
  const std::string& message() const { return message_; }

 private:
  Errc code_ = Errc::kOk;
  int sys_errno_ = 0;
  std::string message_;
};

// A failed system call: "<what>: <strerror(err)>", code kPermission for
// EPERM/EACCES, kSystem otherwise.
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

}  // namespace timesync::netstamp
