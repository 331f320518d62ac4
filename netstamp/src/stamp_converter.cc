#include "timesync/netstamp/stamp_converter.hpp"

namespace timesync::netstamp {

Result<StampConverter> StampConverter::for_socket(const TimestampingSocket& s) {
  StampConverter c(s.mode());
  if (s.mode() == TimestampMode::kHardware) {
    Result<PhcToRaw> phc = PhcToRaw::open(s.phc_index());
    if (!phc.ok()) return phc.status();
    c.phc_.emplace(std::move(phc.value()));
  }
  return c;
}

Result<PairedRead> StampConverter::mark() {
  switch (mode_) {
    case TimestampMode::kHardware: return phc_->read_pair();
    case TimestampMode::kSoftware: return read_realtime_pair(system_clock_reader(), 5);
    default: {
      // User stamps need no conversion; a raw read keeps the bracket check.
      const int64_t raw = system_clock_reader().monotonic_raw_ns();
      return PairedRead{raw, 0, 0};
    }
  }
}

Conversion StampConverter::convert(const Timestamp& stamp, const PairedRead& before) {
  Conversion c;
  const bool matches = (mode_ == TimestampMode::kHardware && stamp.source == StampSource::kHardware) ||
                       (mode_ == TimestampMode::kSoftware && stamp.source == StampSource::kKernelSoftware) ||
                       (mode_ == TimestampMode::kUser && stamp.source == StampSource::kUser);
  if (!matches) return c;  // kNotBracketed
  Result<PairedRead> after = mark();
  if (!after.ok()) return c;
  return convert_between(stamp.ns, before, *after, params_);
}

}  // namespace timesync::netstamp
