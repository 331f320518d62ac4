// Issue 19: a hot-standby master keeps the shared timeline through the loss
// of the primary. Real processes over loopback: a primary master, a standby
// master following it (standby.of), agents with both in their master list.
// The masters serve this host's CLOCK_MONOTONIC_RAW (the standby serves the
// primary's timeline), so the truth of every reading is the raw instant it was
// read at, and the sampler counts readings outside their bound exactly.
//
// A "rebooted" primary (a new timeline) is a master with a simulated clock
// that equals raw (no offset, no drift, no wander) and another seed: its epoch
// differs, its time does not, so the truth stays raw.
#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>

#include <time.h>

#include <filesystem>
#include <iostream>
#include <string>

#include "support/daemons.hpp"
#include "support/process.hpp"
#include "support/rpc.hpp"
#include "support/tally.hpp"
#include "timesync/v1/timesync.grpc.pb.h"

namespace timesync {
namespace {

using testing::AgentProcess;
using testing::eventually;
using testing::kSimulatedAgent;
using testing::MasterProcess;
using testing::SegmentSampler;
using testing::Tally;
using namespace std::chrono_literals;

int64_t host_raw_now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Failover tuned for a test: masters not followed are probed every 0.5 s, a
// returning preferred master is taken back after 3 s of answers.
const std::string kFailover = "failover: {probe_every_s: 0.5, hold_down_s: 3}\n";
// The standby's own agent polls as fast as the test agents do.
std::string standby_of(const std::string& primary, double max_error_us = 20000) {
  return "standby: {of: \"" + primary + "\", max_error_us: " + std::to_string(max_error_us) +
         ", poll: {min_s: 0.05, max_s: 0.5, rpc_timeout_s: 0.5}}\n";
}
// A clock equal to raw whose epoch depends on `seed`.
std::string timeline_seed(int seed) {
  return "sim_clock: {enabled: true, seed: " + std::to_string(seed) + "}\n";
}

std::optional<v1::GetStatusResponse> master_status(const std::string& target) {
  auto stub = v1::TimeService::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 1s);
  v1::GetStatusResponse r;
  if (!stub->GetStatus(&ctx, v1::GetStatusRequest{}, &r).ok()) return std::nullopt;
  return r;
}

grpc::Status get_time(const std::string& target, v1::GetTimeResponse* out) {
  auto stub = v1::TimeService::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 1s);
  v1::GetTimeRequest req;
  req.set_client_id("failover-test");
  return stub->GetTime(&ctx, req, out);
}

// The target the agent follows now ("" when it does not answer or lists none).
std::string followed(const std::string& agent) {
  const std::optional<v1::AgentStatus> s = testing::agent_status(agent);
  if (!s) return "";
  for (const v1::MasterEntry& m : s->masters()) {
    if (m.followed()) return m.target();
  }
  return "";
}

bool serving(const std::string& master) {
  const std::optional<v1::GetStatusResponse> s = master_status(master);
  return s && s->serving();
}

class Failover : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure()) {
      for (testing::Daemon* d : std::initializer_list<testing::Daemon*>{&primary_, &standby_, &agent_}) {
        std::cerr << "--- " << d->name() << " log ---\n" << d->log();
      }
    }
    agent_.stop();
    standby_.stop();
    primary_.stop();
    std::filesystem::remove_all(dir_);
  }

  // Primary, standby of it, and the agent with [primary, standby]; returns
  // once the agent is synchronized to the primary and the standby serves.
  void start_all(const std::string& primary_extra = "") {
    primary_.start(primary_extra, "fleet");
    standby_.start(standby_of(primary_.target()), "fleet-standby");
    agent_.start(kSimulatedAgent + kFailover);
    ASSERT_TRUE(testing::status_until(agent_.target(), [](const v1::AgentStatus& s) {
      return s.state() == v1::SYNC_STATE_SYNCHRONIZED;
    }, 60s)) << "the agent never synchronized";
    ASSERT_TRUE(eventually([&] { return serving(standby_.target()); }, 60s))
        << "the standby never served";
    ASSERT_EQ(followed(agent_.target()), primary_.target());
  }

  const std::string dir_ = testing::make_temp_dir();
  MasterProcess primary_{dir_, "primary"};
  MasterProcess standby_{dir_, "standby"};
  AgentProcess agent_{dir_, "[\"" + primary_.target() + "\", \"" + standby_.target() + "\"]"};
};

// The standby serves the primary's timeline: same name, same epoch, its own
// instance, role "standby", and its error (its bound) in master_error_ns.
TEST_F(Failover, StandbyServesThePrimarysTimelineWithItsOwnError) {
  start_all();
  v1::GetTimeResponse p, s;
  ASSERT_TRUE(get_time(primary_.target(), &p).ok());
  ASSERT_TRUE(get_time(standby_.target(), &s).ok());
  EXPECT_EQ(p.role(), "primary");
  EXPECT_EQ(s.role(), "standby");
  EXPECT_EQ(s.master_id(), "fleet");
  EXPECT_EQ(s.master_epoch(), p.master_epoch());
  EXPECT_NE(s.master_instance(), p.master_instance());
  EXPECT_GT(s.master_error_ns(), p.master_error_ns());
  // The standby's time lies within its error of the truth (raw).
  const int64_t raw_after = host_raw_now_ns();
  EXPECT_LE(s.master_send_ns(), raw_after + static_cast<int64_t>(s.master_error_ns()));
  const std::optional<v1::GetStatusResponse> st = master_status(standby_.target());
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->role(), "standby");
  EXPECT_NE(st->following().find(primary_.target()), std::string::npos) << st->following();
}

// Primary SIGKILLed: the agent follows the standby within two polls of the
// failures, the epoch never changes, no reading is refused, none lies
// outside its bound. Primary back (same timeline): failback after the
// hold-down, still no step.
TEST_F(Failover, PrimaryKilledThenBackWithoutAStep) {
  start_all();
  const uint64_t epoch = testing::agent_status(agent_.target())->published_epoch();
  SegmentSampler sampler({agent_.segment()}, 2ms);

  primary_.stop();  // SIGKILL
  ASSERT_TRUE(eventually([&] { return followed(agent_.target()) == standby_.target(); }, 10s))
      << "the agent did not switch to the standby";
  // Serve a while from the standby.
  ASSERT_TRUE(eventually([&] {
    const auto s = testing::agent_status(agent_.target());
    return s && s->state() == v1::SYNC_STATE_SYNCHRONIZED && s->master_id() == "fleet";
  }, 10s));
  const Tally during = sampler.total();
  // Holding over, the standby's error grows at its frequency uncertainty and
  // the wander it allows for (a few ppm), not at the 1000 ppm a horizon of
  // 1e6 s gave, which took it out of service 10 s after its primary.
  v1::GetTimeResponse a, b;
  ASSERT_TRUE(get_time(standby_.target(), &a).ok());
  const int64_t a_raw = host_raw_now_ns();
  ASSERT_TRUE(eventually([&] { return host_raw_now_ns() - a_raw > 1'000'000'000; }, 5s));
  ASSERT_TRUE(get_time(standby_.target(), &b).ok());
  const double growth_ppm = static_cast<double>(b.master_error_ns() - a.master_error_ns()) /
                            static_cast<double>(host_raw_now_ns() - a_raw) * 1e6;
  std::cout << "standby error growth in holdover: " << growth_ppm << " ppm\n";
  EXPECT_LT(growth_ppm, 100);

  primary_.start("", "fleet");
  ASSERT_TRUE(eventually([&] { return followed(agent_.target()) == primary_.target(); }, 30s))
      << "no failback to the primary";
  sampler.stop();
  const std::optional<v1::AgentStatus> after = testing::agent_status(agent_.target());
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->published_epoch(), epoch) << "the timeline stepped";
  EXPECT_TRUE(after->split_brain().empty()) << after->split_brain();
  const Tally t = sampler.total();
  std::cout << "failover and failback: " << t.summary() << " (at the switch: " << during.summary()
            << ")\n";
  EXPECT_GT(t.served, 1000u);
  EXPECT_EQ(t.outside, 0u);
  EXPECT_EQ(t.refused, 0u) << "readings refused through the failover";
}

// A primary that comes back on a new timeline (rebooted) with rejoin_via
// follows the standby and serves the timeline the fleet kept: agents go back
// to it without a step.
TEST_F(Failover, RebootedPrimaryRejoinsThroughTheStandby) {
  start_all(timeline_seed(1));
  const uint64_t epoch = testing::agent_status(agent_.target())->published_epoch();
  v1::GetTimeResponse before;
  ASSERT_TRUE(get_time(primary_.target(), &before).ok());
  SegmentSampler sampler({agent_.segment()}, 2ms);

  primary_.stop();
  ASSERT_TRUE(eventually([&] { return followed(agent_.target()) == standby_.target(); }, 10s));
  // Rebooted: another epoch of its own, and the standby to re-join through.
  primary_.start(timeline_seed(2) + "rejoin: {via: [\"" + standby_.target() + "\"], wait_s: 10}\n",
                 "fleet");
  ASSERT_TRUE(eventually([&] {
    v1::GetTimeResponse r;
    return get_time(primary_.target(), &r).ok() && r.master_epoch() == before.master_epoch();
  }, 30s)) << "the re-joined primary does not serve the fleet's timeline";
  ASSERT_TRUE(eventually([&] { return followed(agent_.target()) == primary_.target(); }, 30s))
      << "no failback to the re-joined primary";
  sampler.stop();
  const std::optional<v1::AgentStatus> after = testing::agent_status(agent_.target());
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->published_epoch(), epoch) << "the timeline stepped";
  EXPECT_EQ(after->master_epoch(), before.master_epoch());
  // The standby never follows the re-joined primary back (a loop): it holds
  // over, and says so.
  const std::optional<v1::GetStatusResponse> st = master_status(standby_.target());
  ASSERT_TRUE(st.has_value());
  EXPECT_NE(st->following().find("holdover"), std::string::npos) << st->following();
  const Tally t = sampler.total();
  std::cout << "rejoin: " << t.summary() << "\n";
  EXPECT_EQ(t.outside, 0u);
}

// A standby whose primary never existed serves nothing and says why; an
// agent pointed at it alone stays unsynchronized.
TEST(Standby, WithoutItsPrimaryServesNothingAndSaysWhy) {
  const std::string dir = testing::make_temp_dir();
  const int nobody = testing::free_port();
  MasterProcess standby(dir, "standby");
  standby.start(standby_of(testing::loopback(nobody)), "lonely");
  ASSERT_TRUE(eventually([&] { return testing::master_up(standby.target()); }, 20s));
  v1::GetTimeResponse r;
  const grpc::Status st = get_time(standby.target(), &r);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(st.error_message().find("standby of " + testing::loopback(nobody)), std::string::npos)
      << st.error_message();
  const std::optional<v1::GetStatusResponse> s = master_status(standby.target());
  ASSERT_TRUE(s.has_value());
  EXPECT_FALSE(s->serving());
  EXPECT_FALSE(s->unavailable().empty());
  if (HasFailure()) std::cerr << standby.log();
  standby.stop();
  std::filesystem::remove_all(dir);
}

// Two unrelated masters (different names): the agent follows the first, never
// combines the second's samples, raises the split-brain alarm, and does not
// switch to the other timeline when the first dies.
TEST(SplitBrain, UnrelatedMastersAreNeverCombined) {
  const std::string dir = testing::make_temp_dir();
  MasterProcess a(dir, "a"), b(dir, "b");
  a.start("", "alpha");
  b.start("", "beta");
  AgentProcess agent(dir, "[\"" + a.target() + "\", \"" + b.target() + "\"]");
  agent.start(kSimulatedAgent + kFailover);
  v1::AgentStatus last;
  EXPECT_TRUE(testing::status_until(agent.target(), [](const v1::AgentStatus& s) {
    return !s.split_brain().empty() && s.alarm_active() &&
           s.alarm_reason() == v1::ALARM_REASON_SPLIT_BRAIN;
  }, 30s, &last)) << last.DebugString();
  EXPECT_EQ(last.master_id(), "alpha");
  EXPECT_NE(last.split_brain().find("beta"), std::string::npos) << last.split_brain();
  const std::optional<Clock> clock = testing::open_clock(agent.segment());
  ASSERT_TRUE(clock.has_value());
  EXPECT_FALSE(clock->get_timestamp_with_error().ok()) << "a split fleet served a time";

  a.stop();
  // Probes keep coming; the agent must stay on alpha's timeline (holdover,
  // then unsynchronized), never take beta's.
  const uint64_t epoch = last.published_epoch();
  EXPECT_FALSE(eventually([&] {
    const auto s = testing::agent_status(agent.target());
    return s && (s->master_id() == "beta" || s->published_epoch() != epoch);
  }, 5s)) << "the agent switched to another timeline";
  if (HasFailure()) std::cerr << a.log() << b.log() << agent.log();
  agent.stop();
  a.stop();
  b.stop();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace timesync
