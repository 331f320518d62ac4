// Re-joining: a primary master that comes back on a new timeline (its host
// rebooted, so its monotonic epoch changed) while a standby kept the fleet's
// timeline would force every SoM to step if it served its own. With
// rejoin_via it first asks the standbys there; when one serves this master's
// timeline (same name) it follows that standby and serves the fleet's
// timeline, with the standby's error plus its own, so agents go back to it
// without a step. It says "standby" meanwhile, so the standby never follows
// it back.
//
// Re-joining ends when the followed standby has had nothing to serve for
// give_up_s (its error passed its limit, or it is gone): this master then
// serves its own timeline, a new epoch, which every agent steps onto. Without
// an outside reference, a timeline whose defining clock is gone can only be
// carried in holdover for as long as its bound allows.
//
// Thread safety: at(), followed() and describe() from any thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "master_timeline.hpp"
#include "standby.hpp"
#include "timesync/config/config.hpp"

namespace timesync::master {

// The first of `via` (host:port) that answers as a standby serving the
// timeline named `id`, asked for up to wait_s; "" when none does (*why says
// what each answered).
std::string find_standby_to_rejoin(const std::vector<std::string>& via, const std::string& id,
                                   const config::ClientTls& tls, double wait_s, std::string* why);

class Rejoiner final : public TimelineFollower {
 public:
  // `own` is this master's own timeline, served once re-joining ends.
  Rejoiner(std::unique_ptr<Standby> standby, const MasterTimeline& own, std::string own_id,
           bool own_realtime, double give_up_s);

  At at(int64_t host_raw_ns) const override;
  Followed followed() const override;
  std::string describe() const override;
  bool rejoined() const { return !gave_up_.load(std::memory_order_acquire); }

 private:
  std::unique_ptr<Standby> standby_;
  const MasterTimeline& own_;
  std::string own_id_;
  bool own_realtime_;
  int64_t give_up_ns_;
  int64_t started_ns_;
  mutable std::atomic<int64_t> last_ok_ns_;
  mutable std::atomic<bool> gave_up_{false};
};

}  // namespace timesync::master
