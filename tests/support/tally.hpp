// The product's one promise, checked reading by reading: a served time lies
// within its bound. In the integration tests the master serves this host's
// CLOCK_MONOTONIC_RAW, so the truth of a reading is the raw instant it was read
// at (`local`) and its error is exact: time - local. That holds when the reader
// read CLOCK_MONOTONIC_RAW; a reader on the counter path (counter.hpp) reports
// the counter map's estimate of it, so each reading is also bracketed by two
// clock_gettime(CLOCK_MONOTONIC_RAW) reads: the true instant lies between them,
// and a time farther than the bound from the whole bracket is outside too.
//
// Tally counts one segment's (or many segments') readings; SegmentSampler reads
// a set of segments on a thread of its own at a fixed period, opening each one
// as it appears, so a test can watch agents from before they start.
// Thread safety: a Tally is a plain value; SegmentSampler's methods may be
// called from any thread while it runs.
#pragma once

#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/process.hpp"
#include "timesync/clock.hpp"

namespace timesync::testing {

struct Tally {
  uint64_t served = 0;    // readings that returned a time
  uint64_t refused = 0;   // readings that returned an error instead
  uint64_t outside = 0;   // served readings whose truth lay outside the bound
  double worst_abs_ns = 0;  // largest |error| of a served reading
  double worst_ratio = 0;   // largest |error| / bound of a served reading

  // r, read between the raw instants before and after (when known).
  void add(const TimestampWithError& r, int64_t before = std::numeric_limits<int64_t>::min(),
           int64_t after = std::numeric_limits<int64_t>::max()) {
    if (!r.ok()) {
      ++refused;
      return;
    }
    ++served;
    double err = std::fabs(static_cast<double>(r.time.ns - r.local.ns));
    const double bound = static_cast<double>(r.bound_ns);
    // The least error the bracket allows, if it is larger.
    if (r.time.ns < before) err = std::max(err, static_cast<double>(before - r.time.ns));
    if (r.time.ns > after) err = std::max(err, static_cast<double>(r.time.ns - after));
    worst_abs_ns = std::max(worst_abs_ns, err);
    worst_ratio = std::max(worst_ratio, bound > 0 ? err / bound
                                        : err > 0 ? std::numeric_limits<double>::infinity()
                                                  : 0.0);
    if (err > bound) ++outside;
  }
  Tally& operator+=(const Tally& o) {
    served += o.served;
    refused += o.refused;
    outside += o.outside;
    worst_abs_ns = std::max(worst_abs_ns, o.worst_abs_ns);
    worst_ratio = std::max(worst_ratio, o.worst_ratio);
    return *this;
  }
  std::string summary() const {
    return std::to_string(served) + " served, " + std::to_string(outside) +
           " outside the bound, " + std::to_string(refused) + " refused, worst |error| " +
           std::to_string(worst_abs_ns / 1e3) + " us, worst |error|/bound " +
           std::to_string(worst_ratio);
  }
};

// One reading of `clock` into `t`.
inline int64_t raw_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// One reading of `clock` into `t`, bracketed (see above); the reading.
inline TimestampWithError check_reading(const Clock& clock, Tally* t) {
  const int64_t before = raw_ns();
  const TimestampWithError r = clock.get_timestamp_with_error();
  t->add(r, before, raw_ns());
  return r;
}

// Every reading `clock` gives for `span`, back to back.
inline Tally tally_for(const Clock& clock, std::chrono::milliseconds span) {
  Tally t;
  const auto until = std::chrono::steady_clock::now() + span;
  eventually([&] {
    check_reading(clock, &t);
    return std::chrono::steady_clock::now() > until;
  }, span + std::chrono::seconds(10));
  return t;
}

// The segment at `path` once the agent has created it; nullopt after `timeout`.
inline std::optional<Clock> open_clock(const std::string& path,
                                       std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  std::optional<Clock> c;
  eventually([&] {
    Result<Clock> r = Clock::open(path);
    if (r.ok()) c.emplace(std::move(r.value()));
    return c.has_value();
  }, timeout);
  return c;
}

// Reads every segment of a list each `period` from its own thread, from
// before the segments exist (a segment not there yet is tried again next
// round) until stop() or destruction. The pace is the sampler's own; it
// waits for nothing.
class SegmentSampler {
 public:
  struct Segment {
    Tally tally;
    // CLOCK_MONOTONIC_RAW of the first served reading, or 0 while none was.
    int64_t first_served_ns = 0;
  };

  SegmentSampler(std::vector<std::string> paths, std::chrono::microseconds period)
      : paths_(std::move(paths)), period_(period), state_(paths_.size()) {
    thread_ = std::thread([this] { run(); });
  }
  ~SegmentSampler() { stop(); }
  SegmentSampler(const SegmentSampler&) = delete;
  SegmentSampler& operator=(const SegmentSampler&) = delete;

  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::vector<Segment> segments() const {
    std::lock_guard<std::mutex> lock(mu_);
    return state_;
  }
  Tally total() const {
    Tally t;
    for (const Segment& s : segments()) t += s.tally;
    return t;
  }
  uint64_t rounds() const { return rounds_; }

 private:
  void run() {
    std::vector<std::optional<Clock>> clocks(paths_.size());
    timespec next{};
    clock_gettime(CLOCK_MONOTONIC, &next);
    while (!stop_) {
      for (size_t i = 0; i < paths_.size(); ++i) {
        if (!clocks[i]) {
          Result<Clock> r = Clock::open(paths_[i]);
          if (!r.ok()) continue;
          clocks[i].emplace(std::move(r.value()));
        }
        const int64_t before = raw_ns();
        const TimestampWithError r = clocks[i]->get_timestamp_with_error();
        const int64_t after = raw_ns();
        std::lock_guard<std::mutex> lock(mu_);
        state_[i].tally.add(r, before, after);
        if (r.ok() && state_[i].first_served_ns == 0) state_[i].first_served_ns = r.local.ns;
      }
      ++rounds_;
      next.tv_nsec += std::chrono::nanoseconds(period_).count();
      while (next.tv_nsec >= 1'000'000'000) {
        next.tv_nsec -= 1'000'000'000;
        ++next.tv_sec;
      }
      // Late (a loaded machine): start the next round at once, and do not
      // try to catch up on the rounds missed.
      timespec now{};
      clock_gettime(CLOCK_MONOTONIC, &now);
      if (now.tv_sec > next.tv_sec || (now.tv_sec == next.tv_sec && now.tv_nsec > next.tv_nsec)) {
        next = now;
        continue;
      }
      clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, nullptr);
    }
  }

  const std::vector<std::string> paths_;
  const std::chrono::microseconds period_;
  mutable std::mutex mu_;
  std::vector<Segment> state_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> rounds_{0};
  std::thread thread_;
};

}  // namespace timesync::testing
