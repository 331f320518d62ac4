// CounterPublisher: every publication also carries the CPU counter's map
// (counter.hpp), so readers on this SoM read the counter instead of calling
// clock_gettime (issue 20). It takes one pair (counter_host.hpp) per
// publication, feeds the calibrator and puts the map it gives into the
// snapshot; an unsynchronized snapshot carries none. Logs when the map
// appears and when, and why, it is dropped.
//
// Thread safety: publish() from the agent's loop only; describe() from any
// thread.
#pragma once

#include <functional>
#include <mutex>
#include <string>

#include "counter_calibrator.hpp"
#include "publisher.hpp"

namespace timesync::agent {

class CounterPublisher final : public Publisher {
 public:
  // `inner` must outlive this. `still_allowed` (may be empty) is asked at
  // every publication: a non-empty answer (why the counter may no longer be
  // used) ends the maps for good.
  CounterPublisher(Publisher& inner, CounterCalibrator::Options o,
                   std::function<std::string()> still_allowed = {})
      : inner_(inner), cal_(o), still_allowed_(std::move(still_allowed)) {}
  void publish(const TransformSnapshot& s) override;
  bool serving() const override { return inner_.serving(); }
  uint64_t previous_epoch() const override { return inner_.previous_epoch(); }
  std::string where() const override { return inner_.where(); }
  // What readers read now, for the agent's status.
  std::string describe() const;

 private:
  Publisher& inner_;
  CounterCalibrator cal_;
  std::function<std::string()> still_allowed_;
  std::string given_up_;  // why the counter is no longer used; "" while it is
  bool mapped_ = false;   // the last publication carried a map
  std::string last_restart_;  // why the last publication restarted the map; "" if it did not
  mutable std::mutex mu_;
  std::string described_ = "clock_gettime until the counter map is calibrated";
};

}  // namespace timesync::agent
