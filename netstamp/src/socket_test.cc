// TimestampingSocket on real loopback sockets (127.0.0.1 and ::1): kernel
// software stamps arrive, are ordered as the packet's path orders them, are
// matched to their send by OPT_ID with several in flight, and convert to
// CLOCK_MONOTONIC_RAW between raw reads taken around the exchange.
#include <gtest/gtest.h>
#include <time.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "timesync/netstamp/interface.hpp"
#include "timesync/netstamp/realtime_to_raw.hpp"
#include "timesync/netstamp/socket.hpp"

namespace timesync::netstamp {
namespace {

using namespace std::chrono_literals;

int64_t now_ns(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

std::span<const std::byte> bytes(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

std::string text(std::span<const std::byte> b, std::size_t n) {
  return std::string(reinterpret_cast<const char*>(b.data()), n);
}

// A sender connected to a receiver bound on the loopback address.
struct Pair {
  TimestampingSocket a;
  TimestampingSocket b;
};

Pair open_pair(Family family, TimestampMode mode = TimestampMode::kSoftware, std::size_t cache = 64) {
  SocketOptions o;
  o.mode = mode;
  o.max_cached_tx_stamps = cache;
  Result<TimestampingSocket> a = TimestampingSocket::open(family, o);
  Result<TimestampingSocket> b = TimestampingSocket::open(family, o);
  EXPECT_TRUE(a.ok()) << a.status().message();
  EXPECT_TRUE(b.ok()) << b.status().message();
  Pair p{std::move(a).value(), std::move(b).value()};
  EXPECT_TRUE(p.b.bind(Endpoint::loopback(family)).ok());
  Result<Endpoint> to = p.b.local_endpoint();
  EXPECT_TRUE(to.ok());
  EXPECT_TRUE(p.a.connect(*to).ok());
  return p;
}

// The kernel switches software receive stamping on from a work queue when
// the first socket on the host asks for it (and off when the last one
// closes), so the first datagrams of a test process may come unstamped.
// Ping until one arrives stamped, checking every millisecond up to 5 s, so
// that the tests that follow see the steady state.
void warm_up(Pair& p) {
  std::array<std::byte, 64> buf{};
  const auto give_up = std::chrono::steady_clock::now() + 5s;
  int pings = 0;
  for (;;) {
    Result<SendId> id = p.a.send(bytes("warm-up"));
    ASSERT_TRUE(id.ok()) << id.status().message();
    Result<Datagram> d = p.b.recv(buf, 1s);
    ASSERT_TRUE(d.ok()) << d.status().message();
    Result<Timestamp> tx = p.a.tx_timestamp(*id, 1s);
    ASSERT_TRUE(tx.ok()) << tx.status().message();
    ++pings;
    if (d->rx.present()) return;
    ASSERT_LT(std::chrono::steady_clock::now(), give_up) << "no receive stamp in 5 s (" << pings << " pings)";
    std::this_thread::sleep_for(1ms);  // polling a condition, not waiting for it
  }
}

class Loopback : public ::testing::TestWithParam<Family> {};

INSTANTIATE_TEST_SUITE_P(Families, Loopback, ::testing::Values(Family::kIPv4, Family::kIPv6),
                         [](const ::testing::TestParamInfo<Family>& p) { return p.param == Family::kIPv4 ? "IPv4" : "IPv6"; });

TEST_P(Loopback, SoftwareStampsArriveOrderedAndConvertBetweenRawReads) {
  Pair p = open_pair(GetParam());
  ASSERT_EQ(p.a.mode(), TimestampMode::kSoftware);
  warm_up(p);
  RealtimeToRaw conv;
  for (int round = 0; round < 50; ++round) {
    const int64_t raw_before = now_ns(CLOCK_MONOTONIC_RAW);
    conv.mark();
    const std::string payload = "ping " + std::to_string(round);
    Result<SendId> id = p.a.send(bytes(payload));
    ASSERT_TRUE(id.ok()) << id.status().message();
    std::array<std::byte, 64> buf{};
    Result<Datagram> d = p.b.recv(buf, 1s);
    ASSERT_TRUE(d.ok()) << d.status().message();
    const int64_t realtime_after = now_ns(CLOCK_REALTIME);
    const int64_t raw_after = now_ns(CLOCK_MONOTONIC_RAW);
    Result<Timestamp> tx = p.a.tx_timestamp(*id, 1s);
    ASSERT_TRUE(tx.ok()) << tx.status().message();

    EXPECT_EQ(text(buf, d->size), payload);
    EXPECT_FALSE(d->truncated);
    EXPECT_EQ(d->source, *p.a.local_endpoint());
    ASSERT_EQ(tx->source, StampSource::kKernelSoftware);
    ASSERT_EQ(d->rx.source, StampSource::kKernelSoftware);
    // Sent before received, received before recv() returned.
    EXPECT_LE(tx->ns, d->rx.ns);
    EXPECT_LE(d->rx.ns, realtime_after);

    const Conversion ctx = conv.convert(tx->ns);
    const Conversion crx = conv.convert(d->rx.ns);
    ASSERT_TRUE(ctx.ok()) << to_string(ctx.verdict);
    ASSERT_TRUE(crx.ok()) << to_string(crx.verdict);
    EXPECT_GE(ctx.raw_ns + ctx.uncertainty_ns, raw_before);
    EXPECT_LE(ctx.raw_ns - ctx.uncertainty_ns, crx.raw_ns + crx.uncertainty_ns);
    EXPECT_LE(crx.raw_ns - crx.uncertainty_ns, raw_after);
  }
}

TEST_P(Loopback, OptIdMatchesEachStampToItsSendWithSeveralInFlight) {
  Pair p = open_pair(GetParam());
  warm_up(p);
  constexpr int kSends = 8;
  std::vector<SendId> ids;
  for (int i = 0; i < kSends; ++i) {
    Result<SendId> id = p.a.send(bytes("n" + std::to_string(i)));
    ASSERT_TRUE(id.ok()) << id.status().message();
    ids.push_back(*id);
  }
  for (int i = 1; i < kSends; ++i) EXPECT_EQ(ids[i], ids[i - 1] + 1);
  std::vector<int64_t> rx(kSends);
  for (int i = 0; i < kSends; ++i) {
    std::array<std::byte, 16> buf{};
    Result<Datagram> d = p.b.recv(buf, 1s);
    ASSERT_TRUE(d.ok()) << d.status().message();
    ASSERT_EQ(text(buf, d->size), "n" + std::to_string(i));
    ASSERT_TRUE(d->rx.present());
    rx[i] = d->rx.ns;
  }
  // Asked last first: the others are read on the way and kept.
  std::vector<int64_t> tx(kSends);
  for (int i = kSends - 1; i >= 0; --i) {
    Result<Timestamp> t = p.a.tx_timestamp(ids[i], 1s);
    ASSERT_TRUE(t.ok()) << "id " << ids[i] << ": " << t.status().message();
    ASSERT_TRUE(t->present());
    tx[i] = t->ns;
  }
  EXPECT_GE(p.a.counters().tx_stamps_cached, static_cast<uint64_t>(kSends));
  // On loopback the receiving side stamps inside the sender's sendmsg, so
  // the stamps interleave: tx0 <= rx0 <= tx1 <= rx1 ... A stamp matched to
  // the wrong send breaks this chain.
  for (int i = 0; i < kSends; ++i) {
    EXPECT_LE(tx[i], rx[i]) << "send " << i;
    if (i + 1 < kSends) {
      EXPECT_LE(rx[i], tx[i + 1]) << "send " << i;
    }
  }
  // Already read: no second answer.
  EXPECT_EQ(p.a.tx_timestamp(ids[0], 0ns).code(), Errc::kTimeout);
  std::printf("ids set per send (SCM_TS_OPT_ID): %s\n", p.a.ids_set_per_send() ? "yes" : "no (socket counter)");
}

TEST_P(Loopback, TheCacheKeepsTheNewestStampsAndDropsTheOldest) {
  Pair p = open_pair(GetParam(), TimestampMode::kSoftware, 4);
  warm_up(p);
  std::vector<SendId> ids;
  for (int i = 0; i < 8; ++i) {
    Result<SendId> id = p.a.send(bytes("c"));
    ASSERT_TRUE(id.ok());
    ids.push_back(*id);
  }
  ASSERT_TRUE(p.a.tx_timestamp(ids[7], 1s).ok());
  EXPECT_EQ(p.a.counters().tx_stamps_evicted, 4u);
  EXPECT_EQ(p.a.tx_timestamp(ids[0], 0ns).code(), Errc::kTimeout);
  for (int i = 4; i < 7; ++i) EXPECT_TRUE(p.a.tx_timestamp(ids[i], 0ns).ok()) << i;
}

TEST_P(Loopback, AnIdNotSentYetIsRefused) {
  Pair p = open_pair(GetParam());
  EXPECT_EQ(p.a.tx_timestamp(0, 0ns).code(), Errc::kInvalidArgument);
  Result<SendId> id = p.a.send(bytes("x"));
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(p.a.tx_timestamp(*id + 1, 0ns).code(), Errc::kInvalidArgument);
  EXPECT_TRUE(p.a.tx_timestamp(*id, 1s).ok());
}

TEST_P(Loopback, RecvTimesOutAfterItsDuration) {
  Pair p = open_pair(GetParam());
  std::array<std::byte, 16> buf{};
  Result<Datagram> now = p.b.recv(buf, 0ns);
  EXPECT_EQ(now.code(), Errc::kTimeout);
  const auto start = std::chrono::steady_clock::now();
  Result<Datagram> later = p.b.recv(buf, 30ms);
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(later.code(), Errc::kTimeout);
  EXPECT_GE(waited, 30ms);
  EXPECT_LT(waited, 1s);
}

TEST_P(Loopback, TransmitStampsWaitingDoNotMakeRecvSpinOrLoseThem) {
  // Unread transmit stamps keep POLLERR raised; recv must neither spin nor
  // drop them.
  Pair p = open_pair(GetParam());
  warm_up(p);
  Result<SendId> id = p.a.send(bytes("to b"));
  ASSERT_TRUE(id.ok());
  std::array<std::byte, 16> buf{};
  EXPECT_EQ(p.a.recv(buf, 20ms).code(), Errc::kTimeout);
  Result<Timestamp> t = p.a.tx_timestamp(*id, 0ns);
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_TRUE(t->present());
}

TEST_P(Loopback, ALongDatagramIsTruncatedAndSaysSo) {
  Pair p = open_pair(GetParam());
  ASSERT_TRUE(p.a.send(bytes("0123456789abcdef")).ok());
  std::array<std::byte, 8> buf{};
  Result<Datagram> d = p.b.recv(buf, 1s);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->truncated);
  EXPECT_EQ(d->size, 8u);
  EXPECT_EQ(text(buf, d->size), "01234567");
}

TEST_P(Loopback, APortWithoutListenerComesBackAsASystemError) {
  Result<TimestampingSocket> gone = TimestampingSocket::open(GetParam());
  ASSERT_TRUE(gone.ok());
  ASSERT_TRUE(gone->bind(Endpoint::loopback(GetParam())).ok());
  const Endpoint nobody = *gone->local_endpoint();
  gone = Status(Errc::kInvalidArgument, "closed");  // closes the socket: the port is now unused
  Result<TimestampingSocket> a = TimestampingSocket::open(GetParam());
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(a->connect(nobody).ok());
  Result<SendId> id = a->send(bytes("anyone?"));
  ASSERT_TRUE(id.ok());
  // The stamp was queued before the ICMP error came back, and is still read.
  Result<Timestamp> t = a->tx_timestamp(*id, 1s);
  ASSERT_TRUE(t.ok()) << t.status().message();
  std::array<std::byte, 16> buf{};
  Result<Datagram> d = a->recv(buf, 1s);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.code(), Errc::kSystem);
  EXPECT_EQ(d.status().sys_errno(), ECONNREFUSED) << d.status().message();
}

TEST_P(Loopback, UserModeStampsAreRawReadsAroundTheCalls) {
  Pair p = open_pair(GetParam(), TimestampMode::kUser);
  ASSERT_EQ(p.a.mode(), TimestampMode::kUser);
  const int64_t before = now_ns(CLOCK_MONOTONIC_RAW);
  Result<SendId> id = p.a.send(bytes("user"));
  ASSERT_TRUE(id.ok());
  std::array<std::byte, 16> buf{};
  Result<Datagram> d = p.b.recv(buf, 1s);
  ASSERT_TRUE(d.ok());
  const int64_t after = now_ns(CLOCK_MONOTONIC_RAW);
  Result<Timestamp> tx = p.a.tx_timestamp(*id, 0ns);
  ASSERT_TRUE(tx.ok()) << tx.status().message();
  EXPECT_EQ(tx->source, StampSource::kUser);
  EXPECT_EQ(d->rx.source, StampSource::kUser);
  EXPECT_LE(before, tx->ns);
  EXPECT_LE(tx->ns, d->rx.ns);
  EXPECT_LE(d->rx.ns, after);
  EXPECT_EQ(p.a.tx_timestamp(*id, 0ns).code(), Errc::kInvalidArgument);  // read once
}

TEST(Hardware, OnLoopbackFailsNamingTheInterface) {
  SocketOptions o;
  o.mode = TimestampMode::kHardware;
  o.interface = "lo";
  Result<TimestampingSocket> s = TimestampingSocket::open(Family::kIPv4, o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Errc::kUnsupported);
  EXPECT_NE(s.status().message().find("'lo'"), std::string::npos) << s.status().message();
  std::printf("hardware on lo: %s\n", s.status().message().c_str());
}

TEST(Hardware, NeedsAnInterfaceAndOneThatExists) {
  SocketOptions o;
  o.mode = TimestampMode::kHardware;
  EXPECT_EQ(TimestampingSocket::open(Family::kIPv4, o).code(), Errc::kInvalidArgument);
  o.interface = "ts-nothere0";
  Result<TimestampingSocket> s = TimestampingSocket::open(Family::kIPv6, o);
  EXPECT_EQ(s.code(), Errc::kNoSuchInterface);
  EXPECT_NE(s.status().message().find("'ts-nothere0'"), std::string::npos) << s.status().message();
}

TEST(Hardware, AutoOnLoopbackFallsBackToSoftwareAndSaysWhy) {
  SocketOptions o;
  o.mode = TimestampMode::kAuto;
  o.interface = "lo";
  Result<TimestampingSocket> s = TimestampingSocket::open(Family::kIPv4, o);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->mode(), TimestampMode::kSoftware);
  EXPECT_EQ(s->phc_index(), -1);
  EXPECT_NE(s->mode_reason().find("'lo'"), std::string::npos) << s->mode_reason();
  std::printf("auto on lo: %s\n", s->mode_reason().c_str());

  // And its stamps are kernel software stamps.
  Result<TimestampingSocket> b = TimestampingSocket::open(Family::kIPv4, o);
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(b->bind(Endpoint::loopback(Family::kIPv4)).ok());
  Pair p{std::move(s).value(), std::move(b).value()};
  ASSERT_TRUE(p.a.connect(*p.b.local_endpoint()).ok());
  warm_up(p);
  Result<SendId> id = p.a.send(bytes("auto"));
  ASSERT_TRUE(id.ok());
  Result<Timestamp> t = p.a.tx_timestamp(*id, 1s);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->source, StampSource::kKernelSoftware);
}

TEST(Interface, LoopbackHasSoftwareStampsAndNoHardwareClock) {
  Result<InterfaceTimestamping> lo = query_interface("lo");
  ASSERT_TRUE(lo.ok()) << lo.status().message();
  std::printf("%s\n", lo->describe().c_str());
  EXPECT_EQ(lo->phc_index, -1);
  EXPECT_TRUE(lo->software_rx());
  EXPECT_TRUE(lo->software_tx());
  EXPECT_FALSE(lo->hardware());
  EXPECT_NE(lo->hardware_missing().find("'lo'"), std::string::npos);
  EXPECT_EQ(query_interface("ts-nothere0").code(), Errc::kNoSuchInterface);
}

TEST(Endpoint, ParsesNumericAddressesOnly) {
  Result<Endpoint> v4 = Endpoint::parse("127.0.0.1", 7470);
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->family(), Family::kIPv4);
  EXPECT_EQ(v4->to_string(), "127.0.0.1:7470");
  EXPECT_EQ(*v4, Endpoint::loopback(Family::kIPv4, 7470));
  Result<Endpoint> v6 = Endpoint::parse("::1", 7470);
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->to_string(), "[::1]:7470");
  EXPECT_EQ(*v6, Endpoint::loopback(Family::kIPv6, 7470));
  Result<Endpoint> scoped = Endpoint::parse("fe80::1%lo", 1);
  ASSERT_TRUE(scoped.ok()) << scoped.status().message();
  EXPECT_EQ(scoped->to_string(), "[fe80::1%lo]:1");
  EXPECT_EQ(Endpoint::parse("localhost", 1).code(), Errc::kInvalidArgument);
  EXPECT_EQ(Endpoint::parse("10.0.0.300", 1).code(), Errc::kInvalidArgument);
  EXPECT_FALSE(Endpoint() == Endpoint());
}

}  // namespace
}  // namespace timesync::netstamp
