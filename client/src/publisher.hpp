// Publisher: where the agent's snapshots go. Production writes the shared
// segment (SegmentWriter); a test in simulated time keeps them, to evaluate
// what a reader would have read at any instant.
//
// The SegmentWriter checks and repairs the segment at every publication; the
// SegmentPublisher logs what it found and did (once per distinct finding) and
// says whether applications get what was published (serving()), which the
// agent's health entry follows.
//
// Thread safety: publish() from the agent's loop only.
#pragma once

#include <cstdint>
#include <string>

#include "timesync/daemon/log.hpp"
#include "timesync/transform.hpp"
#include "timesync/writer.hpp"

namespace timesync::agent {

class Publisher {
 public:
  virtual ~Publisher() = default;
  virtual void publish(const TransformSnapshot& s) = 0;
  // False while applications cannot get what was published (the segment is
  // damaged and not yet repaired).
  virtual bool serving() const { return true; }
  // The epoch a previous writer left (0 if none): the agent publishes above it.
  virtual uint64_t previous_epoch() const = 0;
  virtual std::string where() const = 0;
};

class SegmentPublisher final : public Publisher {
 public:
  explicit SegmentPublisher(SegmentWriter& w) : w_(w) {}
  void publish(const TransformSnapshot& s) override {
    const PublishReport r = w_.publish(s);
    serving_ = r.serving();
    if (r.what != last_what_ && !r.what.empty()) {
      if (r.serving()) {
        TS_LOG_WARN("%s", r.what.c_str());
      } else {
        TS_LOG_ERROR("%s; applications get no time until it is repaired", r.what.c_str());
      }
    }
    last_what_ = r.what;
  }
  bool serving() const override { return serving_; }
  uint64_t previous_epoch() const override { return w_.previous_epoch(); }
  std::string where() const override { return w_.path(); }

 private:
  SegmentWriter& w_;
  bool serving_ = true;
  std::string last_what_;
};

}  // namespace timesync::agent
