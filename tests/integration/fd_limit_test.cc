// Issue 17, item 5: a daemon at its file-descriptor limit. Real master and
// agent processes started with a soft RLIMIT_NOFILE of 1024 (inherited from
// this process, which lowers its own soft limit around the spawn), flooded
// with 1,100 idle TCP connections from here, or pushed to EMFILE with
// prlimit(2) while they run. What must hold:
//  - connections made before the flood keep being answered during it;
//  - once the flood closes (or the limit is restored), new connections are
//    served again (gRPC 1.51's own acceptor stopped for good at the first
//    EMFILE);
//  - while the daemon cannot accept, health says NOT_SERVING on a connection
//    that already exists and no WATCHDOG=1 is sent; both come back after.
#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstdio>
#include <filesystem>
#include <regex>
#include <vector>

#include "grpc/health/v1/health.grpc.pb.h"
#include "support/daemons.hpp"
#include "support/process.hpp"
#include "timesync/v1/timesync.grpc.pb.h"

namespace timesync {
namespace {

using testing::eventually;
using namespace std::chrono_literals;
using Serving = grpc::health::v1::HealthCheckResponse;

constexpr rlim_t kDaemonLimit = 1024;
constexpr int kFlood = 1100;

// A channel with a connection of its own (no subchannel shared with another
// channel to the same target), so "a new connection" really is one.
std::shared_ptr<grpc::Channel> own_channel(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

// grpc.health.v1 Check for `service` over `channel`; UNKNOWN if no answer in 1 s.
Serving::ServingStatus check(const std::shared_ptr<grpc::Channel>& channel,
                             const std::string& service = "") {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 1s);
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(service);
  grpc::health::v1::HealthCheckResponse resp;
  return stub->Check(&ctx, req, &resp).ok() ? resp.status() : Serving::UNKNOWN;
}

// Whether a brand-new connection gets the server's health answer within 1 s.
bool served_on_new_connection(const std::string& target) {
  return check(own_channel(target)) == Serving::SERVING;
}

// Idle TCP connections from this process: connected, never a byte sent.
class Flood {
 public:
  Flood(int port, int n) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < n; ++i) {
      const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) throw std::runtime_error("flood: socket failed (raise this process's limit)");
      connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);  // EINPROGRESS
      fds_.push_back(fd);
    }
    // The handshakes complete in the kernel whether or not the daemon accepts.
    for (int fd : fds_) {
      pollfd p{fd, POLLOUT, 0};
      poll(&p, 1, 2000);
    }
  }
  ~Flood() { release(); }
  void release() {
    for (int fd : fds_) close(fd);
    fds_.clear();
  }

 private:
  std::vector<int> fds_;
};

// A datagram socket standing in for systemd's NOTIFY_SOCKET.
class NotifySocket {
 public:
  explicit NotifySocket(std::string path) : path_(std::move(path)) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path_.c_str());
    if (bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      throw std::runtime_error("cannot bind " + path_);
    }
  }
  ~NotifySocket() {
    close(fd_);
    unlink(path_.c_str());
  }
  int watchdogs() {
    char buf[4096];
    ssize_t n;
    while ((n = recv(fd_, buf, sizeof buf, MSG_DONTWAIT)) > 0) {
      watchdogs_ += std::string(buf, static_cast<size_t>(n)).find("WATCHDOG=1") != std::string::npos;
    }
    return watchdogs_;
  }

 private:
  std::string path_;
  int fd_ = -1;
  int watchdogs_ = 0;
};

// The pid a daemon logs in each line: "... timesync-master[4242] INFO: ...".
pid_t logged_pid(const testing::Daemon& d) {
  std::smatch m;
  const std::string log = d.log();
  if (!std::regex_search(log, m, std::regex(R"(timesync-(?:master|agent)\[(\d+)\])"))) return -1;
  return static_cast<pid_t>(std::stol(m[1]));
}

void set_soft_limit(pid_t pid, rlim_t soft) {
  rlimit r{};
  ASSERT_EQ(prlimit(pid, RLIMIT_NOFILE, nullptr, &r), 0);
  r.rlim_cur = soft;
  ASSERT_EQ(prlimit(pid, RLIMIT_NOFILE, &r, nullptr), 0);
}

class FdLimit : public ::testing::Test {
 protected:
  void SetUp() override {
    getrlimit(RLIMIT_NOFILE, &own_);
    ASSERT_GE(own_.rlim_max, static_cast<rlim_t>(kFlood + 200)) << "this test needs 1,300 descriptors";
    rlimit raised = own_;
    raised.rlim_cur = own_.rlim_max;
    setrlimit(RLIMIT_NOFILE, &raised);
    // A 200 ms watchdog: keep-alives every 100 ms from each daemon's loop.
    setenv("WATCHDOG_USEC", "200000", 1);
  }
  void TearDown() override {
    unsetenv("WATCHDOG_USEC");
    unsetenv("NOTIFY_SOCKET");
    if (HasFailure()) {
      std::cerr << "--- master log ---\n" << master_.log() << "--- agent log ---\n" << agent_.log();
    }
    master_.stop();
    agent_.stop();
    setrlimit(RLIMIT_NOFILE, &own_);
    std::filesystem::remove_all(dir_);
  }
  // Runs `start` with this process's soft limit at kDaemonLimit, so the
  // daemon inherits it; ours goes back up for the flood.
  template <class F>
  void with_daemon_limit(F start) {
    rlimit r{};
    getrlimit(RLIMIT_NOFILE, &r);
    rlimit low = r;
    low.rlim_cur = kDaemonLimit;
    setrlimit(RLIMIT_NOFILE, &low);
    start();
    setrlimit(RLIMIT_NOFILE, &r);
  }
  void start_master() {
    setenv("NOTIFY_SOCKET", (dir_ + "/master.notify").c_str(), 1);
    with_daemon_limit([&] { master_.start(); });
    ASSERT_TRUE(eventually([&] { return served_on_new_connection(master_.target()); }, 20s))
        << master_.log();
  }

  rlimit own_{};
  const std::string dir_ = testing::make_temp_dir();
  testing::MasterProcess master_{dir_};
  testing::AgentProcess agent_{dir_, master_.target()};
};

// The issue's reproduction: more idle connections than the daemon has
// descriptors, then all of them closed.
TEST_F(FdLimit, MasterServesAgainAfterAFloodOfIdleConnections) {
  NotifySocket notify(dir_ + "/master.notify");
  start_master();
  const auto before = own_channel(master_.target());
  ASSERT_EQ(check(before), Serving::SERVING);

  {
    Flood flood(master_.port(), kFlood);
    // Connections from before the flood are still answered, and the daemon,
    // which still accepts (it refuses what is beyond its bound), stays alive.
    const int w0 = notify.watchdogs();
    EXPECT_EQ(check(before), Serving::SERVING);
    auto stub = v1::TimeService::NewStub(before);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 1s);
    v1::GetTimeResponse resp;
    EXPECT_TRUE(stub->GetTime(&ctx, v1::GetTimeRequest{}, &resp).ok());
    EXPECT_TRUE(eventually([&] { return notify.watchdogs() >= w0 + 10; }, 5s));
    EXPECT_EQ(check(before), Serving::SERVING);
    // The bound held: what did not fit was refused, not left to exhaust it.
    EXPECT_TRUE(eventually([&] { return master_.log().find("refused") != std::string::npos; }, 5s));
  }
  // The flood is gone: new connections are served again.
  EXPECT_TRUE(eventually([&] { return served_on_new_connection(master_.target()); }, 10s, 100ms))
      << "the master no longer accepts connections";
  EXPECT_EQ(check(before), Serving::SERVING);
}

// EMFILE for everything: the daemon cannot accept, so it says so and stops
// feeding its watchdog; with descriptors back it accepts again by itself.
TEST_F(FdLimit, MasterAtEmfileReportsNotServingThenRecovers) {
  NotifySocket notify(dir_ + "/master.notify");
  start_master();
  const auto before = own_channel(master_.target());
  ASSERT_EQ(check(before), Serving::SERVING);
  const pid_t pid = logged_pid(master_);
  ASSERT_GT(pid, 0) << master_.log();

  set_soft_limit(pid, 3);  // below every descriptor it has: each new one fails
  // A client arriving now meets accept4() failing with EMFILE.
  EXPECT_FALSE(served_on_new_connection(master_.target()));
  EXPECT_TRUE(eventually([&] { return check(before) == Serving::NOT_SERVING; }, 8s, 100ms))
      << "health still SERVING while the master cannot accept";
  const int w0 = notify.watchdogs();
  std::this_thread::sleep_for(1s);  // 10 keep-alive intervals
  EXPECT_EQ(notify.watchdogs(), w0) << "watchdog fed while the master cannot accept";

  set_soft_limit(pid, kDaemonLimit);
  EXPECT_TRUE(eventually([&] { return served_on_new_connection(master_.target()); }, 10s, 100ms))
      << "the master did not accept again once descriptors were back";
  EXPECT_TRUE(eventually([&] { return check(before) == Serving::SERVING; }, 8s, 100ms));
  const int w1 = notify.watchdogs();
  EXPECT_TRUE(eventually([&] { return notify.watchdogs() >= w1 + 5; }, 5s));
}

// The agent's local service: the same flood, the same recovery.
TEST_F(FdLimit, AgentLocalServiceServesAgainAfterAFlood) {
  NotifySocket notify(dir_ + "/agent.notify");
  start_master();
  setenv("NOTIFY_SOCKET", (dir_ + "/agent.notify").c_str(), 1);
  with_daemon_limit([&] { agent_.start(testing::kSimulatedAgent); });
  ASSERT_TRUE(eventually([&] { return served_on_new_connection(agent_.target()); }, 20s))
      << agent_.log();
  const auto before = own_channel(agent_.target());
  ASSERT_EQ(check(before), Serving::SERVING);
  {
    Flood flood(agent_.port(), kFlood);
    const int w0 = notify.watchdogs();
    EXPECT_EQ(check(before), Serving::SERVING);
    EXPECT_TRUE(eventually([&] { return notify.watchdogs() >= w0 + 10; }, 5s));
  }
  EXPECT_TRUE(eventually([&] { return served_on_new_connection(agent_.target()); }, 10s, 100ms))
      << "the agent's local service no longer accepts connections";
  const pid_t pid = logged_pid(agent_);
  ASSERT_GT(pid, 0);
  set_soft_limit(pid, 3);
  EXPECT_FALSE(served_on_new_connection(agent_.target()));
  EXPECT_TRUE(eventually([&] { return check(before) == Serving::NOT_SERVING; }, 8s, 100ms));
  set_soft_limit(pid, kDaemonLimit);
  EXPECT_TRUE(eventually([&] { return served_on_new_connection(agent_.target()); }, 10s, 100ms));
  EXPECT_TRUE(eventually([&] { return check(before) == Serving::SERVING; }, 8s, 100ms));
}

}  // namespace
}  // namespace timesync
