#include "chrony_refclock.hpp"

#include <time.h>

#include <cinttypes>
#include <cstdio>
#include <utility>

#include "timesync/daemon/log.hpp"
#include "timesync/transform.hpp"
#include "timesync/utc.hpp"

namespace timesync::agent {
namespace {

int64_t realtime_now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

const char* refused(Error e) {
  switch (e) {
    case Error::kNotSynchronized: return "the agent is not synchronized";
    case Error::kStale: return "the published data is stale";
    case Error::kBoundExceeded: return "the bound exceeds alarm.max_error_us";
    default: return "readers would be refused";
  }
}

}  // namespace

ChronyRefclockPublisher::ChronyRefclockPublisher(Publisher& inner, const TimeSource& local,
                                                 reference::ChronySockRefclock writer,
                                                 std::function<const MasterInfo&()> master)
    : inner_(inner), local_(local), writer_(std::move(writer)), master_(std::move(master)) {}

void ChronyRefclockPublisher::publish(const TransformSnapshot& s) {
  inner_.publish(s);
  // The synchronized time and CLOCK_REALTIME at (nearly) one instant: the
  // local clock read between two realtime reads, their half-distance counted
  // as error. The snapshot's local times are host CLOCK_MONOTONIC_RAW (what
  // readers read), also when the agent runs on a simulated crystal.
  const int64_t r1 = realtime_now_ns();
  const int64_t local = local_.host_now_ns();
  const int64_t r2 = realtime_now_ns();
  const int64_t realtime = r1 + (r2 - r1) / 2;
  const uint64_t read_width = static_cast<uint64_t>(r2 - r1) / 2 + 1;
  // UTC as readers get it (utc.hpp): the timeline plus the master's offset,
  // carried at its rate since the answer, the error growing with its age.
  const UtcWithError u = evaluate_utc(s, LocalTime{local});
  const MasterInfo& m = master_();
  int64_t utc = u.utc_ns;
  uint64_t error = u.bound_ns + read_width;
  reference::SockLeap leap = u.leap == LeapState::kInsert   ? reference::SockLeap::kInsert
                             : u.leap == LeapState::kDelete ? reference::SockLeap::kDelete
                                                            : reference::SockLeap::kNone;
  if (u.error == Error::kNoUtc && m.timebase == MasterTimebase::kRealtime) {
    // A realtime master without a reference: its CLOCK_REALTIME as it is.
    const TimestampWithError t = evaluate(s, LocalTime{local});
    utc = t.time.ns;
    error = t.bound_ns + read_width;
  } else if (u.error == Error::kNoUtc) {
    return note("not sent: the master serves a monotonic timeline and publishes no UTC (no reference.source)",
                false);
  } else if (!u.ok()) {
    return note(std::string("not sent: ") + refused(u.error), false);
  } else if (m.timebase != MasterTimebase::kRealtime && u.time.ns - s.utc.as_of.ns > kMaxUtcAgeNs) {
    return note("not sent: the master's UTC offset is older than 30 s (no gRPC answer since)", false);
  }
  const reference::Status st = writer_.send(reference::SockSample{realtime, utc - realtime, leap},
                                            static_cast<int64_t>(std::min<uint64_t>(error, INT64_MAX)));
  if (!st.ok()) return note("not sent: " + st.message(), false);
  note("", true);
}

void ChronyRefclockPublisher::note(const std::string& why, bool sent) {
  std::string log;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (sent) {
      if (!last_why_.empty() || sent_ == 0) {
        log = "chronyd refclock " + writer_.params().socket_path + ": sending samples";
      }
      ++sent_;
    } else {
      ++not_sent_;
      if (why != last_why_) log = "chronyd refclock " + writer_.params().socket_path + ": " + why;
    }
    last_why_ = why;
  }
  if (log.empty()) return;
  if (sent) {
    TS_LOG_INFO("%s", log.c_str());
  } else {
    TS_LOG_WARN("%s", log.c_str());
  }
}

std::string ChronyRefclockPublisher::describe() const {
  std::lock_guard<std::mutex> lock(mu_);
  char counts[96];
  std::snprintf(counts, sizeof counts, ": %" PRIu64 " samples sent, %" PRIu64 " not sent", sent_, not_sent_);
  std::string out = writer_.params().socket_path + counts;
  if (!last_why_.empty()) out += "; last " + last_why_;
  return out;
}

uint64_t ChronyRefclockPublisher::sent() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sent_;
}

}  // namespace timesync::agent
