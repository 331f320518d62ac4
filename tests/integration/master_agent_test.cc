// Master and agent as real processes over loopback gRPC, read through the real
// shared segment. The agent runs on a simulated oscillator (+35 ppm, 250 ms
// off); the master serves this host's CLOCK_MONOTONIC_RAW, so the truth of any
// reading is exact: the synchronized time minus the raw instant it was read at.
#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "support/daemons.hpp"
#include "support/process.hpp"
#include "support/rpc.hpp"
#include "support/tally.hpp"
#include "timesync/clock.hpp"
#include "timesync/timebase/time_source.hpp"
#include "timesync/v1/timesync.grpc.pb.h"

namespace timesync {
namespace {

using testing::eventually;
using testing::health;
using testing::kSimulatedAgent;
using testing::Tally;
using namespace std::chrono_literals;

class MasterAgent : public testing::MasterAndAgent {
 protected:
  void start_agent(const std::string& extra) { agent_.start(kSimulatedAgent + extra); }
  std::optional<Clock> open_clock() const { return testing::open_clock(agent_.segment()); }
};

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
  const std::optional<v1::AgentStatus> s = testing::agent_status(target);
  EXPECT_TRUE(s.has_value());
  return s.value_or(v1::AgentStatus{});
}

TEST_F(MasterAgent, SynchronizesKeepsTheTruthInsideTheBoundAndRidesOutAMasterOutage) {
  master_.start();
  // unreachable_after_s exceeds poll.max_s + rpc_timeout_s, so holdover shows
  // before the alarm.
  start_agent("alarm: {max_error_us: 5000, unreachable_after_s: 2.0, void_after_s: 10}\n");
  ASSERT_TRUE(eventually([&] { return health(agent_.target(), "") ==
                                      grpc::health::v1::HealthCheckResponse::SERVING; }, 10s));
  AlarmWatcher alarms(agent_.target());
  std::optional<Clock> clock = open_clock();
  ASSERT_TRUE(clock.has_value());

  // 1. Reaches synchronized.
  const int64_t t_start = host_raw_now_ns();
  ASSERT_TRUE(eventually([&] { return clock->is_synchronized(); }, 15s));
  std::cerr << "synchronized after " << static_cast<double>(host_raw_now_ns() - t_start) / 1e9
            << " s of waiting\n";
  EXPECT_EQ(health(agent_.target(), "timesync.v1.AgentService"),
            grpc::health::v1::HealthCheckResponse::SERVING);

  // 2. Every reading for 3 s: the truth is inside the bound.
  const Tally steady = testing::tally_for(*clock, 3s);
  EXPECT_GT(steady.served, 1000u);
  EXPECT_EQ(steady.outside, 0u) << steady.summary();
  // The master's rate against the +35 ppm local clock is -34.9988 ppm; the
  // estimate must agree within the uncertainty the agent claims for it.
  const v1::AgentStatus st = agent_status(agent_.target());
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
    testing::check_reading(*clock, &outage);
    return alarms.has(v1::AlarmEvent::RAISED);
  }, 10s));
  EXPECT_TRUE(saw_holdover);
  EXPECT_EQ(outage.outside, 0u) << outage.summary();
  const v1::AlarmEvent raised = alarms.events().front();
  EXPECT_EQ(raised.kind(), v1::AlarmEvent::RAISED);
  EXPECT_EQ(raised.reason(), v1::ALARM_REASON_MASTER_UNREACHABLE);
  EXPECT_GE(raised.since_last_answer_s(), 2.0);
  ASSERT_TRUE(eventually([&] { return !clock->is_synchronized(); }, 5s));
  EXPECT_EQ(clock->get_timestamp_with_error().error, Error::kNotSynchronized);
  EXPECT_TRUE(agent_.running());

  // 4. Master back: resynchronized, alarm cleared, the truth inside the bound.
  master_.start();
  ASSERT_TRUE(eventually([&] { return alarms.has(v1::AlarmEvent::CLEARED); }, 15s));
  ASSERT_TRUE(eventually([&] { return clock->is_synchronized(); }, 5s));
  const Tally after = testing::tally_for(*clock, 1s);
  EXPECT_GT(after.served, 100u);
  EXPECT_EQ(after.outside, 0u) << after.summary();
  EXPECT_NE(agent_.log().find("same timeline: continuing"), std::string::npos);

  // 5. SIGTERM: clean exit, and the segment says unsynchronized at once.
  agent_.signal(SIGTERM);
  EXPECT_EQ(agent_.wait(10s), 0);
  EXPECT_EQ(clock->get_timestamp_with_error().error, Error::kNotSynchronized);
}

TEST_F(MasterAgent, BoundAboveMaxErrorRaisesTheAlarmAndTimestampsAreRefused) {
  // 1 ns: below any bound, even the UDP exchange's few hundred ns on loopback.
  master_.start();
  start_agent("alarm: {max_error_us: 0.001, clear_ratio: 0.5}\n");
  ASSERT_TRUE(eventually([&] { return health(agent_.target(), "") ==
                                      grpc::health::v1::HealthCheckResponse::SERVING; }, 10s));
  AlarmWatcher alarms(agent_.target());
  std::optional<Clock> clock = open_clock();
  ASSERT_TRUE(clock.has_value());
  ASSERT_TRUE(eventually([&] { return alarms.has(v1::AlarmEvent::RAISED); }, 15s));
  const v1::AlarmEvent e = alarms.events().front();
  EXPECT_EQ(e.reason(), v1::ALARM_REASON_BOUND_EXCEEDED);
  EXPECT_GT(e.bound_ns(), e.max_error_ns());
  EXPECT_EQ(e.max_error_ns(), 1u);
  const TimestampWithError r = clock->get_timestamp_with_error();
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(clock->is_synchronized());
  const v1::AgentStatus st = agent_status(agent_.target());
  EXPECT_TRUE(st.alarm_active());
  EXPECT_EQ(st.state(), v1::SYNC_STATE_UNSYNCHRONIZED);
  EXPECT_EQ(health(agent_.target(), "timesync.v1.AgentService"),
            grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  EXPECT_NE(agent_.log().find("ALARM raised"), std::string::npos);
}

// Whether this CPU says its TSC ticks at one rate and never stops: what
// `counter: on` needs (counter_host.hpp).
bool cpu_has_invariant_tsc() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) == 0) {
      return line.find(" constant_tsc") != std::string::npos &&
             line.find(" nonstop_tsc") != std::string::npos;
    }
  }
  return false;
}

TEST_F(MasterAgent, WithCounterOnReadersReadTheCounterInsideTheBound) {
  master_.start();
  start_agent("counter: on\n");
  std::optional<Clock> clock = open_clock();
  ASSERT_TRUE(clock.has_value());
  ASSERT_TRUE(eventually([&] { return clock->is_synchronized(); }, 15s));
#if defined(__x86_64__)
  if (!cpu_has_invariant_tsc()) {
    // The agent refuses, says why, and readers keep clock_gettime.
    ASSERT_TRUE(eventually([&] {
      return agent_.log().find("readers call clock_gettime: the CPU does not say constant_tsc") !=
             std::string::npos;
    }, 5s)) << agent_.log();
    const Result<TransformSnapshot> s = clock->snapshot();
    ASSERT_TRUE(s.ok());
    EXPECT_FALSE(s.value().counter.valid());
    EXPECT_NE(agent_status(agent_.target()).reader_clock().find("clock_gettime: the CPU does not say"),
              std::string::npos);
    return;
  }
#endif
  // Two publications after the first give the map.
  ASSERT_TRUE(eventually([&] {
    const Result<TransformSnapshot> s = clock->snapshot();
    return s.ok() && s.value().counter.valid();
  }, 10s)) << agent_.log();
  EXPECT_NE(agent_.log().find("counter map: "), std::string::npos) << agent_.log();
  const std::string reader_clock = agent_status(agent_.target()).reader_clock();
  EXPECT_NE(reader_clock.find("CPU counter ("), std::string::npos) << reader_clock;
  EXPECT_NE(reader_clock.find("map error "), std::string::npos) << reader_clock;

  // 3 s of readings: the truth (bracketed by clock_gettime, tally.hpp) inside
  // the bound; and a reading taken while one publication stood shows which
  // path gave it: the counter's bound is the transform's at the reading's
  // instant plus at least the map's error.
  Tally t;
  uint64_t compared = 0, by_counter = 0;
  const auto until = std::chrono::steady_clock::now() + 3s;
  while (std::chrono::steady_clock::now() < until) {
    const Result<TransformSnapshot> s1 = clock->snapshot();
    const TimestampWithError r = testing::check_reading(*clock, &t);
    const Result<TransformSnapshot> s2 = clock->snapshot();
    if (!r.ok() || !s1.ok() || !s2.ok() || s1.value().as_of != s2.value().as_of ||
        s1.value().counter != s2.value().counter || !s1.value().counter.valid()) {
      continue;
    }
    ++compared;
    const TimestampWithError e = evaluate(s1.value(), r.local);
    if (e.ok() && r.bound_ns >= e.bound_ns + s1.value().counter.error_ns) ++by_counter;
  }
  std::cerr << t.summary() << "; " << by_counter << " of " << compared
            << " compared readings by the counter\n";
  EXPECT_GT(t.served, 1000u);
  EXPECT_EQ(t.outside, 0u) << t.summary();
  EXPECT_GT(compared, 1000u);
  EXPECT_GT(by_counter, compared * 9 / 10);
}

TEST_F(MasterAgent, ANewMasterTimelineMakesTheAgentRelockInANewEpoch) {
  // A realtime master's epoch is new on every start (nobody can vouch the clock
  // was not set meanwhile): the agent must not slew across, but step in a new
  // epoch that readers see.
  master_.start("timebase: realtime\n");
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
  master_.start("timebase: realtime\n");
  ASSERT_TRUE(eventually([&] {
    const TimestampWithError r = clock->get_timestamp_with_error();
    return r.ok() && r.epoch > first.epoch;
  }, 15s));
  EXPECT_NE(agent_.log().find("master timeline changed"), std::string::npos);
}

TEST_F(MasterAgent, MasterAnswersHealthStatusAndRejectsMalformedRequests) {
  master_.start();
  ASSERT_TRUE(eventually([&] { return health(master_.target(), "") ==
                                      grpc::health::v1::HealthCheckResponse::SERVING; }, 10s));
  auto stub = v1::TimeService::NewStub(
      grpc::CreateChannel(master_.target(), grpc::InsecureChannelCredentials()));
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
  EXPECT_EQ(testing::run_to_exit({TIMESYNC_MASTER_BIN, "--config", master_.config_path()},
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
