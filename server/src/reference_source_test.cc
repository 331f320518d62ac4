// ReferenceSource's published state (pure: reference_state_at) and its
// poller against a reference that is absent or answers garbage: errors are
// values and log lines, the master's error stays unknown, nothing crashes.
// The real daemons: tests/integration/reference_test.cc.
#include "reference_source.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include "master_timeline.hpp"
#include "timesync/v1/timesync.pb.h"

namespace timesync::master {
namespace {

using namespace std::chrono_literals;
constexpr int64_t kS = 1'000'000'000;
constexpr int64_t k2016Dec31Noon = 1'483'185'600;  // 12:00 UTC the day of the 2017 leap second

ReferenceReading good(int64_t as_of_ns, int64_t error_ns, double growth_ppm = 1.0, int leap = 0) {
  ReferenceReading r;
  r.reachable = true;
  r.synchronized = true;
  r.as_of_ns = as_of_ns;
  r.error_ns = error_ns;
  r.growth_ppm = growth_ppm;
  r.leap = leap;
  return r;
}

TEST(ReferenceState, UnknownUntilTheFirstGoodReading) {
  ReferenceReading lost;
  lost.as_of_ns = 100 * kS;
  const ReferenceState s = reference_state_at(101 * kS, std::nullopt, lost, nullptr, 1.0);
  EXPECT_FALSE(s.known);
  EXPECT_FALSE(s.synchronized);
  EXPECT_EQ(s.error_ns, kUnknownErrorNs);
}

TEST(ReferenceState, TheErrorGrowsFromTheLastGoodReadingAtTheLargerRate) {
  const ReferenceReading g = good(1000 * kS, 50'000, /*growth_ppm=*/3.0);
  ReferenceState s = reference_state_at(1000 * kS, g, g, nullptr, 1.0);
  EXPECT_TRUE(s.known && s.synchronized);
  EXPECT_EQ(s.error_ns, 50'000u);
  s = reference_state_at(1010 * kS, g, g, nullptr, 1.0);
  EXPECT_EQ(s.error_ns, 50'000u + 30'000u) << "3 ppm over 10 s";
  // The reference lost (unreachable): the same growth, at the configured rate if larger.
  ReferenceReading lost;
  lost.as_of_ns = 1005 * kS;
  s = reference_state_at(1100 * kS, g, lost, nullptr, 10.0);
  EXPECT_TRUE(s.known);
  EXPECT_FALSE(s.synchronized);
  EXPECT_EQ(s.error_ns, 50'000u + 1'000'000u) << "10 ppm over 100 s";
  // Before the reading (another thread's clock read): no shrinking below it.
  EXPECT_EQ(reference_state_at(999 * kS, g, g, nullptr, 1.0).error_ns, 50'000u);
  // Far in the future it keeps growing without overflow, and saturates at the unknown error.
  EXPECT_EQ(reference_state_at(INT64_MAX, g, lost, nullptr, 1000.0).error_ns,
            50'000u + 9'223'371'036'854'776u);
  const ReferenceReading huge = good(1000 * kS, static_cast<int64_t>(kUnknownErrorNs) - 10);
  EXPECT_EQ(reference_state_at(INT64_MAX, huge, lost, nullptr, 1000.0).error_ns, kUnknownErrorNs);
}

TEST(ReferenceState, TaiMinusUtcAndTheLeapSecondFromTheListOrTheReference) {
  auto list = reference::LeapSeconds::load();
  ASSERT_TRUE(list.ok()) << list.status().message();
  const ReferenceReading g = good(k2016Dec31Noon * kS, 1000);
  ReferenceState s = reference_state_at(k2016Dec31Noon * kS, g, g, &*list, 1.0);
  EXPECT_EQ(s.tai_minus_utc_s, 36);
  EXPECT_EQ(s.next_leap_utc_s, 1'483'228'800);
  EXPECT_EQ(s.next_tai_minus_utc_s, 37);
  EXPECT_FALSE(s.leap_list_expired);

  // Without a list: TAI-UTC unknown, but a leap second chronyd announces for
  // today is published (at the next midnight).
  const ReferenceReading insert = good(k2016Dec31Noon * kS, 1000, 1.0, +1);
  s = reference_state_at(k2016Dec31Noon * kS, insert, insert, nullptr, 1.0);
  EXPECT_EQ(s.tai_minus_utc_s, 0);
  EXPECT_EQ(s.next_leap_utc_s, 1'483'228'800);
  EXPECT_EQ(s.next_tai_minus_utc_s, 0);
  // With the list, a (hypothetical) delete announced today on a day the list
  // knows nothing of: TAI-UTC - 1 from the next midnight.
  const int64_t later = (1'483'228'800 + 100 * 86'400 + 3600);
  const ReferenceReading del = good(later * kS, 1000, 1.0, -1);
  s = reference_state_at(later * kS, del, del, &*list, 1.0);
  EXPECT_EQ(s.tai_minus_utc_s, 37);
  EXPECT_EQ(s.next_leap_utc_s, 1'483'228'800 + 101 * 86'400);
  EXPECT_EQ(s.next_tai_minus_utc_s, 36);
}

// A socket bound where chronyd's would be, answering every request with `reply`.
class FakeChronyd {
 public:
  FakeChronyd(const std::string& path, std::vector<uint8_t> reply) : path_(path), reply_(std::move(reply)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    bound_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    timeval tv{0, 100'000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    thread_ = std::thread([this] {
      while (!stop_) {
        uint8_t buf[512];
        sockaddr_un from{};
        socklen_t len = sizeof from;
        const ssize_t n = ::recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
        if (n <= 0) continue;
        ++requests_;
        ::sendto(fd_, reply_.data(), reply_.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
      }
    });
  }
  ~FakeChronyd() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  bool bound() const { return bound_; }
  int requests() const { return requests_; }

 private:
  std::string path_;
  std::vector<uint8_t> reply_;
  int fd_ = -1;
  bool bound_ = false;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

class ReferencePoller : public ::testing::Test {
 protected:
  void TearDown() override { std::filesystem::remove_all(dir_); }
  bool wait_readings(const ReferenceSource& s, uint64_t n) {
    const auto end = std::chrono::steady_clock::now() + 10s;
    while (s.readings() < n) {
      if (std::chrono::steady_clock::now() > end) return false;
      std::this_thread::sleep_for(10ms);  // polling a counter, with a deadline
    }
    return true;
  }
  std::string dir_ = [] {
    char t[] = "/tmp/ts-refsrc-XXXXXX";
    return std::string(::mkdtemp(t));
  }();
};

TEST_F(ReferencePoller, NoChronydMeansUnknownAndSaysWhy) {
  config::MasterReference cfg;
  cfg.source = config::ReferenceSource::kChrony;
  cfg.socket = dir_ + "/chronyd.sock";
  cfg.poll_s = 0.1;
  auto s = ReferenceSource::start(cfg);
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(wait_readings(*s, 3));
  EXPECT_EQ(s->error_now_ns(), kUnknownErrorNs);
  const std::string d = s->describe();
  EXPECT_NE(d.find("chrony at " + cfg.socket + ": unreachable: "), std::string::npos) << d;
  EXPECT_NE(d.find("UTC unknown"), std::string::npos) << d;
  MasterTimeline timeline(make_monotonic_raw_source(), 1, 0);
  v1::Utc utc;
  EXPECT_FALSE(s->fill(timeline, false, &utc));
  EXPECT_EQ(utc.error_ns(), 0u) << "untouched";
}

TEST_F(ReferencePoller, GarbageFromChronydIsAnErrorValue) {
  const std::string path = dir_ + "/chronyd.sock";
  // A reply of the right length that is not a chrony reply, and a short one.
  for (const std::vector<uint8_t>& reply : {std::vector<uint8_t>(104, 0xAB), std::vector<uint8_t>(5, 6)}) {
    FakeChronyd fake(path, reply);
    ASSERT_TRUE(fake.bound());
    config::MasterReference cfg;
    cfg.source = config::ReferenceSource::kChrony;
    cfg.socket = path;
    cfg.poll_s = 0.1;
    auto s = ReferenceSource::start(cfg);
    ASSERT_TRUE(wait_readings(*s, 2));
    EXPECT_GT(fake.requests(), 0);
    EXPECT_EQ(s->error_now_ns(), kUnknownErrorNs);
    const std::string d = s->describe();
    EXPECT_NE(d.find("no usable reply"), std::string::npos) << d;
    s.reset();
  }
}

TEST_F(ReferencePoller, NoPtp4lMeansUnknownAndSaysWhy) {
  config::MasterReference cfg;
  cfg.source = config::ReferenceSource::kPtp;
  cfg.socket = dir_ + "/ptp4l";
  cfg.poll_s = 0.1;
  auto s = ReferenceSource::start(cfg);
  ASSERT_TRUE(wait_readings(*s, 2));
  EXPECT_EQ(s->error_now_ns(), kUnknownErrorNs);
  EXPECT_NE(s->describe().find("ptp at " + cfg.socket + ": unreachable: "), std::string::npos) << s->describe();
}

TEST(ReferenceNone, StartsNothing) { EXPECT_EQ(ReferenceSource::start(config::MasterReference{}), nullptr); }

}  // namespace
}  // namespace timesync::master
