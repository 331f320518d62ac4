// Operations, end to end with real processes: the Prometheus endpoints of
// master and agent scraped over HTTP, timesyncctl (status, now, watch, health,
// master) as an operator runs it, systemd's notification protocol on a real
// datagram socket, and TLS / mutual TLS with certificates made for the test.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <regex>

#include "support/daemons.hpp"
#include "support/process.hpp"

namespace timesync {
namespace {

using testing::eventually;
using testing::Process;
using namespace std::chrono_literals;

// GET http://127.0.0.1:port/path; "" when nothing answers.
std::string http_get(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    const std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[4096];
      ssize_t n;
      while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  return out;
}

// The value of one series in Prometheus text format (name plus its exact
// label set as printed, e.g. 'x{a="b"}'); NaN if absent.
double metric(const std::string& exposition, const std::string& series) {
  std::istringstream in(exposition);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return NAN;
}

// A datagram socket standing in for systemd's NOTIFY_SOCKET.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    if (bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      throw std::runtime_error("cannot bind " + path);
    }
  }
  ~NotifySocket() {
    close(fd_);
    unlink(path_.c_str());
  }
  // Every message that arrived so far (non-blocking).
  void drain() {
    char buf[4096];
    ssize_t n;
    while ((n = recv(fd_, buf, sizeof buf, MSG_DONTWAIT)) > 0) {
      messages_.emplace_back(buf, static_cast<size_t>(n));
    }
  }
  int count(const std::string& field) {
    drain();
    int c = 0;
    for (const std::string& m : messages_) {
      std::istringstream in(m);
      std::string line;
      while (std::getline(in, line)) c += line == field || line.rfind(field, 0) == 0;
    }
    return c;
  }
  std::string all() {
    drain();
    std::string s;
    for (const std::string& m : messages_) s += "[" + m + "] ";
    return s;
  }

 private:
  std::string path_;
  int fd_ = -1;
  std::vector<std::string> messages_;
};

// The agent polls every 0.05-0.2 s on the host's own clock; both daemons
// serve metrics.
class Operations : public testing::MasterAndAgent {
 protected:
  std::string addr(int port) const { return testing::loopback(port); }
  std::string segment() const { return agent_.segment(); }

  void start_master(const std::string& extra = "") {
    master_.start("metrics: {listen: \"" + addr(master_metrics_) + "\"}\n" + extra, "ops-master");
  }
  // alarm.unreachable_after_s must exceed poll.max_s (config rule).
  void start_agent(const std::string& extra = "",
                   const std::string& poll = "{min_s: 0.05, max_s: 0.2, rpc_timeout_s: 0.3}",
                   const std::string& alarm = "{unreachable_after_s: 0.3}") {
    agent_.start("poll: " + poll + "\nalarm: " + alarm + "\n"
                 "metrics: {listen: \"" + addr(agent_metrics_) + "\"}\n" + extra, "ops-agent");
  }

  // timesyncctl ARGS...; exit status, *out = stdout and stderr.
  int ctl(std::vector<std::string> args, std::string* out) {
    args.insert(args.begin(), TIMESYNC_CTL_BIN);
    const std::string log = dir_ + "/ctl-" + std::to_string(++ctl_runs_) + ".log";
    return testing::run_to_exit(std::move(args), log, out);
  }
  bool agent_serving() {
    std::string out;
    return ctl({"health", agent_.target(), "--service", "timesync.v1.AgentService"}, &out) == 0;
  }

  const int master_metrics_ = testing::free_port(), agent_metrics_ = testing::free_port();
  int ctl_runs_ = 0;
};

TEST_F(Operations, MetricsAndTimesyncctlFollowSyncOutageAndRecovery) {
  start_master();
  start_agent();
  ASSERT_TRUE(eventually([&] { return agent_serving(); }, 10s));

  // Agent metrics agree with its state, and with what the master counted.
  const std::string a = http_get(agent_metrics_, "/metrics");
  ASSERT_NE(a.find("200 OK"), std::string::npos) << a;
  EXPECT_EQ(metric(a, "timesync_agent_synchronized"), 1);
  EXPECT_EQ(metric(a, "timesync_agent_state{state=\"synchronized\"}"), 1);
  EXPECT_EQ(metric(a, "timesync_agent_state{state=\"unsynchronized\"}"), 0);
  EXPECT_GT(metric(a, "timesync_agent_samples_total{result=\"accepted\"}"), 0);
  const double round_trips = metric(a, "timesync_agent_round_trip_seconds_count");
  EXPECT_GT(round_trips, 0);
  EXPECT_GT(metric(a, "timesync_agent_error_bound_seconds"), 0);
  EXPECT_LT(metric(a, "timesync_agent_error_bound_seconds"),
            metric(a, "timesync_agent_max_error_seconds"));
  EXPECT_EQ(metric(a, "timesync_agent_alarm_active{reason=\"master_unreachable\"}"), 0);
  EXPECT_NE(a.find("timesync_agent_info{agent_id=\"ops-agent\""), std::string::npos);
  // The default transport: UDP with kernel timestamps, found through gRPC.
  EXPECT_EQ(metric(a, "timesync_agent_transport{link=\"udp\",timestamps=\"kernel software\"}"), 1);
  const std::string m = http_get(master_metrics_, "/metrics");
  // Scraped after the agent: the master has answered at least what the agent
  // saw, over gRPC (the discovery exchange) and UDP together.
  const double grpc_answers =
      metric(m, "timesync_master_requests_total{code=\"OK\",method=\"GetTime\"}");
  EXPECT_GE(grpc_answers, 1);
  EXPECT_GE(metric(m, "timesync_master_request_duration_seconds_count{method=\"GetTime\"}"),
            grpc_answers);
  EXPECT_GE(grpc_answers + metric(m, "timesync_master_udp_requests_total{result=\"answered\"}"),
            round_trips);
  EXPECT_EQ(metric(m, "timesync_master_info{master_id=\"ops-master\",timebase=\"monotonic\"}"),
            1);

  // timesyncctl: status (human and JSON), status of the master, now, health.
  std::string out;
  ASSERT_EQ(ctl({"status", agent_.target()}, &out), 0) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex("Status +: synchronized\n"))) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex("Error bound +: [0-9.]+ us \\(limit 1000.000 us\\)")))
      << out;
  ASSERT_EQ(ctl({"status", agent_.target(), "--json"}, &out), 0) << out;
  EXPECT_NE(out.find("\"role\":\"agent\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"status\":\"synchronized\",\"synchronized\":true"), std::string::npos)
      << out;
  EXPECT_NE(out.find("\"id\":\"ops-master\""), std::string::npos) << out;
  ASSERT_EQ(ctl({"status", master_.target(), "--json"}, &out), 0) << out;
  EXPECT_NE(out.find("\"role\":\"master\",\"target\":\"" + master_.target() +
                     "\",\"master_id\":\"ops-master\""),
            std::string::npos)
      << out;
  ASSERT_EQ(ctl({"now", "--segment", segment()}, &out), 0) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex("^[0-9]+\\.[0-9]{9} seconds \\+/- [0-9.]+ us "
                                                "\\(synchronized, epoch [0-9]+\\)")))
      << out;
  // --json: time_ns is the exact value and time_s the same digits as a decimal
  // number ("%.9g" of a realtime timestamp was seconds off).
  ASSERT_EQ(ctl({"now", "--segment", segment(), "--json"}, &out), 0) << out;
  std::smatch now_json;
  ASSERT_TRUE(std::regex_search(
      out, now_json, std::regex("\"time_ns\":([0-9]+),\"time_s\":([0-9]+)\\.([0-9]{9}),")))
      << out;
  EXPECT_EQ(std::stoll(now_json[1].str()),
            std::stoll(now_json[2].str()) * 1'000'000'000 + std::stoll(now_json[3].str()))
      << out;
  ASSERT_EQ(ctl({"health", agent_.target()}, &out), 0) << out;
  EXPECT_EQ(out, agent_.target() + ": SERVING\n");
  EXPECT_EQ(ctl({"health", addr(testing::free_port())}, &out), 1) << out;

  // Outage: watch reports the alarm as it is raised, metrics and now follow.
  Process watch({TIMESYNC_CTL_BIN, "watch", agent_.target(), "--json", "--interval-ms", "100"},
                dir_ + "/watch.log");
  ASSERT_TRUE(eventually([&] { return watch.log().find("\"event\":\"status\"") !=
                                      std::string::npos; }, 5s));
  master_.signal(SIGKILL);
  ASSERT_TRUE(eventually([&] { return watch.log().find("\"kind\":\"RAISED\",\"reason\":"
                                                       "\"master_unreachable\"") !=
                                      std::string::npos; }, 10s))
      << watch.log();
  const std::string down = http_get(agent_metrics_, "/metrics");
  EXPECT_EQ(metric(down, "timesync_agent_alarm_active{reason=\"master_unreachable\"}"), 1);
  EXPECT_EQ(metric(down, "timesync_agent_alarms_raised_total{reason=\"master_unreachable\"}"), 1);
  EXPECT_EQ(metric(down, "timesync_agent_synchronized"), 0);
  EXPECT_GT(metric(down, "timesync_agent_rpc_failures_total"), 0);
  EXPECT_GE(metric(down, "timesync_agent_last_answer_age_seconds"), 0.3);
  EXPECT_EQ(ctl({"now", "--segment", segment()}, &out), 3) << out;
  EXPECT_NE(out.find("out of sync"), std::string::npos) << out;
  ASSERT_EQ(ctl({"status", agent_.target(), "--json"}, &out), 0) << out;
  EXPECT_NE(out.find("\"alarm\":{\"active\":true,\"reason\":\"master_unreachable\""),
            std::string::npos)
      << out;

  // Recovery: cleared in watch, served again by now.
  start_master();
  ASSERT_TRUE(eventually([&] { return watch.log().find("\"kind\":\"CLEARED\"") !=
                                      std::string::npos; }, 10s))
      << watch.log();
  EXPECT_EQ(ctl({"now", "--segment", segment()}, &out), 0) << out;
  watch.signal(SIGINT);
  EXPECT_EQ(watch.wait(5s), 0) << watch.log();
}

// timesyncctl waitsync: started before the master exists, it returns 0 once
// the agent serves within --max-error; without a master it times out with 3.
TEST_F(Operations, WaitsyncWaitsForSynchronizationAndTimesOutWithoutIt) {
  start_agent();
  Process wait({TIMESYNC_CTL_BIN, "waitsync", "--segment", segment(), "--max-error", "1000",
                "--timeout", "60", "--json"},
               dir_ + "/waitsync.log");
  std::string out;
  EXPECT_EQ(ctl({"waitsync", "--segment", segment(), "--timeout", "0.2"}, &out), 3) << out;
  EXPECT_NE(out.find("not synchronized"), std::string::npos) << out;
  start_master();
  ASSERT_EQ(wait.wait(60s), 0) << wait.log();
  EXPECT_NE(wait.log().find("\"ok\":true"), std::string::npos) << wait.log();
  EXPECT_EQ(ctl({"now", "--segment", segment()}, &out), 0) << out;
  master_.signal(SIGKILL);
  ASSERT_TRUE(eventually([&] { return ctl({"now", "--segment", segment()}, &out) == 3; }, 10s));
  EXPECT_EQ(ctl({"waitsync", "--segment", segment(), "--timeout", "0.2"}, &out), 3) << out;
  EXPECT_EQ(ctl({"waitsync", "--segment", dir_, "--timeout", "5"}, &out), 1) << out;
}

// Issue 17, item 8: an agent pointed at another agent (not a master) says so
// instead of calling it unreachable.
TEST_F(Operations, AnAgentPointedAtAnotherAgentSaysItIsNotAMaster) {
  start_agent();
  testing::AgentProcess second(dir_, agent_.target(), "second");
  second.start("poll: {min_s: 0.05, max_s: 0.2, rpc_timeout_s: 0.3}\n"
               "alarm: {unreachable_after_s: 0.3}\n", "second-agent");
  std::string out;
  ASSERT_TRUE(eventually([&] {
    return ctl({"status", second.target(), "--json"}, &out) == 0 &&
           out.find("is it an agent, not a master?") != std::string::npos;
  }, 10s)) << out;
  EXPECT_NE(out.find("not_a_master"), std::string::npos) << out;
  EXPECT_EQ(out.find("\"synchronized\":true"), std::string::npos) << out;
}

TEST_F(Operations, SystemdReadinessStatusWatchdogAndStopping) {
  NotifySocket master_sock(dir_ + "/master.notify");
  NotifySocket agent_sock(dir_ + "/agent.notify");
  // A 200 ms watchdog: keep-alives every 100 ms, from the daemons' own loops.
  setenv("WATCHDOG_USEC", "200000", 1);
  setenv("NOTIFY_SOCKET", (dir_ + "/master.notify").c_str(), 1);
  start_master();
  setenv("NOTIFY_SOCKET", (dir_ + "/agent.notify").c_str(), 1);
  // The agent polls once a second: its loop must still wake for the watchdog.
  start_agent("", "{min_s: 1, max_s: 1, rpc_timeout_s: 0.3}", "{unreachable_after_s: 1.5}");
  unsetenv("NOTIFY_SOCKET");
  unsetenv("WATCHDOG_USEC");

  ASSERT_TRUE(eventually([&] { return master_sock.count("READY=1") == 1; }, 10s))
      << master_sock.all();
  ASSERT_TRUE(eventually([&] { return agent_sock.count("READY=1") == 1; }, 10s))
      << agent_sock.all();
  EXPECT_EQ(agent_sock.count("STATUS=unsynchronized: waiting for " + master_.target()), 1)
      << agent_sock.all();
  ASSERT_TRUE(eventually([&] { return agent_sock.count("STATUS=synchronized to ") > 0; }, 10s))
      << agent_sock.all();
  // Two seconds hold two agent polls and about 20 keep-alive intervals.
  const int m0 = master_sock.count("WATCHDOG=1"), a0 = agent_sock.count("WATCHDOG=1");
  ASSERT_TRUE(eventually([&] { return agent_sock.count("WATCHDOG=1") >= a0 + 8 &&
                                      master_sock.count("WATCHDOG=1") >= m0 + 8; }, 10s))
      << agent_sock.all();
  EXPECT_GE(master_sock.count("STATUS=serving monotonic timeline on " + master_.target()), 1)
      << master_sock.all();

  agent_.signal(SIGTERM);
  master_.signal(SIGTERM);
  EXPECT_EQ(agent_.wait(5s), 0);
  EXPECT_EQ(master_.wait(5s), 0);
  EXPECT_EQ(agent_sock.count("STOPPING=1"), 1) << agent_sock.all();
  EXPECT_EQ(master_sock.count("STOPPING=1"), 1) << master_sock.all();
}

// Mutual TLS: the agent trusts only the fleet CA; the master answers only
// clients with a certificate from it.
class MutualTls : public Operations {
 protected:
  static void SetUpTestSuite() {
    certs_ = testing::make_temp_dir();
    const std::string cmd = std::string("bash ") + TIMESYNC_SOURCE_DIR +
                            "/tests/support/make_test_certs.sh " + certs_ + " >/dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(certs_); }

  static std::string pem(const std::string& name) { return certs_ + "/" + name; }
  void start_mtls_master() {
    start_master("tls: {cert_file: " + pem("master.pem") + ", key_file: " + pem("master.key") +
                 ", client_ca_file: " + pem("ca.pem") + "}\n");
  }
  // The agent's status once it has tried the master a few times.
  std::string status_after_attempts() {
    std::string out;
    EXPECT_TRUE(eventually([&] {
      return ctl({"status", agent_.target(), "--json"}, &out) == 0 &&
             std::regex_search(out, std::regex("\"rpc_failures\":([3-9]|[1-9][0-9]+)"));
    }, 10s)) << out;
    return out;
  }
  double master_answers() {
    return metric(http_get(master_metrics_, "/metrics"),
                  "timesync_master_requests_total{code=\"OK\",method=\"GetTime\"}");
  }

  static inline std::string certs_;
};

TEST_F(MutualTls, AgentWithFleetCertificateSynchronizes) {
  start_mtls_master();
  start_agent("tls: {ca_file: " + pem("ca.pem") + ", cert_file: " + pem("agent.pem") +
              ", key_file: " + pem("agent.key") + ", server_name: timesync-master.test}\n");
  ASSERT_TRUE(eventually([&] { return agent_serving(); }, 10s));
  std::string out;
  ASSERT_EQ(ctl({"status", agent_.target(), "--json"}, &out), 0);
  EXPECT_NE(out.find("\"transport\":\"mutual TLS\""), std::string::npos) << out;
  EXPECT_GT(master_answers(), 0);
  // timesyncctl needs the same credentials to ask the master itself.
  EXPECT_EQ(ctl({"master", master_.target()}, &out), 1) << out;
  EXPECT_EQ(ctl({"master", master_.target(), "--ca", pem("ca.pem"), "--cert", pem("agent.pem"),
                 "--key", pem("agent.key")}, &out),
            0)
      << out;
  EXPECT_NE(out.find("master 'ops-master'"), std::string::npos) << out;
}

TEST_F(MutualTls, MasterRefusesAClientCertificateFromAnotherCa) {
  start_mtls_master();
  start_agent("tls: {ca_file: " + pem("ca.pem") + ", cert_file: " + pem("rogue-agent.pem") +
              ", key_file: " + pem("rogue-agent.key") + "}\n");
  const std::string out = status_after_attempts();
  EXPECT_NE(out.find("\"samples_accepted\":0,"), std::string::npos) << out;
  EXPECT_NE(out.find("\"status\":\"unsynchronized\""), std::string::npos) << out;
  EXPECT_EQ(master_answers(), 0);
  EXPECT_NE(master_.log().find("certificate verify failed"), std::string::npos);
}

TEST_F(MutualTls, MasterRefusesAClientWithoutCertificateOrWithoutTls) {
  start_mtls_master();
  start_agent("tls: {ca_file: " + pem("ca.pem") + "}\n");
  std::string out = status_after_attempts();
  EXPECT_NE(out.find("\"samples_accepted\":0,"), std::string::npos) << out;
  agent_.stop();
  start_agent();  // plaintext
  out = status_after_attempts();
  EXPECT_NE(out.find("\"samples_accepted\":0,"), std::string::npos) << out;
  EXPECT_EQ(master_answers(), 0);
}

TEST_F(MutualTls, AgentRefusesAMasterSignedByAnotherCa) {
  start_master("tls: {cert_file: " + pem("rogue-master.pem") + ", key_file: " +
               pem("rogue-master.key") + "}\n");
  start_agent("tls: {ca_file: " + pem("ca.pem") + ", cert_file: " + pem("agent.pem") +
              ", key_file: " + pem("agent.key") + "}\n");
  const std::string out = status_after_attempts();
  EXPECT_NE(out.find("\"samples_accepted\":0,"), std::string::npos) << out;
  EXPECT_NE(out.find("certificate verify failed"), std::string::npos) << out;
  EXPECT_EQ(master_answers(), 0);
}

}  // namespace
}  // namespace timesync
