#include "timesync/netstamp/phc.hpp"

#include <fcntl.h>
#include <linux/ptp_clock.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

namespace timesync::netstamp {
namespace {

// ptp_sys_offset_extended as Linux 6.12 lays it out: rsv[0] became the
// system clock to sample. Older kernels require it to be 0, which is
// CLOCK_REALTIME, so the same struct serves both. (The installed UAPI
// header may predate the field, hence this mirror.)
struct SysOffsetExtended {
  unsigned int n_samples;
  int clockid;
  unsigned int rsv[2];
  ptp_clock_time ts[PTP_MAX_SAMPLES][3];
};
static_assert(sizeof(SysOffsetExtended) == sizeof(ptp_sys_offset_extended));

int64_t to_ns(const ptp_clock_time& t) { return t.sec * 1'000'000'000 + int64_t{t.nsec}; }

}  // namespace

const char* to_string(PhcMethod method) {
  switch (method) {
    case PhcMethod::kPrecise: return "PTP_SYS_OFFSET_PRECISE";
    case PhcMethod::kExtendedRaw: return "PTP_SYS_OFFSET_EXTENDED (CLOCK_MONOTONIC_RAW)";
    case PhcMethod::kExtendedRealtime: return "PTP_SYS_OFFSET_EXTENDED (CLOCK_REALTIME)";
  }
  return "unknown";
}

Result<PhcToRaw> PhcToRaw::open(int phc_index) { return open(phc_index, Params{}); }

Result<PhcToRaw> PhcToRaw::open(int phc_index, Params params) {
  if (phc_index < 0) return Status(Errc::kInvalidArgument, "no PTP hardware clock (phc_index -1)");
  return open_path("/dev/ptp" + std::to_string(phc_index), params);
}

Result<PhcToRaw> PhcToRaw::open_path(const std::string& device, Params params) {
  const int fd = ::open(device.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return system_error("open " + device, errno);
  params.samples = std::clamp(params.samples, 1, PTP_MAX_SAMPLES);
  return PhcToRaw(fd, device, params);
}

PhcToRaw::PhcToRaw(int fd, std::string device, Params params)
    : fd_(fd), device_(std::move(device)), params_(params) {}

PhcToRaw::PhcToRaw(PhcToRaw&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      device_(std::move(other.device_)),
      params_(other.params_),
      method_(other.method_),
      last_mark_(other.last_mark_) {}

PhcToRaw& PhcToRaw::operator=(PhcToRaw&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    device_ = std::move(other.device_);
    params_ = other.params_;
    method_ = other.method_;
    last_mark_ = other.last_mark_;
  }
  return *this;
}

PhcToRaw::~PhcToRaw() {
  if (fd_ >= 0) ::close(fd_);
}

Result<PairedRead> PhcToRaw::read_precise() {
  ptp_sys_offset_precise p{};
  if (ioctl(fd_, PTP_SYS_OFFSET_PRECISE, &p) != 0) return system_error("PTP_SYS_OFFSET_PRECISE on " + device_, errno);
  PairedRead r;
  r.raw_ns = to_ns(p.sys_monoraw);
  r.diff_ns = to_ns(p.device) - r.raw_ns;
  r.half_width_ns = params_.precise_half_width_ns;
  return r;
}

Result<PairedRead> PhcToRaw::read_extended(bool raw_clock) {
  SysOffsetExtended x{};
  x.n_samples = static_cast<unsigned>(params_.samples);
  x.clockid = raw_clock ? CLOCK_MONOTONIC_RAW : CLOCK_REALTIME;
  // Realtime samples are moved to raw through a realtime pair read around
  // the ioctl, which also catches a realtime step during it.
  RealtimeToRaw realtime;
  if (!raw_clock) realtime.mark();
  if (ioctl(fd_, PTP_SYS_OFFSET_EXTENDED, &x) != 0) {
    return system_error(std::string("PTP_SYS_OFFSET_EXTENDED (") + (raw_clock ? "CLOCK_MONOTONIC_RAW" : "CLOCK_REALTIME") +
                            ") on " + device_,
                        errno);
  }
  PairedRead best;
  for (unsigned i = 0; i < std::min(x.n_samples, unsigned{PTP_MAX_SAMPLES}); ++i) {
    const PairedRead p = make_paired_read(to_ns(x.ts[i][0]), to_ns(x.ts[i][1]), to_ns(x.ts[i][2]));
    best = i == 0 ? p : narrower(best, p);
  }
  if (raw_clock) return best;
  // Here raw_ns/diff_ns are on realtime: best.raw_ns is a realtime instant.
  const Conversion c = realtime.convert(best.raw_ns);
  if (!c.ok()) {
    return Status(Errc::kClockStepped, std::string("CLOCK_REALTIME moved during a PHC read of ") + device_ + " (" +
                                           to_string(c.verdict) + ")");
  }
  PairedRead r;
  r.raw_ns = c.raw_ns;
  r.diff_ns = best.diff_ns + best.raw_ns - c.raw_ns;  // phc - realtime + realtime - raw
  r.half_width_ns = best.half_width_ns + c.uncertainty_ns;
  return r;
}

Result<PairedRead> PhcToRaw::read_pair() {
  if (method_) {
    switch (*method_) {
      case PhcMethod::kPrecise: return read_precise();
      case PhcMethod::kExtendedRaw: return read_extended(true);
      case PhcMethod::kExtendedRealtime: return read_extended(false);
    }
  }
  if (Result<PairedRead> r = read_precise(); r.ok()) {
    method_ = PhcMethod::kPrecise;
    return r;
  }
  // EINVAL: a kernel before 6.12, which wants the clockid field zero.
  if (Result<PairedRead> r = read_extended(true); r.ok() || r.status().sys_errno() != EINVAL) {
    if (r.ok()) method_ = PhcMethod::kExtendedRaw;
    return r;
  }
  Result<PairedRead> r = read_extended(false);
  if (r.ok()) method_ = PhcMethod::kExtendedRealtime;
  return r;
}

Result<PairedRead> PhcToRaw::mark() {
  Result<PairedRead> r = read_pair();
  if (r.ok()) last_mark_ = *r;
  return r;
}

Result<Conversion> PhcToRaw::convert(int64_t phc_stamp_ns) {
  if (!last_mark_) return Conversion{};
  Result<PairedRead> after = read_pair();
  if (!after.ok()) return after.status();
  return convert_between(phc_stamp_ns, *last_mark_, *after, params_.conversion);
}

}  // namespace timesync::netstamp
