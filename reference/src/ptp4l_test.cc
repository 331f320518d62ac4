// PtpStatus against real ptp4l processes: a grandmaster and a slave in two
// network namespaces joined by a veth pair, software timestamping, layer-2
// transport. Both run on this host's CLOCK_REALTIME, so the truth is known:
// the slave's true offset from its master is zero. The slave's clock
// adjustments go through the LD_PRELOAD clock shim (testing/clock_shim.c),
// which turns them into reads: the host clock is never touched. Needs root.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>

#include "testing/daemons.hpp"
#include "timesync/reference/ptp_status.hpp"

namespace timesync::reference {
namespace {

using namespace std::chrono_literals;
using testing::poll_until;
using testing::Process;
using testing::TempDir;

int64_t abs64(int64_t v) { return v < 0 ? -v : v; }

std::string capture(const std::string& cmd) {
  std::string out;
  if (FILE* f = ::popen(cmd.c_str(), "r")) {
    char buf[512];
    while (std::fgets(buf, sizeof buf, f) != nullptr) out += buf;
    ::pclose(f);
  }
  return out;
}

class RealPtp4l : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "network namespaces and ptp4l: needs root";
    ASSERT_TRUE(testing::run("command -v ptp4l && command -v pmc")) << "needs linuxptp (ptp4l, pmc)";
    testing::remove_stale_namespaces();
    ASSERT_TRUE(a_.ok() && b_.ok()) << "ip netns add";
    ASSERT_TRUE(testing::run("ip link add vptp0 netns " + a_.name() + " type veth peer name vptp1 netns " + b_.name()));
    ASSERT_TRUE(testing::run("ip -n " + a_.name() + " link set vptp0 up"));
    ASSERT_TRUE(testing::run("ip -n " + b_.name() + " link set vptp1 up"));
  }

  std::unique_ptr<Process> ptp4l(const testing::NetNs& ns, const std::string& iface, const std::string& name,
                                 const std::string& extra, bool shim) {
    const std::string conf = dir_ / (name + ".cfg");
    testing::write_file(conf, "[global]\nuds_address " + socket(name) + "\nlogging_level 6\n" + extra);
    std::vector<std::string> argv = {"ip", "netns", "exec", ns.name(), "env"};
    if (shim) {
      argv.push_back(std::string("LD_PRELOAD=") + TIMESYNC_CLOCK_SHIM);
      argv.push_back("TIMESYNC_CLOCK_SHIM_LOG=" + (dir_ / (name + ".shim")));
    }
    for (const char* a : {"ptp4l", "-2", "-S", "-m", "-i"}) argv.emplace_back(a);
    argv.push_back(iface);
    argv.push_back("-f");
    argv.push_back(conf);
    return std::make_unique<Process>(argv, dir_ / (name + ".log"));
  }
  std::string socket(const std::string& name) const { return dir_ / (name + ".sock"); }

  Result<PtpStatus> client(const std::string& name) {
    poll_until(20s, [&] { return ::access(socket(name).c_str(), F_OK) == 0; });
    PtpStatus::Params p;
    p.socket_path = socket(name);
    p.timeout = 500ms;
    return PtpStatus::open(p);
  }

  TempDir dir_{"ts-ref-ptp4l", 0755};
  testing::NetNs a_{"ptpA"};
  testing::NetNs b_{"ptpB"};
};

TEST_F(RealPtp4l, ASlaveFollowsItsGrandmasterAndLosesIt) {
  const auto kernel_before = testing::read_kernel_clock();
  auto master = ptp4l(a_, "vptp0", "master", "priority1 100\nfree_running 1\n", /*shim=*/true);
  auto m = client("master");
  ASSERT_TRUE(m.ok()) << m.status().message();

  // The grandmaster alone: no slave port, nothing bounded; pmc agrees on its identity.
  std::optional<Result<PtpStatusReport>> last;
  ASSERT_TRUE(poll_until(30s, [&] {
    last = m->read();
    return last->ok() && (*last)->port_state == PtpPortState::kMaster;
  }, 200ms)) << (last && !last->ok() ? last->status().message() : "never MASTER") << "\n" << master->log();
  const PtpStatusReport gm = **last;
  EXPECT_FALSE(gm.synchronized);
  EXPECT_EQ(gm.error_ns, kUnboundedNs);
  ASSERT_EQ(gm.ports.size(), 1u);
  EXPECT_EQ(gm.ports[0].number, 1);
  const std::string pmc = capture("pmc -u -b 0 -s " + socket("master") + " -i " + (dir_ / "pmc.sock") +
                                  " 'GET DEFAULT_DATA_SET'");
  EXPECT_NE(pmc.find("clockIdentity           " + to_string(gm.clock_identity)), std::string::npos)
      << to_string(gm.clock_identity) << " vs pmc:\n" << pmc;

  // The slave locks; its offset is the truth (0) within what PTP can know.
  auto slave = ptp4l(b_, "vptp1", "slave", "slaveOnly 1\n", /*shim=*/true);
  auto s = client("slave");
  ASSERT_TRUE(s.ok()) << s.status().message();
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(poll_until(60s, [&] {
    last = s->read();
    return last->ok() && (*last)->synchronized;
  }, 200ms)) << (last && !last->ok() ? last->status().message() : "never SLAVE") << "\n" << slave->log();
  const double lock_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  int64_t worst_offset = 0;
  int64_t worst_error = 0;
  PtpStatusReport r;
  for (int i = 0; i < 10; ++i) {
    auto one = s->read();
    ASSERT_TRUE(one.ok()) << one.status().message();
    r = *one;
    ASSERT_TRUE(r.synchronized) << to_string(r.port_state);
    EXPECT_EQ(r.gm_identity, gm.clock_identity);
    EXPECT_EQ(r.steps_removed, 1);
    EXPECT_EQ(r.error_ns, abs64(r.offset_from_master_ns) + abs64(r.mean_path_delay_ns));
    EXPECT_GT(r.mean_path_delay_ns, 0);
    EXPECT_LT(abs64(r.offset_from_master_ns), 200'000) << "software timestamps over a veth: well under 200 us";
    worst_offset = std::max(worst_offset, abs64(r.offset_from_master_ns));
    worst_error = std::max(worst_error, r.error_ns);
  }
  std::printf("ptp4l slave locked %.1f s after start; over 10 reads: worst |offset| %lld ns (truth 0), worst "
              "error %lld ns, mean path delay %lld ns\n",
              lock_s, static_cast<long long>(worst_offset), static_cast<long long>(worst_error),
              static_cast<long long>(r.mean_path_delay_ns));
  const std::string shim_log = testing::read_file(dir_ / "slave.shim");
  long pid = 0;
  long writes = 0;
  ASSERT_EQ(std::sscanf(shim_log.c_str(), "loaded %ld writes %ld", &pid, &writes), 2) << shim_log;
  EXPECT_GT(writes, 0) << "the slave's servo adjusted (through the shim)";
  EXPECT_EQ(testing::read_kernel_clock(), kernel_before)
      << "the host clock untouched: " << testing::to_string(testing::read_kernel_clock()) << " vs "
      << testing::to_string(kernel_before);

  // The grandmaster gone: after its announce timeout the slave is no longer synchronized.
  master->stop();
  ASSERT_TRUE(poll_until(30s, [&] {
    last = s->read();
    return last->ok() && !(*last)->synchronized;
  }, 200ms)) << "still synchronized without a grandmaster";
  EXPECT_EQ((*last)->error_ns, kUnboundedNs);
}

TEST_F(RealPtp4l, NoPtp4lIsAnErrorValue) {
  PtpStatus::Params p;
  p.socket_path = dir_ / "absent.sock";
  p.timeout = 200ms;
  auto c = PtpStatus::open(p);
  if (c.ok()) {
    auto r = c->read();
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("absent.sock"), std::string::npos) << r.status().message();
  } else {
    EXPECT_NE(c.status().message().find("absent.sock"), std::string::npos) << c.status().message();
  }
}

}  // namespace
}  // namespace timesync::reference
