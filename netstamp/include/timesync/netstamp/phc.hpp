// PhcToRaw: hardware stamps (a NIC's PTP hardware clock, /dev/ptpN) to
// CLOCK_MONOTONIC_RAW, with the same step detection as RealtimeToRaw
// (clock_pair.hpp): ptp4l and phc2sys step and slew PHCs too.
//
// Paired reads come from the kernel, best first:
//   PTP_SYS_OFFSET_PRECISE   a cross-timestamp from the device (PCIe PTM, ART
//                            on Intel): PHC and raw at the same instant; the
//                            half-width is taken as precise_half_width_ns.
//   PTP_SYS_OFFSET_EXTENDED  n samples of (system, PHC, system) around the
//                            driver's PHC read; the system clock is asked to be
//                            CLOCK_MONOTONIC_RAW (Linux 6.12+); older kernels
//                            give CLOCK_REALTIME, converted through a realtime
//                            pair read around the ioctl (dropped on a step).
// The narrowest sample is kept.
//
// NOT VERIFIED on hardware: this machine has no PHC (no /dev/ptp*). The maths
// is the tested convert_between(); the ioctl paths are written from the kernel
// UAPI (linux/ptp_clock.h) and only their failure on a missing device is tested.
//
// Units: ns. Thread safety: one thread at a time per PhcToRaw.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "timesync/netstamp/clock_pair.hpp"
#include "timesync/netstamp/realtime_to_raw.hpp"
#include "timesync/netstamp/status.hpp"

namespace timesync::netstamp {

enum class PhcMethod : uint8_t { kPrecise, kExtendedRaw, kExtendedRealtime };

const char* to_string(PhcMethod method);

class PhcToRaw {
 public:
  struct Params {
    int samples = 9;                    // PTP_SYS_OFFSET_EXTENDED samples per read (<= 25)
    int64_t precise_half_width_ns = 50; // assumed error of a device cross-timestamp
    ConversionParams conversion;
  };

  // Opens /dev/ptp<phc_index> read-only (TimestampingSocket::phc_index()).
  static Result<PhcToRaw> open(int phc_index);
  static Result<PhcToRaw> open(int phc_index, Params params);
  static Result<PhcToRaw> open_path(const std::string& device, Params params);

  PhcToRaw(PhcToRaw&& other) noexcept;
  PhcToRaw& operator=(PhcToRaw&& other) noexcept;
  PhcToRaw(const PhcToRaw&) = delete;
  PhcToRaw& operator=(const PhcToRaw&) = delete;
  ~PhcToRaw();

  // One paired read (diff = PHC minus raw) by the best method the device and
  // kernel accept; the method is remembered after the first success.
  Result<PairedRead> read_pair();
  std::optional<PhcMethod> method() const { return method_; }

  // As RealtimeToRaw: mark before the stamp can have been taken, convert after.
  Result<PairedRead> mark();
  Result<Conversion> convert(int64_t phc_stamp_ns);

 private:
  PhcToRaw(int fd, std::string device, Params params);
  Result<PairedRead> read_precise();
  Result<PairedRead> read_extended(bool raw_clock);

  int fd_ = -1;
  std::string device_;
  Params params_;
  std::optional<PhcMethod> method_;
  std::optional<PairedRead> last_mark_;
};

}  // namespace timesync::netstamp
