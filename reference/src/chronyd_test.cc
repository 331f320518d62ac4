// ChronyTracking and ChronySockRefclock against real chronyd processes. Every
// chronyd runs with -x (it never touches the host clock), in a private
// directory with its own command socket, pid file and drift file, no UDP
// command port unless the test asks for one on 127.0.0.1, and no NTP port
// unless it is the test's server. Needs root (chronyd -u root, and the
// privilege-drop case hands directories to _chrony).
//
// Since every chronyd here shares this host's clock, the truth is known: a
// client chronyd following a server chronyd has a true offset of zero, and a
// chronyd fed "synchronized = realtime + X" by the SOCK refclock has a true
// offset of X.
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <thread>

#include "testing/daemons.hpp"
#include "timesync/reference/chrony_sock_refclock.hpp"
#include "timesync/reference/chrony_tracking.hpp"

namespace timesync::reference {
namespace {

using namespace std::chrono_literals;
using testing::poll_until;
using testing::Process;
using testing::TempDir;

int64_t abs64(int64_t v) { return v < 0 ? -v : v; }

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

int64_t realtime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

std::string capture(const std::string& cmd) {
  std::string out;
  if (FILE* f = ::popen(cmd.c_str(), "r")) {
    char buf[512];
    while (std::fgets(buf, sizeof buf, f) != nullptr) out += buf;
    ::pclose(f);
  }
  return out;
}

// One chronyd -x in <root>/<name>/ (its socket directory must not be open to others).
class Chronyd {
 public:
  Chronyd(const TempDir& root, const std::string& name, const std::string& config, bool drop_to_chrony = false)
      : dir_(root / name) {
    ::mkdir(dir_.c_str(), drop_to_chrony ? 0770 : 0700);
    if (drop_to_chrony) {
      const passwd* pw = ::getpwnam("_chrony");
      if (pw != nullptr && ::chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) std::perror("chown");
    }
    const std::string conf = dir_ + "/chronyd.conf";
    testing::write_file(conf, "pidfile " + dir_ + "/chronyd.pid\n" + "driftfile " + dir_ + "/drift\n" +
                                  "bindcmdaddress " + socket() + "\n" + config);
    std::vector<std::string> argv = {"chronyd", "-x", "-d", "-f", conf};
    if (!drop_to_chrony) argv.insert(argv.begin() + 3, {"-u", "root"});
    started_ = std::chrono::steady_clock::now();
    process_ = std::make_unique<Process>(argv, dir_ + "/chronyd.log");
  }
  std::string socket() const { return dir_ + "/chronyd.sock"; }
  const std::string& dir() const { return dir_; }
  Process& process() { return *process_; }
  std::chrono::steady_clock::time_point started() const { return started_; }

  // Polls until its command socket answers (chronyd creates it after start-up).
  Result<ChronyTracking> client(ChronyTracking::Params p = {}) const {
    if (p.address == ChronyTracking::Params{}.address) p.address = socket();
    poll_until(20s, [&] {
      struct stat st{};
      return ::stat(socket().c_str(), &st) == 0;
    });
    return ChronyTracking::open(p);
  }

 private:
  std::string dir_;
  std::chrono::steady_clock::time_point started_;
  std::unique_ptr<Process> process_;
};

class RealChronyd : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "runs chronyd -x -u root: needs root";
    ASSERT_TRUE(testing::run("command -v chronyd && command -v chronyc")) << "needs chrony (chronyd, chronyc)";
    ASSERT_FALSE(root_.path().empty());
  }
  TempDir root_{"ts-ref-chronyd", 0755};
};

// Reads until `done` holds for a report, or `timeout`; the last report (or error) stays in `last`.
bool read_until(ChronyTracking& c, std::chrono::seconds timeout, const std::function<bool(const ChronyTrackingReport&)>& done,
                std::optional<Result<ChronyTrackingReport>>* last = nullptr) {
  return poll_until(timeout, [&] {
    auto r = c.read();
    const bool ok = r.ok() && done(*r);
    if (last != nullptr) *last = std::move(r);
    return ok;
  }, 100ms);
}

TEST_F(RealChronyd, TracksAServerAndBoundsItsOffset) {
  const uint16_t ntp_port = testing::free_udp_port();
  const uint16_t cmd_port = testing::free_udp_port();
  ASSERT_NE(ntp_port, 0);
  ASSERT_NE(cmd_port, 0);
  Chronyd server(root_, "server",
                 "cmdport 0\nport " + std::to_string(ntp_port) +
                     "\nbindaddress 127.0.0.1\nallow 127.0.0.1\nlocal stratum 8\n");
  Chronyd client(root_, "client",
                 "cmdport " + std::to_string(cmd_port) + "\nbindcmdaddress 127.0.0.1\nport 0\n" +
                     "server 127.0.0.1 port " + std::to_string(ntp_port) + " iburst minpoll -4 maxpoll -4\n");
  auto tracking = client.client();
  ASSERT_TRUE(tracking.ok()) << tracking.status().message() << "\n" << client.process().log();

  std::optional<Result<ChronyTrackingReport>> last;
  const bool synced = read_until(*tracking, 60s, [](const ChronyTrackingReport& r) {
    return r.synchronized && r.ref_name == "127.0.0.1";
  }, &last);
  ASSERT_TRUE(synced) << (last && !last->ok() ? last->status().message() : "not synchronized")
                      << "\nclient:\n" << client.process().log() << "\nserver:\n" << server.process().log();
  const double sync_s = seconds_since(client.started());

  // Let it settle, then read a few times and keep the worst figures. Right
  // after its first samples chronyd's skew is its 1e6 ppm prior and its root
  // dispersion hundreds of milliseconds (seen on a loaded machine): settled
  // means the dispersion too has come down, not only the offsets.
  ASSERT_TRUE(read_until(*tracking, 30s, [](const ChronyTrackingReport& r) {
    return r.rms_offset_ns < 10'000 && r.root_dispersion_ns < 500'000;
  }));
  int64_t worst_error = 0;
  int64_t worst_offset = 0;
  ChronyTrackingReport r;
  for (int i = 0; i < 10; ++i) {
    auto one = tracking->read();
    ASSERT_TRUE(one.ok()) << one.status().message();
    r = *one;
    ASSERT_TRUE(r.synchronized);
    EXPECT_EQ(r.ref_id, 0x7F000001u);
    EXPECT_EQ(r.stratum, 9);
    EXPECT_EQ(r.leap, ChronyLeap::kNormal);
    EXPECT_EQ(r.error_ns, abs64(r.system_time_offset_ns) + r.root_dispersion_ns + r.root_delay_ns / 2);
    EXPECT_GT(r.root_delay_ns, 0);
    EXPECT_LT(r.error_ns, 1'000'000) << "loopback: well under a millisecond";
    EXPECT_LE(abs64(realtime_ns() - r.ref_time_ns), 5'000'000'000) << "updated within 5 s";
    worst_error = std::max(worst_error, r.error_ns);
    worst_offset = std::max(worst_offset, abs64(r.system_time_offset_ns));
  }
  std::printf("chronyd client synchronized %.1f s after start; over 10 reads: worst error %lld ns, worst |system "
              "time offset| %lld ns (truth 0); last: root delay %lld ns, root dispersion %lld ns, freq %.3f ppm, "
              "skew %.3f ppm\n",
              sync_s, static_cast<long long>(worst_error), static_cast<long long>(worst_offset),
              static_cast<long long>(r.root_delay_ns), static_cast<long long>(r.root_dispersion_ns), r.freq_ppm,
              r.skew_ppm);

  // chronyc agrees on what does not change between two reads.
  const std::string csv = capture("chronyc -h " + client.socket() + " -c tracking");
  char refid_hex[16];
  std::snprintf(refid_hex, sizeof refid_hex, "%08X,", r.ref_id);
  EXPECT_EQ(csv.rfind(refid_hex, 0), 0u) << csv;
  EXPECT_NE(csv.find(",127.0.0.1,9,"), std::string::npos) << csv;

  // The UDP command port answers the same.
  ChronyTracking::Params udp;
  udp.address = "127.0.0.1:" + std::to_string(cmd_port);
  auto over_udp = ChronyTracking::open(udp);
  ASSERT_TRUE(over_udp.ok()) << over_udp.status().message();
  auto u = over_udp->read();
  ASSERT_TRUE(u.ok()) << u.status().message();
  EXPECT_EQ(u->ref_id, r.ref_id);
  EXPECT_EQ(u->stratum, 9);

  // The server, on its local reference: stratum 8, no refid name (chronyc shows "()").
  auto st = server.client();
  ASSERT_TRUE(st.ok()) << st.status().message();
  auto s = st->read();
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_TRUE(s->synchronized);
  EXPECT_EQ(s->stratum, 8);
  EXPECT_EQ(s->ref_id, 0x7F7F0101u);
  EXPECT_EQ(s->ref_name, "");

  // Without its server the client's error grows, at least as fast as the
  // extrapolation from an earlier read says.
  server.process().stop();
  ASSERT_TRUE(read_until(*tracking, 30s, [&](const ChronyTrackingReport& x) {
    return x.ref_time_ns == r.ref_time_ns || realtime_ns() - x.ref_time_ns > 1'000'000'000;
  }));
  auto first = tracking->read();
  ASSERT_TRUE(first.ok());
  std::optional<Result<ChronyTrackingReport>> later;
  ASSERT_TRUE(read_until(*tracking, 20s, [&](const ChronyTrackingReport& x) {
    return x.as_of_ns - first->as_of_ns >= 3'000'000'000;
  }, &later));
  const ChronyTrackingReport& a = *first;
  const ChronyTrackingReport& b = **later;
  ASSERT_TRUE(a.synchronized && b.synchronized) << "chronyd keeps its last reference, with a growing error";
  ASSERT_EQ(a.ref_time_ns, b.ref_time_ns) << "no update without the server";
  const double elapsed_s = static_cast<double>(b.as_of_ns - a.as_of_ns) * 1e-9;
  const int64_t grew = b.root_dispersion_ns - a.root_dispersion_ns;
  EXPECT_GE(static_cast<double>(grew), elapsed_s * 1000.0 * 0.99) << "at least maxclockerror, 1 ppm";
  // Our extrapolation follows chronyd's own growth (within its float precision
  // and the -x offset drift at freq_ppm).
  const double drift_ns = std::fabs(a.freq_ppm) * elapsed_s * 1000.0;
  EXPECT_NEAR(static_cast<double>(a.error_at_ns(b.as_of_ns)), static_cast<double>(b.error_ns),
              drift_ns + 0.02 * static_cast<double>(grew) + 50.0);
  std::printf("server stopped: error %lld -> %lld ns over %.1f s (root dispersion +%lld ns); extrapolated %lld ns\n",
              static_cast<long long>(a.error_ns), static_cast<long long>(b.error_ns), elapsed_s,
              static_cast<long long>(grew), static_cast<long long>(a.error_at_ns(b.as_of_ns)));
}

TEST_F(RealChronyd, APrivilegeDroppedChronydAnswersIntoTheHandedOverDirectory) {
  const passwd* pw = ::getpwnam("_chrony");
  ASSERT_NE(pw, nullptr) << "the chrony package's user _chrony";
  Chronyd dropped(root_, "dropped", "cmdport 0\nport 0\nlocal stratum 8\n", /*drop_to_chrony=*/true);
  auto tracking = dropped.client();  // reply directory beside chronyd's socket, as chronyc
  ASSERT_TRUE(tracking.ok()) << tracking.status().message() << "\n" << dropped.process().log();
  std::optional<Result<ChronyTrackingReport>> last;
  ASSERT_TRUE(read_until(*tracking, 30s, [](const ChronyTrackingReport& r) { return r.stratum == 8; }, &last))
      << (last && !last->ok() ? last->status().message() : "") << "\n" << dropped.process().log();
  struct stat st{};
  const std::string reply_dir = tracking->reply_path().substr(0, tracking->reply_path().rfind('/'));
  ASSERT_EQ(::stat(reply_dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, pw->pw_uid);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  ASSERT_EQ(::stat(dropped.socket().c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, pw->pw_uid) << "chronyd runs as _chrony";

  // A parent _chrony cannot enter: chronyd's reply cannot arrive, and the error says so.
  TempDir closed("ts-ref-closed", 0700);
  ChronyTracking::Params p;
  p.address = dropped.socket();
  p.reply_dir_parent = closed.path();
  p.attempts = 1;
  p.timeout = 500ms;
  auto blocked = ChronyTracking::open(p);
  ASSERT_TRUE(blocked.ok()) << blocked.status().message();
  auto r = blocked->read();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), Errc::kTimeout) << r.status().message();
}

TEST_F(RealChronyd, SelectsTheSockRefclockAndFollowsItsOffset) {
  ChronySockRefclock::Params rp;
  rp.socket_path = root_ / "refclock/timesync.sock";
  rp.max_error_ns = 1'000'000;
  const std::string line = ChronySockRefclock::chrony_conf_line(rp);
  ASSERT_EQ(line, "refclock SOCK " + rp.socket_path + " refid TSYN poll 0 delay 0.002");
  Chronyd chronyd(root_, "refclock", "cmdport 0\nport 0\n" + line + "\n");
  auto tracking = chronyd.client();
  ASSERT_TRUE(tracking.ok()) << tracking.status().message() << "\n" << chronyd.process().log();
  auto writer = ChronySockRefclock::open(rp);
  ASSERT_TRUE(writer.ok()) << writer.status().message();

  // The agent's side: 10 samples a second, "synchronized = realtime + offset".
  std::atomic<int64_t> offset_ns{2'500'000};
  std::atomic<bool> stop{false};
  std::atomic<int> sent{0};
  std::atomic<int64_t> first_sent_ns{0};
  std::thread feeder([&] {
    while (!stop) {
      const int64_t now = realtime_ns();
      if (writer->send(SockSample{now, offset_ns.load(), SockLeap::kNone}, 100'000).ok()) {
        if (sent++ == 0) first_sent_ns = now;
      }
      std::this_thread::sleep_for(100ms);  // pacing the sender, not waiting for a result
    }
  });
  struct Join {
    std::atomic<bool>& stop;
    std::thread& t;
    ~Join() {
      stop = true;
      t.join();
    }
  } join{stop, feeder};

  std::optional<Result<ChronyTrackingReport>> last;
  const bool selected = read_until(*tracking, 90s, [](const ChronyTrackingReport& r) {
    return r.synchronized && r.ref_name == "TSYN";
  }, &last);
  ASSERT_TRUE(selected) << (last && !last->ok() ? last->status().message() : "not selected") << "\n"
                        << chronyd.process().log();
  const double since_start_s = seconds_since(chronyd.started());
  const double since_first_s = static_cast<double>(realtime_ns() - first_sent_ns.load()) * 1e-9;

  // chronyd -x applies its correction only in its own books, at once: its
  // "System time" becomes the refclock's offset, +2.5 ms (system clock slow).
  std::optional<Result<ChronyTrackingReport>> now;
  ASSERT_TRUE(read_until(*tracking, 30s, [](const ChronyTrackingReport& r) {
    return r.synchronized && abs64(r.system_time_offset_ns - 2'500'000) < 10'000;
  }, &now)) << (now && now->ok() ? std::to_string((*now)->system_time_offset_ns) : "no reply");
  const ChronyTrackingReport r = **now;
  EXPECT_EQ(r.stratum, 1);
  EXPECT_EQ(r.ref_id, 0x5453594Eu);
  EXPECT_NEAR(static_cast<double>(r.root_delay_ns), 2'000'000, 1'000) << "the refclock's delay: 2 x max_error";
  // The truth is +2.5 ms; chrony's estimate is within its own bound on it.
  EXPECT_LE(abs64(r.system_time_offset_ns - 2'500'000), r.root_dispersion_ns + r.root_delay_ns / 2);
  const std::string sources = capture("chronyc -h " + chronyd.socket() + " -n sources");
  EXPECT_NE(sources.find("#* TSYN"), std::string::npos) << "chronyc shows the refclock selected:\n" << sources;
  std::printf("refclock TSYN selected %.1f s after chronyd started (%.1f s after the first sample); "
              "System time %+lld ns (fed +2500000), root delay %lld ns, root dispersion %lld ns, error %lld ns\n%s",
              since_start_s, since_first_s, static_cast<long long>(r.system_time_offset_ns),
              static_cast<long long>(r.root_delay_ns), static_cast<long long>(r.root_dispersion_ns),
              static_cast<long long>(r.error_ns), sources.c_str());

  // A new offset, of the other sign, is followed.
  const auto changed = std::chrono::steady_clock::now();
  offset_ns = -1'000'000;
  ASSERT_TRUE(read_until(*tracking, 60s, [](const ChronyTrackingReport& x) {
    return x.synchronized && abs64(x.system_time_offset_ns + 1'000'000) < 10'000;
  }, &now)) << (now && now->ok() ? std::to_string((*now)->system_time_offset_ns) : "no reply");
  std::printf("offset -1 ms followed after %.1f s: System time %+lld ns\n", seconds_since(changed),
              static_cast<long long>((*now)->system_time_offset_ns));

  // A bound beyond what the delay covers never reaches chronyd.
  const Status refused = writer->send(SockSample{realtime_ns(), 0, SockLeap::kNone}, 1'000'001);
  EXPECT_EQ(refused.code(), Errc::kOutOfRange) << refused.message();
}

}  // namespace
}  // namespace timesync::reference
