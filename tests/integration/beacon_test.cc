// Beacon mode end to end: a real master streaming beacons and a real agent in
// beacon mode over loopback gRPC, read through the real shared segment. The
// agent runs on a simulated oscillator (+35 ppm, 250 ms off) and the master
// serves this host's CLOCK_MONOTONIC_RAW, so the truth of every reading is
// exact. Waits are bounded polls on a condition, never sleeps standing in for
// synchronisation.
#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>

#include <cmath>
#include <filesystem>
#include <limits>

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
using testing::master_up;
using testing::Tally;
using testing::tally_for;
using namespace std::chrono_literals;

constexpr double kRateHz = 20;

class Beacon : public testing::MasterAndAgent {
 protected:
  void start_agent(const std::string& extra) { agent_.start(testing::kSimulatedAgent + extra); }
  bool status_until(const std::function<bool(const v1::AgentStatus&)>& done,
                    std::chrono::milliseconds timeout, v1::AgentStatus* last = nullptr) const {
    return testing::status_until(agent_.target(), done, timeout, last);
  }
  std::optional<Clock> open_clock() const { return testing::open_clock(agent_.segment()); }
};

// max_excess_us is wider than the default: on a loaded CI machine loopback
// one-way delays wander by more than 30 us, which would only drop beacons.
const std::string kBeaconAgent =
    "beacon: {enabled: true, calibrate_every_s: 1.0, max_excess_us: 300}\n"
    "alarm: {max_error_us: 5000, unreachable_after_s: 2.0, void_after_s: 10}\n";

bool calibrated_and_streaming(const v1::AgentStatus& s) {
  return s.state() == v1::SYNC_STATE_SYNCHRONIZED && s.beacon_delay_ns() >= 0 &&
         s.beacon_samples() > 10 && s.sync_mode().rfind("beacon stream at", 0) == 0;
}

TEST_F(Beacon, SynchronizesAtTheBeaconRateWithTheTruthInsideTheBound) {
  master_.start("beacon: {rate_hz: 20}\n");
  start_agent(kBeaconAgent);
  std::optional<Clock> clock = open_clock();
  ASSERT_TRUE(clock.has_value());
  v1::AgentStatus st;
  ASSERT_TRUE(status_until(calibrated_and_streaming, 20s, &st))
      << st.sync_mode() << ", " << st.beacon_samples() << " beacon samples";
  EXPECT_EQ(st.sync_mode(), "beacon stream at 20 Hz");
  std::cerr << "calibrated one-way delay " << st.beacon_delay_ns() << " ns +/- "
            << st.beacon_delay_uncertainty_ns() << " ns\n";

  // The rate: beacons received over ~3 s of the agent's own counters.
  const uint64_t n0 = st.beacons_received(), two_way0 = st.two_way_samples(),
                 beacon_samples0 = st.beacon_samples();
  const int64_t t0 = host_raw_now_ns();
  Tally steady = tally_for(*clock, 3s);
  ASSERT_TRUE(status_until([](const v1::AgentStatus&) { return true; }, 2s, &st));
  const double span_s = static_cast<double>(host_raw_now_ns() - t0) / 1e9;
  const double rate = static_cast<double>(st.beacons_received() - n0) / span_s;
  EXPECT_GT(rate, kRateHz * 0.5);
  EXPECT_LT(rate, kRateHz * 1.5);
  // Beacons are the bulk of the samples; the two-way exchanges continue at
  // about one a second (calibrate_every_s 1), far fewer.
  EXPECT_GT(st.beacon_samples() - beacon_samples0, st.two_way_samples() - two_way0);
  EXPECT_LE(st.two_way_samples() - two_way0, static_cast<uint64_t>(span_s) + 3);

  // The truth inside the bound for every reading, and not far from zero.
  EXPECT_GT(steady.served, 1000u);
  EXPECT_EQ(steady.outside, 0u) << steady.summary();
  EXPECT_LT(steady.worst_abs_ns, 1e6);
  EXPECT_EQ(st.state(), v1::SYNC_STATE_SYNCHRONIZED);
}

TEST_F(Beacon, ANewMasterTimelineResetsTheAgentAndTheStreamReopens) {
  master_.start("beacon: {rate_hz: 20}\n");
  start_agent(kBeaconAgent);
  std::optional<Clock> clock = open_clock();
  ASSERT_TRUE(clock.has_value());
  v1::AgentStatus st;
  ASSERT_TRUE(status_until(calibrated_and_streaming, 20s, &st));
  const uint64_t epoch0 = st.published_epoch();
  EXPECT_EQ(st.beacon_streams_opened(), 1u);

  // Same boot, same clock, another id: another timeline. The agent must drop
  // its estimate and calibration, re-lock with a step and stream again.
  master_.signal(SIGKILL);
  ASSERT_EQ(master_.wait(5s), 128 + SIGKILL);
  ASSERT_TRUE(status_until([](const v1::AgentStatus& s) {
    return s.sync_mode().rfind("beacon (no stream", 0) == 0;
  }, 10s, &st)) << st.sync_mode();
  master_.start("beacon: {rate_hz: 20}\n", "other-master");
  ASSERT_TRUE(status_until([&](const v1::AgentStatus& s) {
    return s.master_id() == "other-master" && s.published_epoch() > epoch0 &&
           s.beacon_streams_opened() >= 2 && calibrated_and_streaming(s);
  }, 30s, &st)) << st.master_id() << " epoch " << st.published_epoch() << " streams "
                << st.beacon_streams_opened() << " " << st.sync_mode();
  Tally after = tally_for(*clock, 2s);
  EXPECT_GT(after.served, 500u);
  EXPECT_EQ(after.outside, 0u) << after.summary();
}

// ---- StreamTime refusals, straight against the master.

class StreamCall {
 public:
  StreamCall(const std::string& target, const v1::StreamTimeRequest& req)
      : stub_(v1::TimeService::NewStub(
            grpc::CreateChannel(target, grpc::InsecureChannelCredentials()))) {
    ctx_.set_deadline(std::chrono::system_clock::now() + 5s);
    reader_ = stub_->StreamTime(&ctx_, req);
  }
  bool read(v1::TimeBeacon* b) { return reader_->Read(b); }
  // cancel: end a stream that is still open (else: the master ended it).
  grpc::Status finish(bool cancel) {
    if (cancel) ctx_.TryCancel();
    return reader_->Finish();
  }

 private:
  std::unique_ptr<v1::TimeService::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<v1::TimeBeacon>> reader_;
};

grpc::Status refused(const std::string& target, const v1::StreamTimeRequest& req) {
  StreamCall call(target, req);
  v1::TimeBeacon b;
  if (call.read(&b)) {
    call.finish(true);
    return grpc::Status::OK;  // not refused: a beacon came
  }
  return call.finish(false);
}

TEST_F(Beacon, MalformedAndUnservableStreamRequestsGetAStatus) {
  master_.start("beacon: {rate_hz: 20, max_streams: 1}\n");
  ASSERT_TRUE(eventually([&] { return master_up(master_.target()); }, 10s));

  v1::StreamTimeRequest long_id;
  long_id.set_client_id(std::string(300, 'x'));
  grpc::Status st = refused(master_.target(), long_id);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("client_id"), std::string::npos) << st.error_message();

  for (double bad : {-1.0, std::numeric_limits<double>::quiet_NaN(),
                     std::numeric_limits<double>::infinity()}) {
    v1::StreamTimeRequest req;
    req.set_max_rate_hz(bad);
    st = refused(master_.target(), req);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
    EXPECT_NE(st.error_message().find("max_rate_hz"), std::string::npos) << st.error_message();
  }

  // A lower rate asked for: every k-th beacon, and the beacon says so. It also
  // takes the only stream slot, so a second stream is refused.
  v1::StreamTimeRequest slow;
  slow.set_max_rate_hz(5);
  StreamCall first(master_.target(), slow);
  v1::TimeBeacon b1, b2;
  ASSERT_TRUE(first.read(&b1));
  ASSERT_TRUE(first.read(&b2));
  EXPECT_DOUBLE_EQ(b1.rate_hz(), 5);
  EXPECT_EQ(b2.sequence(), b1.sequence() + 1);
  EXPECT_GT(b2.master_send_ns(), b1.master_send_ns() + 100'000'000);  // 200 ms apart
  EXPECT_EQ(b1.master_id(), "test-master");
  EXPECT_EQ(b1.timebase(), v1::TIMEBASE_MONOTONIC);
  EXPECT_NE(b1.master_epoch(), 0u);
  st = refused(master_.target(), v1::StreamTimeRequest{});
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(st.error_message().find("max_streams"), std::string::npos) << st.error_message();
  first.finish(true);
  // The slot is free again once the master has seen the cancellation.
  EXPECT_TRUE(eventually([&] { return refused(master_.target(), v1::StreamTimeRequest{}).ok(); }, 5s));

  // Beacons switched off: FAILED_PRECONDITION, and GetTime still answers.
  master_.signal(SIGTERM);
  ASSERT_EQ(master_.wait(5s), 0);
  master_.start("beacon: {enabled: false}\n");
  ASSERT_TRUE(eventually([&] { return master_up(master_.target()); }, 10s));
  st = refused(master_.target(), v1::StreamTimeRequest{});
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(st.error_message().find("beacon.enabled"), std::string::npos) << st.error_message();
}

// A positive rate so low that no beacon would come for hours (1e-300 Hz: never)
// would still hold one of beacon.max_streams: refused, naming the field, from
// the master's own beacon.rate_hz minimum down. The slot stays free.
TEST_F(Beacon, ARateBelowTheMinimumIsRefusedAndHoldsNoStreamSlot) {
  master_.start("beacon: {rate_hz: 20, max_streams: 1}\n");
  ASSERT_TRUE(eventually([&] { return master_up(master_.target()); }, 10s));
  for (double tiny : {1e-300, std::numeric_limits<double>::denorm_min(), 1e-6, 0.0999}) {
    v1::StreamTimeRequest req;
    req.set_max_rate_hz(tiny);
    const grpc::Status st = refused(master_.target(), req);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << tiny;
    EXPECT_NE(st.error_message().find("max_rate_hz"), std::string::npos) << st.error_message();
    EXPECT_NE(st.error_message().find("0.1 Hz"), std::string::npos) << st.error_message();
  }
  // None of them took the only slot: a stream at the master's rate opens.
  EXPECT_TRUE(refused(master_.target(), v1::StreamTimeRequest{}).ok());
}

TEST_F(Beacon, AnAgentPollsWhenTheMasterServesNoBeacons) {
  master_.start("beacon: {enabled: false}\n");
  start_agent(kBeaconAgent);
  std::optional<Clock> clock = open_clock();
  ASSERT_TRUE(clock.has_value());
  v1::AgentStatus st;
  ASSERT_TRUE(status_until([](const v1::AgentStatus& s) {
    return s.state() == v1::SYNC_STATE_SYNCHRONIZED;
  }, 20s, &st));
  EXPECT_EQ(st.sync_mode(), "beacon (no stream: polling)");
  EXPECT_EQ(st.beacons_received(), 0u);
  // The agent may have tried before the master listened (connection
  // refused); the master's own refusal follows within the stream's backoff.
  EXPECT_TRUE(status_until([](const v1::AgentStatus& s) {
    return s.last_error().find("beacon.enabled") != std::string::npos;
  }, 10s, &st)) << st.last_error();
  Tally t = tally_for(*clock, 1s);
  EXPECT_EQ(t.outside, 0u);
}

}  // namespace
}  // namespace timesync
