// ChronyRefclockPublisher: the agent's publications also go to the SoM's
// chronyd, as `refclock SOCK` samples (chrony_refclock in the agent's config,
// issue 18), so chronyd, which has the privilege and the discipline loop,
// steers CLOCK_REALTIME and every log on the SoM follows the master.
// timesync itself never touches the clock.
//
// At each publication: UTC now as readers get it (evaluate_utc, utc.hpp, at
// the local clock read between two CLOCK_REALTIME reads): the timeline plus
// the master's UTC offset carried at its rate since the answer, the bound
// plus the reference's error and the rate's error times the offset's age; a
// realtime master without a reference: its timeline as it is. The
// sample says "at CLOCK_REALTIME r, UTC was r + offset", with the bound as
// its error. Nothing is sent while readers would be refused (unsynchronized,
// stale, bound over alarm.max_error_us), while a monotonic master publishes
// no UTC (or its UTC is older than kMaxUtcAgeNs on its timeline: no gRPC
// answer for that long; on UDP the agent asks every 10 s), or when the error exceeds chrony_refclock.max_error_us:
// chronyd then sees the source go quiet instead of a wrong time. A leap
// second the master announces for the end of today rides in the sample.
//
// Thread safety: publish() from the agent's loop only; describe() from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

#include "master_link.hpp"
#include "publisher.hpp"
#include "timesync/reference/chrony_sock_refclock.hpp"
#include "timesync/timebase/time_source.hpp"

namespace timesync::agent {

// A master's UTC offset is used for this long (on its timeline) after the answer that carried it.
inline constexpr int64_t kMaxUtcAgeNs = 30'000'000'000;

class ChronyRefclockPublisher final : public Publisher {
 public:
  // `inner` and `local` must outlive this; `master` says what the master last
  // said (Agent::master), called from publish().
  ChronyRefclockPublisher(Publisher& inner, const TimeSource& local, reference::ChronySockRefclock writer,
                          std::function<const MasterInfo&()> master);

  void publish(const TransformSnapshot& s) override;
  bool serving() const override { return inner_.serving(); }
  uint64_t previous_epoch() const override { return inner_.previous_epoch(); }
  std::string where() const override { return inner_.where(); }

  // "chronyd refclock /run/chrony/timesync.sock: 1234 samples sent; last not sent: ..." (status).
  std::string describe() const;
  uint64_t sent() const;

 private:
  void note(const std::string& why, bool sent);

  Publisher& inner_;
  const TimeSource& local_;
  reference::ChronySockRefclock writer_;
  std::function<const MasterInfo&()> master_;
  mutable std::mutex mu_;
  uint64_t sent_ = 0;
  uint64_t not_sent_ = 0;
  std::string last_why_;  // why the last publication was not sent ("" after a sent one)
};

}  // namespace timesync::agent
