#include "utc_publication.hpp"

#include <algorithm>
#include <cmath>

namespace timesync::agent {

UtcInfo utc_for_readers(const MasterInfo& m) {
  UtcInfo out;
  if (!m.utc) return out;
  const MasterUtc& u = *m.utc;
  const bool realtime = m.timebase == MasterTimebase::kRealtime;
  // A rate beyond what a reader accepts is no UTC at all, not a corrupt segment.
  if (!std::isfinite(u.rate_ppb) || std::fabs(u.rate_ppb) > static_cast<double>(kMaxUtcRatePpb)) return out;
  out.flags = kUtcValid | (u.synchronized ? kUtcReferenceSynchronized : 0) |
              (u.leap_list_expired ? kUtcLeapListExpired : 0);
  out.offset_ns = realtime ? 0 : u.offset_ns;
  out.as_of = SyncTime{u.as_of_master_ns};
  out.error_ns = realtime ? 0 : u.error_ns;
  out.rate_ppb = realtime ? 0 : std::llround(u.rate_ppb);
  // + 1: the rate rounded to a whole ppb.
  const uint64_t rate_error = (u.rate_error_ppb == 0 ? kUnknownUtcRateErrorPpb : u.rate_error_ppb) + 1;
  out.rate_error_ppb = std::min<uint64_t>(rate_error, static_cast<uint64_t>(kMaxUtcRatePpb));
  out.tai_minus_utc_s = u.tai_minus_utc_s;
  out.next_leap_utc_s = u.next_leap_utc_s;
  out.next_tai_minus_utc_s = u.next_tai_minus_utc_s;
  return out;
}

}  // namespace timesync::agent
