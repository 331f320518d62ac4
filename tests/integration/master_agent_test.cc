// Master and agent as real processes over loopback gRPC, read through the real
// shared segment. The agent runs on a simulated oscillator (+35 ppm, 250 ms
// off); the master serves this host's CLOCK_MONOTONIC_RAW, so the truth of any
// reading is exact: the synchronized time minus the raw instant it was read at.
#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <mutex>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "support/process.hpp"
#include "timesync/clock.hpp"
#include "timesync/timebase/time_source.hpp"
#include "timesync/v1/timesync.grpc.pb.h"

namespace timesync {
namespace {

using testing::eventually;
using testing::Process;
using namespace std::chrono_literals;

struct Tally {
  uint64_t ok = 0, refused = 0, violations = 0;
  double worst_abs_ns = 0;
};

// One reading: if served, is the truth inside the bound?
void check_reading(const Clock& clock, Tally* t) {
  const TimestampWithError r = clock.get_timestamp_with_error();
  if (!r.ok()) {
    ++t->refused;
    return;
  }
  ++t->ok;
  const double err = std::fabs(static_cast<double>(r.time.ns - r.local.ns));
  t->worst_abs_ns = std::max(t->worst_abs_ns, err);
  if (err > static_cast<double>(r.bound_ns)) ++t->violations;
}

class MasterAgent : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::make_temp_dir();
    master_port_ = testing::free_port();
    agent_port_ = testing::free_port();
    master_yaml_ = dir_ + "/master.yaml";
    testing::write_file(master_yaml_, "role: master\nid: test-master\nlisten: \"127.0.0.1:" +
                                          std::to_string(master_port_) + "\"\n");
  }
  void TearDown() override {
    if (HasFailure()) {
      std::cerr << "--- master log ---\n" << master_.log() << "--- agent log ---\n"
                << agent_.log();
    }
    master_ = Process();
    agent_ = Process();
    std::filesystem::remove_all(dir_);
  }

  std::string agent_yaml(const std::string& extra) {
    const std::string path = dir_ + "/client.yaml";
    testing::write_file(path, "role: client\nid: test-agent\n"
                              "master: \"127.0.0.1:" + std::to_string(master_port_) + "\"\n"
                              "listen: \"127.0.0.1:" + std::to_string(agent_port_) + "\"\n"
                              "segment: " + segment() + "\n"
                              "poll: {min_s: 0.05, max_s: 0.5, rpc_timeout_s: 0.5}\n"
                              "sim_clock: {enabled: true, freq_ppm: 35, initial_offset_s: 0.25}\n" +
                              extra);
    return path;
  }
  std::string segment() const { return dir_ + "/segment"; }
  void start_master() {
    master_ = Process({TIMESYNC_MASTER_BIN, "--config", master_yaml_}, dir_ + "/master.log");
  }
  void start_agent(const std::string& extra) {
    agent_ = Process({TIMESYNC_AGENT_BIN, "--config", agent_yaml(extra)}, dir_ + "/agent.log");
  }
  std::string agent_target() const { return "127.0.0.1:" + std::to_string(agent_port_); }
  std::string master_target() const { return "127.0.0.1:" + std::to_string(master_port_); }

  std::optional<Clock> open_clock() {
    std::optional<Clock> c;
    eventually([&] {
      Result<Clock> r = Clock::open(segment());
      if (r.ok()) c.emplace(std::move(r.value()));
      return c.has_value();
    }, 10s);
    return c;
  }

  std::string dir_, master_yaml_;
  int master_port_ = 0, agent_port_ = 0;
  Process master_, agent_;
};

grpc::health::v1::HealthCheckResponse::ServingStatus health(const std::string& target,
                                                            const std::string& service) {
  auto stub = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 1s);
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(service);
  grpc::health::v1::HealthCheckResponse resp;
  if (!stub->Check(&ctx, req, &resp).ok()) return grpc::health::v1::HealthCheckResponse::UNKNOWN;
  return resp.status();
}

// Collects the agent's alarm stream on a thread of its own.
class AlarmWatcher {
 public:
  explicit AlarmWatcher(const std::string& target)
      : stub_(v1::AgentService::NewStub(
            grpc::CreateChannel(target, grpc::InsecureChannelCredentials()))) {
    reader_ = stub_->WatchAlarms(&ctx_, v1::WatchAlarmsRequest{});
    thread_ = std::thread([this] {
      v1::AlarmEvent e;
      while (reader_->Read(&e)) {
        std::lock_guard<std::mutex> lock(mu_);
        events_.push_back(e);
      }
    });
  }
  ~AlarmWatcher() {
    ctx_.TryCancel();
    thread_.join();
    reader_->Finish();
  }
  std::vector<v1::AlarmEvent> events() const {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  bool has(v1::AlarmEvent::Kind kind) const {
    for (const auto& e : events()) {
      if (e.kind() == kind) return true;
    }
    return false;
  }

 private:
  std::unique_ptr<v1::AgentService::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<v1::AlarmEvent>> reader_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<v1::AlarmEvent> events_;
};

v1::AgentStatus agent_status(const std::string& target) {
  auto stub = v1::AgentService::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 1s);
  v1::AgentStatus s;
  EXPECT_TRUE(stub->GetAgentStatus(&ctx, v1::GetAgentStatusRequest{}, &s).ok());
  return s;
}

TEST_F(MasterAgent, SynchronizesKeepsTheTruthInsideTheBoundAndRidesOutAMasterOutage) {
  start_master();
  // unreachable_after_s exceeds poll.max_s + rpc_timeout_s, so holdover shows
  // before the alarm.
  start_agent("alarm: {max_error_us: 5000, unreachable_after_s: 2.0, void_after_s: 10}\n");
  ASSERT_TRUE(eventually([&] { return health(agent_target(), "") ==
                                      grpc::health::v1::HealthCheckResponse::SERVING; }, 10s));
  AlarmWatcher alarms(agent_target());
  std::optional<Clock> clock = open_clock();
  ASSERT_TRUE(clock.has_value());

  // 1. Reaches synchronized.
  const int64_t t_start = host_raw_now_ns();
  ASSERT_TRUE(eventually([&] { return clock->is_synchronized(); }, 15s));
  std::cerr << "synchronized after " << static_cast<double>(host_raw_now_ns() - t_start) / 1e9
            << " s of waiting\n";
  EXPECT_EQ(health(agent_target(), "timesync.v1.AgentService"),
            grpc::health::v1::HealthCheckResponse::SERVING);

  // 2. Every reading for 3 s: the truth is inside the bound.
  Tally steady;
  const int64_t until = host_raw_now_ns() + 3'000'000'000;
  eventually([&] { check_reading(*clock, &steady); return host_raw_now_ns() > until; }, 10s);
  EXPECT_GT(steady.ok, 1000u);
  EXPECT_EQ(steady.violations, 0u) << "worst |error| " << steady.worst_abs_ns << " ns";
  // The master's rate against the +35 ppm local clock is -34.9988 ppm; the
  // estimate must agree within the uncertainty the agent claims for it.
  const v1::AgentStatus st = agent_status(agent_target());
  ASSERT_GT(st.freq_sigma_ppb(), 0);
  EXPECT_NEAR(st.freq_ppm(), -34.9988, 5 * st.freq_sigma_ppb() / 1e3 + 1.0);
  EXPECT_EQ(st.state(), v1::SYNC_STATE_SYNCHRONIZED);

  // 3. Master killed: holdover (times still served, the bound grows), then the
  // alarm, then refusal.
  master_.signal(SIGKILL);
  ASSERT_EQ(master_.wait(5s), 128 + SIGKILL);
  Tally outage;
  bool saw_holdover = false;
  ASSERT_TRUE(eventually([&] {
    const TimestampWithError r = clock->get_timestamp_with_error();
    saw_holdover |= r.ok() && r.status == ClockStatus::kHoldover;
    check_reading(*clock, &outage);
    return alarms.has(v1::AlarmEvent::RAISED);
  }, 10s));
  EXPECT_TRUE(saw_holdover);
  EXPECT_EQ(outage.violations, 0u);
  const v1::AlarmEvent raised = alarms.events().front();
  EXPECT_EQ(raised.kind(), v1::AlarmEvent::RAISED);
  EXPECT_EQ(raised.reason(), v1::ALARM_REASON_MASTER_UNREACHABLE);
  EXPECT_GE(raised.since_last_answer_s(), 2.0);
  ASSERT_TRUE(eventually([&] { return !clock->is_synchronized(); }, 5s));
  EXPECT_EQ(clock->get_timestamp_with_error().error, Error::kNotSynchronized);
  EXPECT_TRUE(agent_.running());

  // 4. Master back: resynchronized, alarm cleared, the truth inside the bound.
  start_master();
  ASSERT_TRUE(eventually([&] { return alarms.has(v1::AlarmEvent::CLEARED); }, 15s));
  ASSERT_TRUE(eventually([&] { return clock->is_synchronized(); }, 5s));
  Tally after;
  const int64_t until2 = host_raw_now_ns() + 1'000'000'000;
  eventually([&] { check_reading(*clock, &after); return host_raw_now_ns() > until2; }, 10s);
  EXPECT_GT(after.ok, 100u);
  EXPECT_EQ(after.violations, 0u) << "worst |error| " << after.worst_abs_ns << " ns";
  EXPECT_NE(agent_.log().find("same timeline: continuing"), std::string::npos);

  // 5. SIGTERM: clean exit, and the segment says unsynchronized at once.
  agent_.signal(SIGTERM);
  EXPECT_EQ(agent_.wait(10s), 0);
  EXPECT_EQ(clock->get_timestamp_with_error().error, Error::kNotSynchronized);
}

TEST_F(MasterAgent, BoundAboveMaxErrorRaisesTheAlarmAndTimestampsAreRefused) {
  // 1 us: below half of any gRPC round trip, so the bound always exceeds it.
  start_master();
  start_agent("alarm: {max_error_us: 1, clear_ratio: 0.5}\n");
  ASSERT_TRUE(eventually([&] { return health(agent_target(), "") ==
                                      grpc::health::v1::HealthCheckResponse::SERVING; }, 10s));
  AlarmWatcher alarms(agent_target());
  std::optional<Clock> clock = open_clock();
  ASSERT_TRUE(clock.has_value());
  ASSERT_TRUE(eventually([&] { return alarms.has(v1::AlarmEvent::RAISED); }, 15s));
  const v1::AlarmEvent e = alarms.events().front();
  EXPECT_EQ(e.reason(), v1::ALARM_REASON_BOUND_EXCEEDED);
  EXPECT_GT(e.bound_ns(), e.max_error_ns());
  EXPECT_EQ(e.max_error_ns(), 1000u);
  const TimestampWithError r = clock->get_timestamp_with_error();
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(clock->is_synchronized());
  const v1::AgentStatus st = agent_status(agent_target());
  EXPECT_TRUE(st.alarm_active());
  EXPECT_EQ(st.state(), v1::SYNC_STATE_UNSYNCHRONIZED);
  EXPECT_EQ(health(agent_target(), "timesync.v1.AgentService"),
            grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  EXPECT_NE(agent_.log().find("ALARM raised"), std::string::npos);
}

TEST_F(MasterAgent, ANewMasterTimelineMakesTheAgentRelockInANewEpoch) {
  // A realtime master's epoch is new on every start (nobody can vouch the clock
  // was not set meanwhile): the agent must not slew across, but step in a new
  // epoch that readers see.
  testing::write_file(master_yaml_, "role: master\nid: test-master\ntimebase: realtime\n"
                                    "listen: \"127.0.0.1:" + std::to_string(master_port_) + "\"\n");
  start_master();
  start_agent("alarm: {max_error_us: 5000, unreachable_after_s: 5}\n");
  std::optional<Clock> clock = open_clock();
  ASSERT_TRUE(clock.has_value());
  ASSERT_TRUE(eventually([&] { return clock->is_synchronized(); }, 15s));
  const TimestampWithError first = clock->get_timestamp_with_error();
  ASSERT_TRUE(first.ok());
  // Realtime is seconds since 1970, far from this host's raw clock.
  EXPECT_GT(std::llabs(first.time.ns - first.local.ns), 1'000'000'000);

  master_.signal(SIGTERM);
  ASSERT_EQ(master_.wait(5s), 0);
  start_master();
  ASSERT_TRUE(eventually([&] {
    const TimestampWithError r = clock->get_timestamp_with_error();
    return r.ok() && r.epoch > first.epoch;
  }, 15s));
  EXPECT_NE(agent_.log().find("master timeline changed"), std::string::npos);
}

TEST_F(MasterAgent, MasterAnswersHealthStatusAndRejectsMalformedRequests) {
  start_master();
  ASSERT_TRUE(eventually([&] { return health(master_target(), "") ==
                                      grpc::health::v1::HealthCheckResponse::SERVING; }, 10s));
  auto stub = v1::TimeService::NewStub(
      grpc::CreateChannel(master_target(), grpc::InsecureChannelCredentials()));
  {
    grpc::ClientContext ctx;
    v1::GetTimeRequest req;
    req.set_client_send_ns(12345);
    req.set_sequence(7);
    v1::GetTimeResponse resp;
    ASSERT_TRUE(stub->GetTime(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.client_send_ns(), 12345);
    EXPECT_EQ(resp.sequence(), 7u);
    EXPECT_LE(resp.master_receive_ns(), resp.master_send_ns());
    EXPECT_EQ(resp.master_id(), "test-master");
    EXPECT_EQ(resp.timebase(), v1::TIMEBASE_MONOTONIC);
    EXPECT_NE(resp.master_instance(), 0u);
  }
  {
    grpc::ClientContext ctx;
    v1::GetTimeRequest req;
    req.set_client_id(std::string(1000, 'x'));
    v1::GetTimeResponse resp;
    const grpc::Status st = stub->GetTime(&ctx, req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(st.error_message().find("client_id"), std::string::npos);
  }
  {
    grpc::ClientContext ctx;
    v1::GetStatusResponse resp;
    ASSERT_TRUE(stub->GetStatus(&ctx, v1::GetStatusRequest{}, &resp).ok());
    EXPECT_EQ(resp.requests_served(), 1u);  // the refused request is not counted
    EXPECT_GT(resp.uptime_ns(), 0);
  }
  // A second master on the same port fails with a message, exit code 1.
  std::string out;
  EXPECT_EQ(testing::run_to_exit({TIMESYNC_MASTER_BIN, "--config", master_yaml_},
                                 dir_ + "/second.log", &out), 1);
  EXPECT_NE(out.find("cannot listen"), std::string::npos) << out;
}

// Config errors: exit 78, and the message names file:line and the key.
struct BadConfig {
  const char* binary;
  const char* text;
  const char* expect_line;  // ":<line>:"
  const char* expect_key;  // or, for malformed YAML, the parser's complaint
};

class ConfigErrors : public ::testing::TestWithParam<BadConfig> {};

TEST_P(ConfigErrors, ExitNonZeroNamingFileLineAndKey) {
  const BadConfig& c = GetParam();
  const std::string dir = testing::make_temp_dir();
  const std::string path = dir + "/bad.yaml";
  testing::write_file(path, c.text);
  std::string out;
  const int rc = testing::run_to_exit({c.binary, "--config", path}, dir + "/out.log", &out);
  std::filesystem::remove_all(dir);
  EXPECT_EQ(rc, 78) << out;
  EXPECT_NE(out.find(path + c.expect_line), std::string::npos) << out;
  EXPECT_NE(out.find(c.expect_key), std::string::npos) << out;
}

INSTANTIATE_TEST_SUITE_P(
    Both, ConfigErrors,
    ::testing::Values(
        BadConfig{TIMESYNC_AGENT_BIN, "role: client\nmaster: \"a:1\"\npoll: {min_s: [1\n", ":4:",
                  "YAML syntax error"},
        BadConfig{TIMESYNC_AGENT_BIN, "role: client\nmaster: \"a:1\"\nalarm:\n  max_eror_us: 5\n",
                  ":4:", "alarm.max_eror_us"},
        BadConfig{TIMESYNC_AGENT_BIN, "role: client\nmaster: \"a:1\"\npoll:\n  min_s: 0\n", ":4:",
                  "poll.min_s"},
        BadConfig{TIMESYNC_MASTER_BIN, "role: master\nlisten: [\n", ":3:", "YAML syntax error"},
        BadConfig{TIMESYNC_MASTER_BIN, "role: master\ntimebase: gps\n", ":2:", "timebase"},
        BadConfig{TIMESYNC_MASTER_BIN, "role: master\nworker_threads: 1000\n", ":2:",
                  "worker_threads"}));

}  // namespace
}  // namespace timesync
