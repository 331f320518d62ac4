// Acceptor on loopback with a recording sink in place of gRPC: connections
// handed over, the descriptor cap, EMFILE and recovery, the self-probe, and
// bind errors. The limits are this process's own (setrlimit), so client and
// accepted sockets both count towards them.
#include "timesync/daemon/acceptor.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

namespace timesync::daemon {
namespace {

using namespace std::chrono_literals;

// Keeps what it is handed, as gRPC would, until the test closes them.
class RecordingSink final : public grpc::experimental::ExternalConnectionAcceptor {
 public:
  explicit RecordingSink(std::vector<int>* fds, std::mutex* mu) : fds_(fds), mu_(mu) {}
  void HandleNewConnection(NewConnectionParameters* p) override {
    std::lock_guard<std::mutex> lock(*mu_);
    fds_->push_back(p->fd);
  }

 private:
  std::vector<int>* fds_;
  std::mutex* mu_;
};

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

class AcceptorTest : public ::testing::Test {
 protected:
  void SetUp() override { getrlimit(RLIMIT_NOFILE, &saved_); }
  void TearDown() override {
    if (acceptor_) acceptor_->stop();
    setrlimit(RLIMIT_NOFILE, &saved_);
    for (int fd : clients_) close(fd);
    for (int fd : handed_) close(fd);
  }
  void start(const std::string& listen = "127.0.0.1:0") {
    std::string why;
    acceptor_ = Acceptor::bind(listen, &why);
    ASSERT_NE(acceptor_, nullptr) << why;
    acceptor_->start(std::make_unique<RecordingSink>(&handed_, &mu_),
                     [this](bool ok) { changes_.push_back(ok); });
  }
  // A connected client socket; -1 if this process has no descriptor left.
  int dial() {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(acceptor_->port()));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << strerror(errno);
    clients_.push_back(fd);
    return fd;
  }
  size_t handed() {
    std::lock_guard<std::mutex> lock(mu_);
    return handed_.size();
  }
  void set_soft_limit(rlim_t soft) {
    rlimit r = saved_;
    r.rlim_cur = soft;
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &r), 0);
  }
  rlimit saved_{};
  std::unique_ptr<Acceptor> acceptor_;
  std::mutex mu_;
  std::vector<int> handed_;
  std::vector<int> clients_;
  std::vector<bool> changes_;  // written by the acceptor's thread; read after stop()
};

TEST_F(AcceptorTest, HandsEveryConnectionToTheServer) {
  start();
  for (int i = 0; i < 20; ++i) ASSERT_GE(dial(), 0);
  EXPECT_TRUE(eventually([&] { return handed() == 20; }, 5s)) << handed();
  EXPECT_EQ(acceptor_->stats().accepted, 20u);
  EXPECT_EQ(acceptor_->stats().refused, 0u);
  EXPECT_TRUE(acceptor_->accepting());
}

TEST_F(AcceptorTest, RefusesConnectionsAtTheDescriptorCapAndTakesThemAgainAfter) {
  set_soft_limit(128);  // a reserve of 32: connections stay below descriptor 96
  start();
  ASSERT_TRUE(eventually([&] { return acceptor_->stats().cap == 96; }, 5s))
      << acceptor_->stats().cap;
  // Each connection costs two descriptors here (client and accepted end).
  for (int i = 0; i < 50; ++i) ASSERT_GE(dial(), 0);
  ASSERT_TRUE(eventually([&] { return handed() + acceptor_->stats().refused == 50; }, 5s));
  EXPECT_GT(acceptor_->stats().refused, 0u);
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int fd : handed_) EXPECT_LT(fd, 96);
  }
  // The reserve is left for the daemon itself: its probe still gets through.
  std::this_thread::sleep_for(std::chrono::nanoseconds(Acceptor::kStaleAfterNs) + 500ms);
  EXPECT_TRUE(acceptor_->accepting());

  // The server closes what it had: new connections are taken again.
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int fd : handed_) close(fd);
    handed_.clear();
  }
  const uint64_t refused = acceptor_->stats().refused;
  ASSERT_GE(dial(), 0);
  EXPECT_TRUE(eventually([&] { return handed() == 1; }, 5s));
  EXPECT_EQ(acceptor_->stats().refused, refused);
}

TEST_F(AcceptorTest, OutOfDescriptorsItStopsCountingAsAcceptingAndRecovers) {
  start();
  const int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(client, 0);
  clients_.push_back(client);
  set_soft_limit(3);  // below every descriptor open: each new one fails
  // The handshake completes in the kernel; accept4() fails with EMFILE.
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(acceptor_->port()));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(client, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  EXPECT_TRUE(eventually([&] { return acceptor_->stats().errors > 0; }, 5s));
  // No probe can be made either: after kStaleAfterNs it is not accepting.
  EXPECT_TRUE(eventually([&] { return !acceptor_->accepting(); }, 6s));
  EXPECT_EQ(handed(), 0u);

  setrlimit(RLIMIT_NOFILE, &saved_);
  EXPECT_TRUE(eventually([&] { return handed() == 1; }, 5s)) << "handed " << handed();
  EXPECT_TRUE(eventually([&] { return acceptor_->accepting(); }, 5s));
  acceptor_->stop();
  EXPECT_EQ(changes_, (std::vector<bool>{false, true}));
}

// The self-probe's own connection can be what waits behind EMFILE: here the
// limit leaves exactly one descriptor free, which the first probe takes, so
// its connection (and the client's) sit in the backlog. Once the probe is
// overdue and descriptors are back, it must still be recognised as a probe,
// never handed to the server as a client (it used to be closed when overdue,
// then accepted and handed to gRPC).
TEST_F(AcceptorTest, AProbeAcceptedLateAfterEmfileIsNotHandedToTheServer) {
  std::string why;
  acceptor_ = Acceptor::bind("127.0.0.1:0", &why);
  ASSERT_NE(acceptor_, nullptr) << why;
  const int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(client, 0);
  clients_.push_back(client);
  const int lowest_free = fcntl(client, F_DUPFD, 0);
  ASSERT_GE(lowest_free, 0);
  close(lowest_free);
  set_soft_limit(static_cast<rlim_t>(lowest_free) + 1);  // one descriptor left: the probe's
  acceptor_->start(std::make_unique<RecordingSink>(&handed_, &mu_),
                   [this](bool ok) { changes_.push_back(ok); });
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(acceptor_->port()));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(client, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << strerror(errno);
  ASSERT_TRUE(eventually([&] { return !acceptor_->accepting(); }, 6s));
  // At least a second of retries more (one every 100 ms): the probe is overdue
  // and the acceptor has been through its next probe tick.
  const uint64_t errors = acceptor_->stats().errors;
  ASSERT_TRUE(eventually([&] { return acceptor_->stats().errors >= errors + 12; }, 5s));
  EXPECT_EQ(handed(), 0u);

  setrlimit(RLIMIT_NOFILE, &saved_);
  // The backlog is accepted in order, probes included; once the client is
  // handed over and a probe got through, everything queued before is done.
  ASSERT_TRUE(eventually([&] { return handed() >= 1 && acceptor_->accepting(); }, 5s));
  EXPECT_EQ(handed(), 1u);
  EXPECT_EQ(acceptor_->stats().accepted, 1u);
  acceptor_->stop();
  EXPECT_EQ(changes_, (std::vector<bool>{false, true}));
}

TEST_F(AcceptorTest, ProbesGetThroughOnWildcardAndIpv6Listeners) {
  for (const std::string listen : {"0.0.0.0:0", "[::]:0", "localhost:0"}) {
    std::string why;
    std::unique_ptr<Acceptor> a = Acceptor::bind(listen, &why);
    ASSERT_NE(a, nullptr) << listen << ": " << why;
    std::vector<int> fds;
    std::mutex mu;
    a->start(std::make_unique<RecordingSink>(&fds, &mu), {});
    // Past the staleness limit, only probes that got through keep it true.
    std::this_thread::sleep_for(std::chrono::nanoseconds(Acceptor::kStaleAfterNs) + 500ms);
    EXPECT_TRUE(a->accepting()) << listen;
    a->stop();
    EXPECT_TRUE(fds.empty()) << listen << ": a probe was handed to the server";
  }
}

TEST_F(AcceptorTest, BindErrorsNameTheAddressAndTheCause) {
  start();
  std::string why;
  EXPECT_EQ(Acceptor::bind("127.0.0.1:" + std::to_string(acceptor_->port()), &why), nullptr);
  EXPECT_NE(why.find("cannot listen on '127.0.0.1:"), std::string::npos) << why;
  EXPECT_NE(why.find("in use"), std::string::npos) << why;
  EXPECT_EQ(Acceptor::bind("no-port-here", &why), nullptr);
  EXPECT_NE(why.find("not a host:port"), std::string::npos) << why;
  EXPECT_EQ(Acceptor::bind("127.0.0.1:http", &why), nullptr);
  EXPECT_NE(why.find("bad port"), std::string::npos) << why;
}

}  // namespace
}  // namespace timesync::daemon
