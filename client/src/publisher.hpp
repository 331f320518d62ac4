// Publisher: where the agent's snapshots go. Production writes the shared
// segment (SegmentWriter); a test in simulated time keeps them, to evaluate
// what a reader would have read at any instant.
//
// Thread safety: publish() from the agent's loop only.
#pragma once

#include <cstdint>
#include <string>

#include "timesync/transform.hpp"
#include "timesync/writer.hpp"

namespace timesync::agent {

class Publisher {
 public:
  virtual ~Publisher() = default;
  virtual void publish(const TransformSnapshot& s) = 0;
  // The epoch a previous writer left (0 if none): the agent publishes above it.
  virtual uint64_t previous_epoch() const = 0;
  virtual std::string where() const = 0;
};

class SegmentPublisher final : public Publisher {
 public:
  explicit SegmentPublisher(SegmentWriter& w) : w_(w) {}
  void publish(const TransformSnapshot& s) override { w_.publish(s); }
  uint64_t previous_epoch() const override { return w_.previous_epoch(); }
  std::string where() const override { return w_.path(); }

 private:
  SegmentWriter& w_;
};

}  // namespace timesync::agent
