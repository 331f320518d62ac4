// chronyd's command protocol as ChronyTracking speaks it: the float format,
// the request bytes, reply decoding and its refusals, the error bound, and the
// client against a fake chronyd (a real Unix datagram socket in the test)
// answering good, stale, short, garbage and refusing replies, or nothing.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <time.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <random>
#include <thread>

#include "bytes.hpp"
#include "testing/daemons.hpp"
#include "timesync/reference/chrony_tracking.hpp"

namespace timesync::reference {
namespace {

using namespace std::chrono_literals;
using testing::FakeDgramServer;
using testing::TempDir;

uint32_t seed_from_env() {
  if (const char* s = std::getenv("TIMESYNC_TEST_SEED")) return static_cast<uint32_t>(std::strtoul(s, nullptr, 10));
  return std::random_device{}();
}

int64_t realtime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// What a reply carries, in chronyc's units.
struct ReplyFields {
  uint32_t sequence = 7;
  uint16_t command = 33;
  uint16_t reply = 5;
  uint16_t status = 0;
  uint8_t version = 6;
  uint8_t pkt_type = 2;
  uint32_t ref_id = 0x54535941;  // "TSYA"
  uint16_t family = 0;
  std::array<uint8_t, 16> ip{};
  uint16_t stratum = 3;
  uint16_t leap = 0;
  uint32_t sec_high = 0;
  uint32_t sec_low = 1'800'000'000;
  uint32_t nsec = 123'456'789;
  double f[9] = {2.5e-6, -1e-7, 3e-7, 12.25, 0.001, 0.05, 4e-4, 1.5e-5, 16.0};
};

std::vector<uint8_t> make_reply(const ReplyFields& r, std::size_t length = kChronyTrackingReplyBytes) {
  std::vector<uint8_t> b(std::max<std::size_t>(length, kChronyTrackingReplyBytes), 0);
  b[0] = r.version;
  b[1] = r.pkt_type;
  detail::put16(b, 4, r.command);
  detail::put16(b, 6, r.reply);
  detail::put16(b, 8, r.status);
  detail::put32(b, 16, r.sequence);
  detail::put32(b, 28, r.ref_id);
  std::copy(r.ip.begin(), r.ip.end(), b.begin() + 32);
  detail::put16(b, 48, r.family);
  detail::put16(b, 52, r.stratum);
  detail::put16(b, 54, r.leap);
  detail::put32(b, 56, r.sec_high);
  detail::put32(b, 60, r.sec_low);
  detail::put32(b, 64, r.nsec);
  for (int i = 0; i < 9; ++i) detail::put32(b, 68 + 4 * static_cast<std::size_t>(i), encode_chrony_float(r.f[i]));
  b.resize(length);
  return b;
}

TEST(ChronyFloat, DecodesChronysLayout) {
  EXPECT_EQ(decode_chrony_float(0), 0.0);
  EXPECT_EQ(decode_chrony_float((25U << 25) | 1U), 1.0);                  // 1 x 2^(25-25)
  EXPECT_EQ(decode_chrony_float((25U << 25) | 0x1FFFFFFU), -1.0);         // coefficient -1
  EXPECT_EQ(decode_chrony_float((0x7FU << 25) | 1U), std::ldexp(1.0, -26));  // exponent -1
  EXPECT_EQ(decode_chrony_float((0U << 25) | 0xFFFFFFU), std::ldexp(16777215.0, -25));
  EXPECT_EQ(decode_chrony_float((63U << 25) | 0xFFFFFFU), std::ldexp(16777215.0, 38));  // the largest
}

TEST(ChronyFloat, RoundTripsWithin25BitPrecision) {
  const uint32_t seed = seed_from_env();
  std::printf("seed %u (TIMESYNC_TEST_SEED=%u replays)\n", seed, seed);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> mant(0.5, 1.0);
  std::uniform_int_distribution<int> exp(-60, 60);
  for (int i = 0; i < 100000; ++i) {
    const double x = std::ldexp(mant(rng), exp(rng)) * ((rng() & 1) != 0 ? -1 : 1);
    const double y = decode_chrony_float(encode_chrony_float(x));
    ASSERT_LE(std::fabs(y - x), std::fabs(x) * std::ldexp(1.0, -24)) << "x=" << x << " seed " << seed;
  }
  EXPECT_EQ(decode_chrony_float(encode_chrony_float(std::nan(""))), 0.0);
  EXPECT_EQ(decode_chrony_float(encode_chrony_float(1e-300)), 0.0);
  EXPECT_EQ(decode_chrony_float(encode_chrony_float(1e300)), std::ldexp(16777215.0, 38));
  EXPECT_EQ(decode_chrony_float(encode_chrony_float(-1e300)), -std::ldexp(16777215.0, 38));
}

TEST(ChronyWire, RequestIsPaddedToTheReplyLength) {
  const auto req = encode_tracking_request(0x01020304, 2);
  ASSERT_EQ(req.size(), 104u);  // 20-byte header + 84 bytes padding (pktlength.c)
  EXPECT_EQ(req[0], 6);         // protocol version
  EXPECT_EQ(req[1], 1);         // request
  EXPECT_EQ(detail::be16(req, 4), 33);  // REQ_TRACKING
  EXPECT_EQ(detail::be16(req, 6), 2);   // attempt
  EXPECT_EQ(detail::be32(req, 8), 0x01020304u);
  for (std::size_t i = 12; i < req.size(); ++i) ASSERT_EQ(req[i], 0) << i;
}

TEST(ChronyWire, DecodesEveryField) {
  ReplyFields f;
  f.family = 1;
  f.ip[0] = 192, f.ip[1] = 168, f.ip[2] = 1, f.ip[3] = 2;
  const auto r = decode_tracking_reply(make_reply(f), 7);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->ref_id, 0x54535941u);
  EXPECT_EQ(r->ref_name, "192.168.1.2");
  EXPECT_EQ(r->stratum, 3);
  EXPECT_EQ(r->leap, ChronyLeap::kNormal);
  EXPECT_EQ(r->ref_time_ns, 1'800'000'000LL * 1'000'000'000 + 123'456'789);
  EXPECT_NEAR(static_cast<double>(r->system_time_offset_ns), 2500, 1);
  EXPECT_NEAR(static_cast<double>(r->last_offset_ns), -100, 1);
  EXPECT_NEAR(static_cast<double>(r->rms_offset_ns), 300, 1);
  EXPECT_NEAR(r->freq_ppm, 12.25, 1e-6);
  EXPECT_NEAR(r->resid_freq_ppm, 0.001, 1e-9);
  EXPECT_NEAR(r->skew_ppm, 0.05, 1e-8);
  EXPECT_NEAR(static_cast<double>(r->root_delay_ns), 400'000, 1);
  EXPECT_NEAR(static_cast<double>(r->root_dispersion_ns), 15'000, 1);
  EXPECT_EQ(r->last_update_interval_ns, 16'000'000'000);
  EXPECT_TRUE(r->synchronized);
  // |2.5 us| + 15 us + 400 us / 2
  EXPECT_NEAR(static_cast<double>(r->error_ns), 2500 + 15'000 + 200'000, 2);
}

TEST(ChronyWire, RefclockAndLocalNamesComeFromTheRefid) {
  ReplyFields f;
  f.ref_id = 0x5453594E;  // TSYN
  auto r = decode_tracking_reply(make_reply(f), 7);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->ref_name, "TSYN");
  f.ref_id = 0x7F7F0101;  // LOCAL: no printable characters, as chronyc shows "()"
  r = decode_tracking_reply(make_reply(f), 7);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->ref_name, "");
  f.family = 2;
  f.ip = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  r = decode_tracking_reply(make_reply(f), 7);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->ref_name, "2001:db8::1");
}

TEST(ChronyWire, ThirtyTwoBitSenderTimeAndUnsynchronisedState) {
  ReplyFields f;
  f.sec_high = 0x7fffffff;  // TV_NOHIGHSEC
  f.leap = 3;
  f.stratum = 0;
  const auto r = decode_tracking_reply(make_reply(f), 7);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->ref_time_ns, 1'800'000'000LL * 1'000'000'000 + 123'456'789);
  EXPECT_EQ(r->leap, ChronyLeap::kUnsynchronised);
  EXPECT_FALSE(r->synchronized);
  EXPECT_EQ(r->error_ns, kUnboundedNs);
  EXPECT_EQ(r->error_at_ns(realtime_ns()), kUnboundedNs);
}

TEST(ChronyWire, StratumSixteenIsNotSynchronized) {
  ReplyFields f;
  f.stratum = 16;
  const auto r = decode_tracking_reply(make_reply(f), 7);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->synchronized);
  EXPECT_EQ(r->error_ns, kUnboundedNs);
}

TEST(ChronyWire, ErrorGrowsFromTheReplyAsChronysDispersion) {
  ReplyFields f;
  auto r = decode_tracking_reply(make_reply(f), 7);
  ASSERT_TRUE(r.ok());
  r->as_of_ns = 1'000'000'000'000;
  EXPECT_EQ(r->error_at_ns(r->as_of_ns), r->error_ns);
  EXPECT_EQ(r->error_at_ns(r->as_of_ns - 5'000'000'000), r->error_ns);  // before the reply: no shrinking
  // 10 s x (maxclockerror 1 + skew 0.05 + |resid| 0.001 ppm) = 10.51 us
  EXPECT_NEAR(static_cast<double>(r->error_at_ns(r->as_of_ns + 10'000'000'000) - r->error_ns), 10'510, 2);
  EXPECT_NEAR(static_cast<double>(r->error_at_ns(r->as_of_ns + 10'000'000'000, 15.0) - r->error_ns), 150'510, 2);
}

TEST(ChronyWire, RefusesWhatIsNotAGoodTrackingReply) {
  struct Case {
    const char* name;
    std::function<void(ReplyFields&)> edit;
    std::size_t length;
    Errc code;
    const char* says;
  };
  const std::vector<Case> cases = {
      {"short header", [](ReplyFields&) {}, 20, Errc::kMalformed, "short reply: 20 bytes"},
      {"short body", [](ReplyFields&) {}, 80, Errc::kMalformed, "tracking needs 104"},
      {"version", [](ReplyFields& f) { f.version = 5; }, 104, Errc::kMalformed, "protocol version 5"},
      {"request", [](ReplyFields& f) { f.pkt_type = 1; }, 104, Errc::kMalformed, "not a reply"},
      {"sequence", [](ReplyFields& f) { f.sequence = 8; }, 104, Errc::kMismatch, "sequence 8, expected 7"},
      {"command", [](ReplyFields& f) { f.command = 14; }, 104, Errc::kMismatch, "command 14"},
      {"status", [](ReplyFields& f) { f.status = 18; }, 28, Errc::kRefused, "bad packet version"},
      {"unauth", [](ReplyFields& f) { f.status = 2; }, 104, Errc::kRefused, "unauthorised"},
      {"reply type", [](ReplyFields& f) { f.reply = 1; }, 104, Errc::kMismatch, "reply type 1"},
      {"leap", [](ReplyFields& f) { f.leap = 7; }, 104, Errc::kMalformed, "leap status 7"},
      {"nsec", [](ReplyFields& f) { f.nsec = 1'000'000'000; }, 104, Errc::kMalformed, "reference time"},
  };
  for (const auto& c : cases) {
    ReplyFields f;
    c.edit(f);
    const auto r = decode_tracking_reply(make_reply(f, c.length), 7);
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.code(), c.code) << c.name << ": " << r.status().message();
    EXPECT_NE(r.status().message().find(c.says), std::string::npos) << c.name << ": " << r.status().message();
  }
}

TEST(ChronyWire, RandomBytesNeverCrashTheDecoder) {
  const uint32_t seed = seed_from_env();
  std::printf("seed %u (TIMESYNC_TEST_SEED=%u replays)\n", seed, seed);
  std::mt19937 rng(seed);
  const auto good = make_reply(ReplyFields{});
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> b = good;
    b.resize(rng() % 140);
    const int flips = static_cast<int>(rng() % 6);
    for (int k = 0; k < flips && !b.empty(); ++k) b[rng() % b.size()] = static_cast<uint8_t>(rng());
    const auto r = decode_tracking_reply(b, 7);
    if (r.ok()) {
      ++accepted;
      EXPECT_GE(r->error_ns, 0);
    }
  }
  std::printf("accepted %d of 20000 mutated replies\n", accepted);
}

// --- The client against a fake chronyd ---------------------------------------

class FakeChronyd : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    ASSERT_TRUE(server_.ok());
  }
  void TearDown() override {
    if (thread_.joinable()) thread_.join();
  }

  using Replies = std::vector<std::vector<uint8_t>>;
  // Answers the next `n` requests with the replies handler(request, index) makes.
  void serve(int n, std::function<Replies(const std::vector<uint8_t>&, int)> handler) {
    thread_ = std::thread([this, n, handler] {
      for (int i = 0; i < n; ++i) {
        auto d = server_.receive(5000ms);
        if (!d) return;
        requests_.push_back(d->bytes);
        struct stat st{};
        const std::string dir = d->from.substr(0, d->from.rfind('/'));
        if (::stat(dir.c_str(), &st) == 0) reply_dir_modes_.push_back(st.st_mode & 07777);
        for (const auto& out : handler(d->bytes, i)) server_.send_to(d->from, out);
      }
    });
  }

  ChronyTracking open(int attempts = 1, std::chrono::milliseconds timeout = 300ms) {
    ChronyTracking::Params p;
    p.address = socket_path_;
    p.attempts = attempts;
    p.timeout = timeout;
    auto c = ChronyTracking::open(p);
    EXPECT_TRUE(c.ok()) << c.status().message();
    return std::move(*c);
  }

  static ReplyFields answer(const std::vector<uint8_t>& request) {
    ReplyFields f;
    f.sequence = detail::be32(request, 8);
    return f;
  }

  TempDir dir_{"ts-ref-fakechronyd"};
  std::string socket_path_ = dir_ / "chronyd.sock";
  FakeDgramServer server_{socket_path_};
  std::thread thread_;
  std::vector<std::vector<uint8_t>> requests_;
  std::vector<unsigned> reply_dir_modes_;
};

TEST_F(FakeChronyd, ReadsAGoodReplyFromAPrivateDirectory) {
  serve(1, [](const std::vector<uint8_t>& req, int) { return Replies{make_reply(answer(req))}; });
  auto client = open();
  const std::string reply_path = client.reply_path();
  const int64_t before = realtime_ns();
  const auto r = client.read();
  const int64_t after = realtime_ns();
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->ref_name, "TSYA");
  EXPECT_NEAR(static_cast<double>(r->root_delay_ns), 400'000, 1);
  EXPECT_GE(r->as_of_ns, before);
  EXPECT_LE(r->as_of_ns, after);
  thread_.join();
  ASSERT_EQ(requests_.size(), 1u);
  EXPECT_EQ(requests_[0].size(), 104u);
  EXPECT_EQ(requests_[0][0], 6);
  EXPECT_EQ(detail::be16(requests_[0], 4), 33);
  ASSERT_EQ(reply_dir_modes_.size(), 1u);
  EXPECT_EQ(reply_dir_modes_[0], 0700u);
  // The reply directory is made beside chronyd's socket and removed with the client.
  EXPECT_EQ(reply_path.rfind(dir_.path() + "/.timesync-chronyc-", 0), 0u) << reply_path;
  struct stat st{};
  EXPECT_EQ(::stat(reply_path.c_str(), &st), 0);
  { ChronyTracking gone = std::move(client); }
  EXPECT_NE(::stat(reply_path.c_str(), &st), 0);
  EXPECT_NE(::stat(reply_path.substr(0, reply_path.rfind('/')).c_str(), &st), 0);
}

TEST_F(FakeChronyd, ResendsWithTheNextAttemptNumber) {
  serve(3, [](const std::vector<uint8_t>& req, int i) {
    return i < 2 ? Replies{} : Replies{make_reply(answer(req))};
  });
  auto client = open(3, 200ms);
  const auto r = client.read();
  ASSERT_TRUE(r.ok()) << r.status().message();
  thread_.join();
  ASSERT_EQ(requests_.size(), 3u);
  for (uint16_t i = 0; i < 3; ++i) {
    EXPECT_EQ(detail::be16(requests_[i], 6), i);
    EXPECT_EQ(detail::be32(requests_[i], 8), detail::be32(requests_[0], 8));
  }
}

TEST_F(FakeChronyd, SkipsAStaleReplyAndTakesTheRightOne) {
  serve(1, [](const std::vector<uint8_t>& req, int) {
    ReplyFields stale = answer(req);
    stale.sequence -= 1;  // the answer to an earlier, timed-out read
    ReplyFields good = answer(req);
    good.stratum = 4;
    return Replies{make_reply(stale), make_reply(good)};
  });
  auto client = open(1, 1000ms);
  const auto r = client.read();
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->stratum, 4);
}

struct BadReply {
  const char* name;
  std::function<std::vector<uint8_t>(const std::vector<uint8_t>&)> make;
  Errc code;
  const char* says;
};

TEST_F(FakeChronyd, NamesTheFaultOfAnUnusableReply) {
  const std::vector<BadReply> cases = {
      {"short", [](const std::vector<uint8_t>& req) { return make_reply(answer(req), 12); }, Errc::kMalformed,
       "short reply: 12 bytes"},
      {"garbage", [](const std::vector<uint8_t>&) { return std::vector<uint8_t>(104, 0xA5); }, Errc::kMalformed,
       "protocol version 165"},
      {"mismatched", [](const std::vector<uint8_t>& req) {
         ReplyFields f = answer(req);
         f.sequence += 1000;
         return make_reply(f);
       }, Errc::kMismatch, "sequence"},
      {"oversized", [](const std::vector<uint8_t>& req) { return make_reply(answer(req), 3000); }, Errc::kMalformed,
       "3000 bytes"},
  };
  for (const auto& c : cases) {
    serve(1, [&](const std::vector<uint8_t>& req, int) { return Replies{c.make(req)}; });
    auto client = open(1, 300ms);
    const auto r = client.read();
    thread_.join();
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.code(), c.code) << c.name << ": " << r.status().message();
    EXPECT_NE(r.status().message().find(c.says), std::string::npos) << c.name << ": " << r.status().message();
    EXPECT_NE(r.status().message().find(socket_path_), std::string::npos) << r.status().message();
  }
}

TEST_F(FakeChronyd, ARefusalEndsTheWaitAtOnce) {
  serve(1, [](const std::vector<uint8_t>& req, int) {
    ReplyFields f = answer(req);
    f.status = 2;
    f.reply = 1;
    return Replies{make_reply(f, 28)};
  });
  auto client = open(3, 2000ms);
  const auto start = std::chrono::steady_clock::now();
  const auto r = client.read();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), Errc::kRefused);
  EXPECT_NE(r.status().message().find("unauthorised"), std::string::npos) << r.status().message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1500ms);
}

TEST_F(FakeChronyd, SilenceIsATimeout) {
  serve(2, [](const std::vector<uint8_t>&, int) { return Replies{}; });
  auto client = open(2, 150ms);
  const auto r = client.read();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), Errc::kTimeout);
  EXPECT_NE(r.status().message().find("no reply in 2 attempt(s) of 150 ms"), std::string::npos)
      << r.status().message();
}

TEST(ChronyTrackingOpen, NamesWhatIsMissingOrMalformed) {
  TempDir dir("ts-ref-open");
  ChronyTracking::Params p;
  p.address = dir / "absent.sock";
  auto c = ChronyTracking::open(p);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.code(), Errc::kSystem);
  EXPECT_NE(c.status().message().find("absent.sock"), std::string::npos) << c.status().message();
  p.address = "chronyd";
  EXPECT_EQ(ChronyTracking::open(p).code(), Errc::kInvalidArgument);
  p.address = "127.0.0.1:0";
  EXPECT_EQ(ChronyTracking::open(p).code(), Errc::kInvalidArgument);
  p.address = "127.0.0.1:323";
  p.attempts = 0;
  EXPECT_EQ(ChronyTracking::open(p).code(), Errc::kInvalidArgument);
  p.attempts = 1;
  EXPECT_TRUE(ChronyTracking::open(p).ok());
  p.address = "[::1]:323";
  EXPECT_TRUE(ChronyTracking::open(p).ok());
}

}  // namespace
}  // namespace timesync::reference
