#include "timesync/netstamp/status.hpp"

#include <cerrno>
#include <cstring>

#include "timesync/netstamp/timestamp.hpp"

namespace timesync::netstamp {

const char* to_string(Errc code) {
  switch (code) {
    case Errc::kOk: return "ok";
    case Errc::kInvalidArgument: return "invalid argument";
    case Errc::kSystem: return "system error";
    case Errc::kTimeout: return "timeout";
    case Errc::kUnsupported: return "unsupported";
    case Errc::kNoSuchInterface: return "no such interface";
    case Errc::kPermission: return "permission denied";
    case Errc::kIdOutOfStep: return "timestamp id out of step";
    case Errc::kClockStepped: return "clock stepped";
  }
  return "unknown";
}

const char* to_string(StampSource source) {
  switch (source) {
    case StampSource::kNone: return "none";
    case StampSource::kUser: return "user";
    case StampSource::kKernelSoftware: return "kernel-software";
    case StampSource::kHardware: return "hardware";
  }
  return "unknown";
}

Status system_error(std::string what, int err) {
  what += ": ";
  what += std::strerror(err);
  const Errc code = (err == EPERM || err == EACCES) ? Errc::kPermission : Errc::kSystem;
  return Status(code, std::move(what), err);
}

}  // namespace timesync::netstamp
