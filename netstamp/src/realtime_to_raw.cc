#include "timesync/netstamp/realtime_to_raw.hpp"

#include <time.h>

#include <algorithm>

namespace timesync::netstamp {
namespace {

int64_t read_clock(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

class SystemClockReader final : public ClockReader {
 public:
  int64_t monotonic_raw_ns() override { return read_clock(CLOCK_MONOTONIC_RAW); }
  int64_t realtime_ns() override { return read_clock(CLOCK_REALTIME); }
};

}  // namespace

ClockReader& system_clock_reader() {
  static SystemClockReader reader;  // stateless: shared by every thread
  return reader;
}

PairedRead read_realtime_pair(ClockReader& clocks, int tries) {
  PairedRead best;
  for (int i = 0; i < std::max(tries, 1); ++i) {
    const int64_t a = clocks.monotonic_raw_ns();
    const int64_t rt = clocks.realtime_ns();
    const int64_t b = clocks.monotonic_raw_ns();
    const PairedRead p = make_paired_read(a, rt, b);
    best = i == 0 ? p : narrower(best, p);
  }
  return best;
}

RealtimeToRaw::RealtimeToRaw(ClockReader& clocks) : RealtimeToRaw(clocks, Params{}) {}

RealtimeToRaw::RealtimeToRaw(ClockReader& clocks, Params params) : clocks_(&clocks), params_(params) {}

PairedRead RealtimeToRaw::mark() {
  last_mark_ = read_realtime_pair(*clocks_, params_.tries);
  return *last_mark_;
}

Conversion RealtimeToRaw::convert(int64_t realtime_stamp_ns) {
  if (!last_mark_) return Conversion{};  // kNotBracketed: nothing vouches for the stamp's past
  return convert(realtime_stamp_ns, *last_mark_);
}

Conversion RealtimeToRaw::convert(int64_t realtime_stamp_ns, const PairedRead& before) {
  const PairedRead after = read_realtime_pair(*clocks_, params_.tries);
  return convert_between(realtime_stamp_ns, before, after, params_.conversion);
}

}  // namespace timesync::netstamp
