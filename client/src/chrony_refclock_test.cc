// ChronyRefclockPublisher: what reaches chronyd's SOCK socket for each kind
// of master and snapshot, and what is withheld (and said) instead. A socket
// bound here stands in for chronyd; chronyd itself following the samples:
// tests/integration/reference_test.cc.
#include "chrony_refclock.hpp"
#include "utc_publication.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <optional>

namespace timesync::agent {
namespace {

int64_t clock_ns(clockid_t c) {
  timespec ts{};
  clock_gettime(c, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

class CountingPublisher final : public Publisher {
 public:
  void publish(const TransformSnapshot&) override { ++published; }
  uint64_t previous_epoch() const override { return 0; }
  std::string where() const override { return "memory"; }
  int published = 0;
};

struct Received {
  int64_t realtime_ns;
  double offset_s;
  int leap;
};

class RefclockPublisher : public ::testing::Test {
 protected:
  void SetUp() override {
    char t[] = "/tmp/ts-refclock-XXXXXX";
    ASSERT_NE(::mkdtemp(t), nullptr);
    dir_ = t;
    path_ = dir_ + "/chrony.sock";
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path_.c_str(), sizeof a.sun_path - 1);
    ASSERT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    auto w = reference::ChronySockRefclock::open({path_, 1'000'000});
    ASSERT_TRUE(w.ok()) << w.status().message();
    pub_.emplace(inner_, *local_, std::move(*w), [this]() -> const MasterInfo& { return master_; });
  }
  void TearDown() override {
    ::close(fd_);
    std::filesystem::remove_all(dir_);
  }
  std::optional<Received> receive() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 200) != 1) return std::nullopt;  // sent synchronously before publish() returned
    struct {
      timeval tv;
      double offset;
      int pulse, leap, pad, magic;
    } s{};
    if (::recv(fd_, &s, sizeof s, 0) != static_cast<ssize_t>(sizeof s) || s.magic != 0x534f434b) return std::nullopt;
    return Received{int64_t{s.tv.tv_sec} * 1'000'000'000 + int64_t{s.tv.tv_usec} * 1000, s.offset, s.leap};
  }
  // Synchronized: the master's timeline is host raw + `ahead_ns`, bound `bound_ns`.
  TransformSnapshot snapshot(int64_t ahead_ns, uint64_t bound_ns, ClockStatus status = ClockStatus::kSynchronized) {
    TransformSnapshot s;
    const int64_t now = clock_ns(CLOCK_MONOTONIC_RAW);
    s.epoch = 1;
    s.as_of = LocalTime{now};
    s.void_after = LocalTime{now + 10'000'000'000};
    s.ref_local = LocalTime{now};
    s.ref_sync = SyncTime{now + ahead_ns};
    s.bound_at_as_of_ns = bound_ns;
    s.max_error_ns = 5'000'000;
    s.status = status;
    s.utc = utc_for_readers(master_);  // as the agent's build() does
    return s;
  }
  // What the sample's offset must be: the timeline (+ utc) minus realtime.
  static double expected_offset_s(int64_t ahead_ns, int64_t utc_offset_ns) {
    const int64_t raw = clock_ns(CLOCK_MONOTONIC_RAW);
    const int64_t real = clock_ns(CLOCK_REALTIME);
    return static_cast<double>(raw + ahead_ns + utc_offset_ns - real) * 1e-9;
  }

  std::string dir_, path_;
  int fd_ = -1;
  CountingPublisher inner_;
  std::unique_ptr<TimeSource> local_ = make_monotonic_raw_source();
  MasterInfo master_;
  std::optional<ChronyRefclockPublisher> pub_;
};

TEST_F(RefclockPublisher, ARealtimeMastersTimelineIsSentAsItIs) {
  master_.timebase = MasterTimebase::kRealtime;
  const int64_t ahead = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC_RAW) + 3'000'000;  // UTC + 3 ms
  pub_->publish(snapshot(ahead, 20'000));
  EXPECT_EQ(inner_.published, 1);
  auto r = receive();
  ASSERT_TRUE(r.has_value());
  EXPECT_NEAR(r->offset_s, 0.003, 50e-6);
  EXPECT_NEAR(static_cast<double>(r->realtime_ns), static_cast<double>(clock_ns(CLOCK_REALTIME)), 1e8);
  EXPECT_EQ(r->leap, 0);
  EXPECT_EQ(pub_->sent(), 1u);
}

TEST_F(RefclockPublisher, AMonotonicMastersTimelinePlusItsUtcOffset) {
  master_.timebase = MasterTimebase::kMonotonic;
  const int64_t ahead = 5'000'000'000;  // the master's timeline: 5 s ahead of this host's raw clock
  const int64_t raw_now = clock_ns(CLOCK_MONOTONIC_RAW);
  // The master says: UTC = timeline + offset, and a leap second at the end of today.
  const int64_t offset = clock_ns(CLOCK_REALTIME) - (raw_now + ahead) - 7'000'000;  // UTC 7 ms behind realtime
  const int64_t today_end = (clock_ns(CLOCK_REALTIME) / 1'000'000'000 / 86'400 + 1) * 86'400;
  master_.utc = MasterUtc{offset, 10'000, true, 37, today_end, 38, false, raw_now + ahead};
  pub_->publish(snapshot(ahead, 20'000));
  auto r = receive();
  ASSERT_TRUE(r.has_value());
  EXPECT_NEAR(r->offset_s, -0.007, 50e-6);
  EXPECT_NEAR(r->offset_s, expected_offset_s(ahead, offset), 50e-6);
  EXPECT_EQ(r->leap, 1) << "insert at the end of today";

  // Without UTC from the master: nothing sent, and said once.
  master_.utc.reset();
  pub_->publish(snapshot(ahead, 20'000));
  EXPECT_FALSE(receive().has_value());
  EXPECT_NE(pub_->describe().find("publishes no UTC"), std::string::npos) << pub_->describe();
  EXPECT_EQ(inner_.published, 2) << "the segment still gets every publication";

  // A UTC offset older than 30 s on the master's timeline (no gRPC answer since): not used.
  master_.utc = MasterUtc{offset, 10'000, true, 37, 0, 0, false, raw_now + ahead - 31'000'000'000};
  pub_->publish(snapshot(ahead, 20'000));
  EXPECT_FALSE(receive().has_value());
  EXPECT_NE(pub_->describe().find("older than 30 s"), std::string::npos) << pub_->describe();
}

TEST_F(RefclockPublisher, NothingWhileReadersWouldBeRefusedOrTheBoundIsTooLarge) {
  master_.timebase = MasterTimebase::kRealtime;
  pub_->publish(snapshot(0, 20'000, ClockStatus::kUnsynchronized));
  EXPECT_FALSE(receive().has_value());
  EXPECT_NE(pub_->describe().find("not synchronized"), std::string::npos) << pub_->describe();
  // A bound of 1.5 ms: within alarm.max_error (5 ms) but over what the refclock's delay covers (1 ms).
  pub_->publish(snapshot(0, 1'500'000));
  EXPECT_FALSE(receive().has_value());
  EXPECT_NE(pub_->describe().find("outside 0..1000000 ns"), std::string::npos) << pub_->describe();
  // chronyd gone: an error value, said; the next good one is sent once it is back.
  ::close(fd_);
  ::unlink(path_.c_str());
  pub_->publish(snapshot(0, 20'000));
  EXPECT_NE(pub_->describe().find("No such file or directory"), std::string::npos) << pub_->describe();
  EXPECT_EQ(pub_->sent(), 0u);
  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path_.c_str(), sizeof a.sun_path - 1);
  ASSERT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  pub_->publish(snapshot(0, 20'000));
  EXPECT_TRUE(receive().has_value());
  EXPECT_EQ(pub_->sent(), 1u);
}

}  // namespace
}  // namespace timesync::agent
