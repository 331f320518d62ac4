// TimestampingSocket across a veth pair between two network namespaces, so
// that packets cross a real (virtual) device rather than loopback. Needs
// root (CAP_SYS_ADMIN, CAP_NET_ADMIN) and iproute2; skipped otherwise.
//
// Creates ts-ns-<pid>-a and ts-ns-<pid>-b with veth ts-<pid>a / ts-<pid>b;
// removes them after the suite (also when a test fails), and removes those
// a killed earlier run left behind (their pid is gone) before creating its own.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
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

bool run(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0; }

std::string capture(const std::string& cmd) {
  std::string out;
  if (FILE* f = popen(cmd.c_str(), "r")) {
    char buf[256];
    while (fgets(buf, sizeof buf, f) != nullptr) out += buf;
    pclose(f);
  }
  return out;
}

// ts-ns-<pid>-x namespaces whose creator is no longer running.
void remove_stale_namespaces() {
  const std::string list = capture("ip netns list 2>/dev/null");
  std::size_t pos = 0;
  while ((pos = list.find("ts-ns-", pos)) != std::string::npos) {
    const std::size_t end = list.find_first_of(" \n", pos);
    const std::string name = list.substr(pos, end - pos);
    pos = end;
    const long pid = std::strtol(name.c_str() + 6, nullptr, 10);
    if (pid > 0 && kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) run("ip netns del " + name);
  }
}

// Switches the calling thread into a named network namespace until destroyed.
class InNamespace {
 public:
  explicit InNamespace(const std::string& name) : self_(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) {
    const int fd = ::open(("/var/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
    ok_ = self_ >= 0 && fd >= 0 && setns(fd, CLONE_NEWNET) == 0;
    if (fd >= 0) ::close(fd);
  }
  ~InNamespace() {
    if (self_ >= 0) {
      setns(self_, CLONE_NEWNET);
      ::close(self_);
    }
  }
  InNamespace(const InNamespace&) = delete;
  InNamespace& operator=(const InNamespace&) = delete;
  bool ok() const { return ok_; }

 private:
  int self_;
  bool ok_ = false;
};

struct Bed {
  std::string ns_a, ns_b, dev_a, dev_b;
  ~Bed() {
    // Deleting a namespace deletes the veth end inside it, and with it the pair.
    run("ip netns del " + ns_a);
    run("ip netns del " + ns_b);
  }
};

class Veth : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) {
      skip_reason_ = "needs root to create network namespaces";
      return;
    }
    if (!run("ip -V")) {
      skip_reason_ = "needs iproute2 (ip)";
      return;
    }
    remove_stale_namespaces();
    const std::string pid = std::to_string(getpid());
    auto bed = std::make_unique<Bed>();
    bed->ns_a = "ts-ns-" + pid + "-a";
    bed->ns_b = "ts-ns-" + pid + "-b";
    bed->dev_a = "ts-" + pid + "a";
    bed->dev_b = "ts-" + pid + "b";
    const Bed& b = *bed;
    bed_ = std::move(bed);
    const std::vector<std::string> steps = {
        "ip netns add " + b.ns_a,
        "ip netns add " + b.ns_b,
        "ip link add " + b.dev_a + " netns " + b.ns_a + " type veth peer name " + b.dev_b + " netns " + b.ns_b,
        "ip -n " + b.ns_a + " addr add 192.0.2.1/24 dev " + b.dev_a,
        "ip -n " + b.ns_b + " addr add 192.0.2.2/24 dev " + b.dev_b,
        // nodad: usable at once, no wait for duplicate address detection.
        "ip -n " + b.ns_a + " addr add 2001:db8::1/64 dev " + b.dev_a + " nodad",
        "ip -n " + b.ns_b + " addr add 2001:db8::2/64 dev " + b.dev_b + " nodad",
        "ip -n " + b.ns_a + " link set " + b.dev_a + " up",
        "ip -n " + b.ns_b + " link set " + b.dev_b + " up",
    };
    for (const std::string& step : steps) {
      if (!run(step)) {
        skip_reason_ = "could not set up the veth pair: " + step;
        bed_.reset();
        return;
      }
    }
  }
  static void TearDownTestSuite() { bed_.reset(); }

  void SetUp() override {
    if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
  }

  // Sender in namespace a (connected to b), receiver bound in namespace b.
  static void open_pair(Family family, TimestampMode mode, std::optional<TimestampingSocket>* a,
                        std::optional<TimestampingSocket>* b) {
    const uint16_t port = 7470;
    const Endpoint at_b = *Endpoint::parse(family == Family::kIPv4 ? "192.0.2.2" : "2001:db8::2", port);
    SocketOptions o;
    o.mode = mode;
    {
      InNamespace in(bed_->ns_b);
      ASSERT_TRUE(in.ok());
      o.interface = bed_->dev_b;
      Result<TimestampingSocket> s = TimestampingSocket::open(family, o);
      ASSERT_TRUE(s.ok()) << s.status().message();
      ASSERT_TRUE(s->bind(at_b).ok());
      b->emplace(std::move(s).value());
    }
    {
      InNamespace in(bed_->ns_a);
      ASSERT_TRUE(in.ok());
      o.interface = bed_->dev_a;
      Result<TimestampingSocket> s = TimestampingSocket::open(family, o);
      ASSERT_TRUE(s.ok()) << s.status().message();
      ASSERT_TRUE(s->connect(at_b).ok());
      a->emplace(std::move(s).value());
    }
  }

  static std::unique_ptr<Bed> bed_;
  static std::string skip_reason_;
};

std::unique_ptr<Bed> Veth::bed_;
std::string Veth::skip_reason_;

// The first datagram waits for neighbour resolution, and receive stamping
// is switched on from a work queue when the first socket asks for it: ping
// until one arrives stamped, checking every millisecond up to 5 s.
void warm_up(TimestampingSocket& a, TimestampingSocket& b) {
  std::array<std::byte, 64> buf{};
  const auto give_up = std::chrono::steady_clock::now() + 5s;
  for (;;) {
    Result<SendId> id = a.send(bytes("warm-up"));
    ASSERT_TRUE(id.ok()) << id.status().message();
    Result<Datagram> d = b.recv(buf, 2s);
    ASSERT_TRUE(d.ok()) << d.status().message();
    (void)a.tx_timestamp(*id, 1s);
    if (d->rx.present()) return;
    ASSERT_LT(std::chrono::steady_clock::now(), give_up) << "no receive stamp in 5 s";
    std::this_thread::sleep_for(1ms);  // polling a condition, not waiting for it
  }
}

TEST_F(Veth, TheInterfaceReportsSoftwareStampsOnlyAndHardwareModeSaysSo) {
  InNamespace in(bed_->ns_a);
  ASSERT_TRUE(in.ok());
  Result<InterfaceTimestamping> caps = query_interface(bed_->dev_a);
  ASSERT_TRUE(caps.ok()) << caps.status().message();
  std::printf("%s\n", caps->describe().c_str());
  EXPECT_EQ(caps->phc_index, -1);
  EXPECT_FALSE(caps->hardware());

  SocketOptions o;
  o.mode = TimestampMode::kHardware;
  o.interface = bed_->dev_a;
  Result<TimestampingSocket> hw = TimestampingSocket::open(Family::kIPv4, o);
  ASSERT_FALSE(hw.ok());
  EXPECT_EQ(hw.code(), Errc::kUnsupported);
  EXPECT_NE(hw.status().message().find("'" + bed_->dev_a + "'"), std::string::npos) << hw.status().message();

  o.mode = TimestampMode::kAuto;
  Result<TimestampingSocket> autos = TimestampingSocket::open(Family::kIPv4, o);
  ASSERT_TRUE(autos.ok()) << autos.status().message();
  EXPECT_EQ(autos->mode(), TimestampMode::kSoftware);
  std::printf("auto on %s: %s\n", bed_->dev_a.c_str(), autos->mode_reason().c_str());
}

class VethFamilies : public Veth, public ::testing::WithParamInterface<Family> {};

INSTANTIATE_TEST_SUITE_P(Families, VethFamilies, ::testing::Values(Family::kIPv4, Family::kIPv6),
                         [](const ::testing::TestParamInfo<Family>& p) { return p.param == Family::kIPv4 ? "IPv4" : "IPv6"; });

TEST_P(VethFamilies, SoftwareStampsCrossThePairOrderedAndConvertible) {
  std::optional<TimestampingSocket> a_slot, b_slot;
  open_pair(GetParam(), TimestampMode::kSoftware, &a_slot, &b_slot);
  if (HasFatalFailure()) return;
  TimestampingSocket& a = *a_slot;
  TimestampingSocket& b = *b_slot;
  warm_up(a, b);
  if (HasFatalFailure()) return;

  RealtimeToRaw conv;
  std::vector<int64_t> delays;
  for (int round = 0; round < 200; ++round) {
    const int64_t raw_before = now_ns(CLOCK_MONOTONIC_RAW);
    conv.mark();
    Result<SendId> id = a.send(bytes("veth " + std::to_string(round)));
    ASSERT_TRUE(id.ok()) << id.status().message();
    std::array<std::byte, 64> buf{};
    Result<Datagram> d = b.recv(buf, 1s);
    ASSERT_TRUE(d.ok()) << d.status().message();
    const int64_t realtime_after = now_ns(CLOCK_REALTIME);
    const int64_t raw_after = now_ns(CLOCK_MONOTONIC_RAW);
    Result<Timestamp> tx = a.tx_timestamp(*id, 1s);
    ASSERT_TRUE(tx.ok()) << "veth gave no software transmit stamp: " << tx.status().message();
    ASSERT_EQ(tx->source, StampSource::kKernelSoftware);
    ASSERT_EQ(d->rx.source, StampSource::kKernelSoftware);
    EXPECT_LE(tx->ns, d->rx.ns);
    EXPECT_LE(d->rx.ns, realtime_after);
    const Conversion ctx = conv.convert(tx->ns);
    const Conversion crx = conv.convert(d->rx.ns);
    ASSERT_TRUE(ctx.ok() && crx.ok());
    EXPECT_GE(ctx.raw_ns + ctx.uncertainty_ns, raw_before);
    EXPECT_LE(crx.raw_ns - crx.uncertainty_ns, raw_after);
    delays.push_back(d->rx.ns - tx->ns);
  }
  std::sort(delays.begin(), delays.end());
  std::printf("veth rx - tx stamp: median %lld ns, p99 %lld ns (%zu pings)\n",
              static_cast<long long>(delays[delays.size() / 2]),
              static_cast<long long>(delays[delays.size() * 99 / 100]), delays.size());
}

TEST_P(VethFamilies, OptIdMatchesWithSeveralInFlight) {
  std::optional<TimestampingSocket> a_slot, b_slot;
  open_pair(GetParam(), TimestampMode::kSoftware, &a_slot, &b_slot);
  if (HasFatalFailure()) return;
  TimestampingSocket& a = *a_slot;
  TimestampingSocket& b = *b_slot;
  warm_up(a, b);
  if (HasFatalFailure()) return;
  constexpr int kSends = 8;
  std::vector<SendId> ids;
  for (int i = 0; i < kSends; ++i) {
    Result<SendId> id = a.send(bytes("n" + std::to_string(i)));
    ASSERT_TRUE(id.ok());
    ids.push_back(*id);
  }
  std::vector<int64_t> rx(kSends), tx(kSends);
  for (int i = 0; i < kSends; ++i) {
    std::array<std::byte, 16> buf{};
    Result<Datagram> d = b.recv(buf, 1s);
    ASSERT_TRUE(d.ok());
    ASSERT_EQ(std::string(reinterpret_cast<const char*>(buf.data()), d->size), "n" + std::to_string(i));
    rx[i] = d->rx.ns;
  }
  for (int i = kSends - 1; i >= 0; --i) {
    Result<Timestamp> t = a.tx_timestamp(ids[i], 1s);
    ASSERT_TRUE(t.ok()) << t.status().message();
    tx[i] = t->ns;
  }
  for (int i = 0; i < kSends; ++i) {
    EXPECT_LE(tx[i], rx[i]) << i;
    if (i > 0) {
      EXPECT_LT(tx[i - 1], tx[i]) << i;
    }
  }
}

}  // namespace
}  // namespace timesync::netstamp
