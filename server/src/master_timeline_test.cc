// MasterTimeline: a step of the served clock bumps the epoch; slewing does not,
// however far it adds up.
#include "master_timeline.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace timesync::master {
namespace {

// Host raw plus an offset the test moves, as CLOCK_REALTIME moves when chrony
// slews it or an operator sets it.
class MovableClock final : public TimeSource {
 public:
  explicit MovableClock(std::atomic<int64_t>* offset) : offset_(offset) {}
  int64_t now_ns() const override { return host_raw_now_ns() + offset_->load(); }
  int64_t to_host_raw_ns(int64_t s) const override { return s - offset_->load(); }
  int64_t from_host_raw_ns(int64_t h) const override { return h + offset_->load(); }
  bool sleep_until(int64_t deadline, const Waker* w) const override {
    return sleep_until_via_host_raw(deadline, w);
  }
  std::string describe() const override { return "movable test clock"; }

 private:
  std::atomic<int64_t>* offset_;
};

constexpr int64_t kThresholdNs = 1'000'000;  // 1 ms

TEST(MasterTimeline, SlewingNeverAddsUpToAStep) {
  std::atomic<int64_t> offset{0};
  MasterTimeline tl(std::make_unique<MovableClock>(&offset), 42, kThresholdNs);
  // 100 ms of slew in 200 us moves, each far below the threshold.
  for (int i = 0; i < 500; ++i) {
    offset += 200'000;
    EXPECT_EQ(tl.read().epoch, 42u);
  }
  EXPECT_EQ(tl.steps(), 0u);
}

TEST(MasterTimeline, AStepBumpsTheEpochOnceAndReadingsFollowTheNewClock) {
  std::atomic<int64_t> offset{0};
  MasterTimeline tl(std::make_unique<MovableClock>(&offset), 42, kThresholdNs);
  EXPECT_EQ(tl.read().epoch, 42u);
  offset += 5'000'000;  // someone set the clock 5 ms ahead
  const int64_t before = host_raw_now_ns();
  const MasterTimeline::Reading r = tl.read();
  EXPECT_TRUE(r.ambiguous);  // the read that saw the step cannot say which side it is on
  EXPECT_GE(r.ns, before + 5'000'000);
  EXPECT_EQ(tl.epoch(), 43u);
  EXPECT_FALSE(tl.read().ambiguous);
  EXPECT_EQ(tl.read().epoch, 43u);
  offset -= 3'000'000;  // and back, partly
  tl.check();
  EXPECT_EQ(tl.epoch(), 44u);
  EXPECT_EQ(tl.steps(), 2u);
}

TEST(MasterTimeline, ConcurrentReadersCountOneStepOnce) {
  std::atomic<int64_t> offset{0};
  MasterTimeline tl(std::make_unique<MovableClock>(&offset), 7, kThresholdNs);
  std::atomic<bool> go{false};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      while (!go.load()) {
      }
      for (int i = 0; i < 10'000; ++i) tl.read();
    });
  }
  offset += 50'000'000;
  go.store(true);
  for (auto& t : readers) t.join();
  EXPECT_EQ(tl.steps(), 1u);
  EXPECT_EQ(tl.epoch(), 8u);
}

TEST(MasterTimeline, ZeroThresholdServesTheSourceWithoutStepChecks) {
  std::atomic<int64_t> offset{0};
  MasterTimeline tl(std::make_unique<MovableClock>(&offset), 9, 0);
  offset += 1'000'000'000;
  EXPECT_EQ(tl.read().epoch, 9u);
  EXPECT_EQ(tl.steps(), 0u);
}

}  // namespace
}  // namespace timesync::master
