#include "timesync/estimator/publication.hpp"

#include <cmath>

namespace timesync::estimator {

Transform to_transform(const Estimate& e, double growth_until_void_ppb, const ClockMap& m,
                       uint64_t max_error_ns, uint64_t epoch, ClockStatus status) {
  Transform s;
  s.max_error_ns = max_error_ns;
  s.epoch = epoch;
  if (!e.valid) {
    s.as_of = s.void_after = s.ref_local = LocalTime{m.now_host};
    s.ref_sync = SyncTime{m.now_host};
    s.status = ClockStatus::kUnsynchronized;
    return s;
  }
  // Anchor at now: sync(now_host) = line(now_local), with the local clock's
  // rate against host raw carried into the frequency.
  const double f = e.line.freq_ppb;
  const double r = m.rate_vs_host_ppb;
  s.ref_local = LocalTime{m.now_host};
  s.ref_sync = e.line.at(LocalTime{m.now_local});
  s.freq_adj_q48 = ppb_to_q48(f + r + f * r * 1e-9);
  s.as_of = LocalTime{m.as_of_host};
  s.void_after = LocalTime{m.void_after_host};
  // Growth is per second of local time; per host second it is (1 + r) times
  // that. +1 ppb and +2 ns cover the rounding of the two mappings.
  const double growth = growth_until_void_ppb * (1 + std::fabs(r) * 1e-9);
  s.bound_growth_ppb = static_cast<uint64_t>(std::ceil(growth)) + 1;
  s.bound_at_as_of_ns = e.bound_at_as_of_ns + 2;
  s.status = status;
  return s;
}

}  // namespace timesync::estimator
