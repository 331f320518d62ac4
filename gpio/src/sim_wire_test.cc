// The simulated wire across real processes: a forked child drives, the parent
// watches through its own mapping of the same /dev/shm segment.
#include <fcntl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "child.hpp"
#include "timesync/gpio/line.hpp"
#include "wire_layout.hpp"

namespace timesync::gpio {
namespace {

using namespace std::chrono_literals;

int64_t raw_now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

class WireTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = "/dev/shm/timesync-wire-test-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    unlink(path_.c_str());
  }
  void TearDown() override { unlink(path_.c_str()); }
  LineSpec spec(unsigned line, int64_t delay = 0) {
    auto p = parse_line_spec("wire:" + path_ + ":" + std::to_string(line) +
                             (delay ? ",delay-ns=" + std::to_string(delay) : ""));
    EXPECT_TRUE(p.ok()) << p.error;
    return p.spec;
  }
  std::string path_;
};

TEST_F(WireTest, EdgesCrossProcessesInOrderWithHostTimestamps) {
  auto in = open_input(spec(2), "observer");
  ASSERT_TRUE(in.ok()) << in.error;
  EXPECT_EQ(in.line->event_clock(), EventClock::kMonotonicRaw);
  const int64_t before = raw_now();
  const std::string child = timesync::testing::run_in_child([&] {
    auto out = open_output(spec(2, 1500), "probe");
    if (!out.ok()) return out.error;
    for (int i = 0; i < 50; ++i) {
      out.line->set(true);
      out.line->set(true);  // same level again: no edge, as on a real pin
      out.line->set(false);
    }
    return std::string("ok");
  });
  const int64_t after = raw_now();
  ASSERT_EQ(child, "ok");
  int64_t last = 0;
  for (int i = 0; i < 100; ++i) {
    EdgeEvent ev;
    std::string err;
    ASSERT_EQ(in.line->wait_edge(1s, &ev, &err), InputLine::Wait::kEdge) << i << " " << err;
    EXPECT_EQ(ev.edge, i % 2 == 0 ? Edge::kRising : Edge::kFalling) << i;
    // Stamped on the host's raw clock when set, plus the 1.5 us delay.
    EXPECT_GE(ev.timestamp_ns, before + 1500);
    EXPECT_LE(ev.timestamp_ns, after + 1500);
    EXPECT_GE(ev.timestamp_ns, last);
    last = ev.timestamp_ns;
  }
  EdgeEvent ev;
  std::string err;
  EXPECT_EQ(in.line->wait_edge(20ms, &ev, &err), InputLine::Wait::kTimeout);
  EXPECT_EQ(in.line->lost(), 0u);
}

TEST_F(WireTest, AWatcherBlockedInWaitIsWokenByAnotherProcess) {
  auto in = open_input(spec(0), "observer");
  ASSERT_TRUE(in.ok()) << in.error;
  std::thread waker([&] {
    timesync::testing::run_in_child([&] {
      auto out = open_output(spec(0), "probe");
      // The edge may land before or after the parent starts waiting: both
      // orders must deliver it.
      if (out.ok()) out.line->set(true);
      return std::string("ok");
    });
  });
  EdgeEvent ev;
  std::string err;
  EXPECT_EQ(in.line->wait_edge(5s, &ev, &err), InputLine::Wait::kEdge);
  EXPECT_EQ(ev.edge, Edge::kRising);
  waker.join();
}

TEST_F(WireTest, OneDriverPerLineWhileItLivesThenTakenOver) {
  auto first = open_output(spec(5), "camera-probe");
  ASSERT_TRUE(first.ok()) << first.error;
  const std::string busy = timesync::testing::run_in_child([&] {
    auto second = open_output(spec(5), "other");
    return second.ok() ? std::string("opened") : second.error;
  });
  EXPECT_NE(busy.find("is busy: driven by pid " + std::to_string(getpid())), std::string::npos)
      << busy;
  EXPECT_NE(busy.find("camera-probe"), std::string::npos) << busy;
  // Other lines of the same wire are free.
  EXPECT_TRUE(open_output(spec(6), "x").ok());
  // A driver that dies without releasing (a crash) does not block the line.
  const std::string crashed = timesync::testing::run_in_child([&] {
    auto o = open_output(spec(7), "crashes");
    if (!o.ok()) return o.error;
    _exit(0);  // no destructor runs
  });
  EXPECT_EQ(crashed, "");
  auto after_crash = open_output(spec(7), "next");
  EXPECT_TRUE(after_crash.ok()) << after_crash.error;
}

TEST_F(WireTest, ASlowWatcherCountsWhatItLost) {
  auto in = open_input(spec(1), "observer");
  ASSERT_TRUE(in.ok()) << in.error;
  auto out = open_output(spec(1), "probe");
  ASSERT_TRUE(out.ok()) << out.error;
  const int edges = static_cast<int>(kWireRing) + 100;
  for (int i = 0; i < edges; ++i) out.line->set(i % 2 == 0);
  int seen = 0;
  EdgeEvent ev;
  std::string err;
  while (in.line->wait_edge(10ms, &ev, &err) == InputLine::Wait::kEdge) ++seen;
  EXPECT_EQ(seen, static_cast<int>(kWireRing));
  EXPECT_EQ(in.line->lost(), 100u);
}

TEST_F(WireTest, RefusesASegmentThatIsNotAWire) {
  {
    std::ofstream f(path_);
    f << "not a wire";
  }
  auto in = open_input(spec(0), "observer");
  ASSERT_FALSE(in.ok());
  EXPECT_NE(in.error.find("not a timesync wire: size 10 bytes"), std::string::npos) << in.error;
  // Right size, wrong magic.
  ASSERT_EQ(truncate(path_.c_str(), sizeof(WireSegment)), 0);
  {
    std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
    const uint64_t bad = 0x1234;
    f.write(reinterpret_cast<const char*>(&bad), sizeof bad);
  }
  auto out = open_output(spec(0), "probe");
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.error.find("bad magic"), std::string::npos) << out.error;
}

TEST_F(WireTest, PermissionDeniedNamesTheWire) {
  {
    std::ofstream f(path_);
  }
  chmod(path_.c_str(), 0600);
  // As root, the child drops to nobody; otherwise mode 000 denies even the owner.
  if (geteuid() != 0) chmod(path_.c_str(), 0);
  const std::string err = timesync::testing::run_in_child(
      [&] {
        auto in = open_input(spec(0), "observer");
        return in.ok() ? std::string("opened") : in.error;
      },
      {.drop_privileges = true});
  EXPECT_NE(err.find("wire " + path_ + ": permission denied"), std::string::npos) << err;
}

}  // namespace
}  // namespace timesync::gpio
