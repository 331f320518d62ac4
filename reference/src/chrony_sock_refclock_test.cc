// ChronySockRefclock's bytes (chrony's struct sock_sample) and its refusals,
// against a socket standing in for chronyd. chronyd itself reading them:
// chronyd_test.cc (SelectsTheSockRefclockAndFollowsItsOffset).
#include <gtest/gtest.h>
#include <sys/time.h>

#include <cstring>

#include "testing/daemons.hpp"
#include "timesync/reference/chrony_sock_refclock.hpp"

namespace timesync::reference {
namespace {

using namespace std::chrono_literals;

struct Decoded {
  timeval tv;
  double offset;
  int pulse;
  int leap;
  int pad;
  int magic;
};

Decoded decode(const uint8_t* bytes) {
  Decoded d{};
  std::memcpy(&d, bytes, sizeof d);
  return d;
}

TEST(SockSample, ChronysNativeLayout) {
  const auto b = encode_sock_sample(SockSample{1'700'000'000'123'456'789, 2'500'000, SockLeap::kInsert});
  ASSERT_EQ(b.size(), 40u);
  const Decoded d = decode(b.data());
  EXPECT_EQ(d.tv.tv_sec, 1'700'000'000);
  EXPECT_EQ(d.tv.tv_usec, 123'456) << "truncated to the microsecond";
  EXPECT_DOUBLE_EQ(d.offset, 0.0025);
  EXPECT_EQ(d.pulse, 0);
  EXPECT_EQ(d.leap, 1);
  EXPECT_EQ(d.pad, 0);
  EXPECT_EQ(d.magic, 0x534f434b);

  // Before the epoch the microseconds stay in 0..999999 (floor, not truncation toward zero).
  const Decoded neg = decode(encode_sock_sample(SockSample{-1'500, -7, SockLeap::kDelete}).data());
  EXPECT_EQ(neg.tv.tv_sec, -1);
  EXPECT_EQ(neg.tv.tv_usec, 999'998);
  EXPECT_DOUBLE_EQ(neg.offset, -7e-9);
  EXPECT_EQ(neg.leap, 2);
}

TEST(SockRefclock, SendsOneSampleAndRefusesABoundTheDelayDoesNotCover) {
  testing::TempDir dir("ts-ref-sock", 0700);
  const std::string path = dir / "chrony.sock";
  testing::FakeDgramServer chronyd(path);
  ASSERT_TRUE(chronyd.ok());
  auto writer = ChronySockRefclock::open({path, 500'000});
  ASSERT_TRUE(writer.ok()) << writer.status().message();

  ASSERT_TRUE(writer->send(SockSample{1'000'000'000'000'000'000, -42'000, SockLeap::kNone}, 500'000).ok());
  auto got = chronyd.receive(2000ms);
  ASSERT_TRUE(got.has_value());
  ASSERT_EQ(got->bytes.size(), 40u);
  const Decoded d = decode(got->bytes.data());
  EXPECT_EQ(d.tv.tv_sec, 1'000'000'000);
  EXPECT_DOUBLE_EQ(d.offset, -42e-6);
  EXPECT_EQ(d.magic, kSockMagic);

  const Status over = writer->send(SockSample{1, 0, SockLeap::kNone}, 500'001);
  EXPECT_EQ(over.code(), Errc::kOutOfRange) << over.message();
  EXPECT_NE(over.message().find("500001"), std::string::npos) << over.message();
  const Status negative = writer->send(SockSample{1, 0, SockLeap::kNone}, -1);
  EXPECT_EQ(negative.code(), Errc::kOutOfRange);
  EXPECT_FALSE(chronyd.receive(200ms).has_value()) << "nothing reaches chronyd for a refused sample";

  EXPECT_EQ(ChronySockRefclock::chrony_conf_line({path, 500'000}, "TSYN", -2),
            "refclock SOCK " + path + " refid TSYN poll -2 delay 0.001");
}

TEST(SockRefclock, NoChronydIsAnErrorValueNamingTheSocket) {
  testing::TempDir dir("ts-ref-sock", 0700);
  auto writer = ChronySockRefclock::open({dir / "absent.sock", 1'000'000});
  ASSERT_TRUE(writer.ok());
  const Status s = writer->send(SockSample{1, 0, SockLeap::kNone}, 0);
  EXPECT_EQ(s.code(), Errc::kSystem);
  EXPECT_EQ(s.sys_errno(), ENOENT);
  EXPECT_NE(s.message().find(dir / "absent.sock"), std::string::npos) << s.message();

  EXPECT_EQ(ChronySockRefclock::open({"", 1}).code(), Errc::kInvalidArgument);
  EXPECT_EQ(ChronySockRefclock::open({"/" + std::string(200, 'x'), 1}).code(), Errc::kInvalidArgument);
  EXPECT_EQ(ChronySockRefclock::open({dir / "x", 0}).code(), Errc::kInvalidArgument);
}

}  // namespace
}  // namespace timesync::reference
