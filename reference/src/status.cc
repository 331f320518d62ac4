#include "timesync/reference/status.hpp"

#include <cstring>

namespace timesync::reference {

const char* to_string(Errc code) {
  switch (code) {
    case Errc::kOk: return "ok";
    case Errc::kInvalidArgument: return "invalid argument";
    case Errc::kSystem: return "system error";
    case Errc::kTimeout: return "timeout";
    case Errc::kMalformed: return "malformed";
    case Errc::kMismatch: return "mismatch";
    case Errc::kRefused: return "refused";
    case Errc::kBadHash: return "bad hash";
    case Errc::kOutOfRange: return "out of range";
  }
  return "unknown";
}

Status system_error(std::string what, int err) {
  what += ": ";
  what += std::strerror(err);
  return Status(Errc::kSystem, std::move(what), err);
}

}  // namespace timesync::reference
