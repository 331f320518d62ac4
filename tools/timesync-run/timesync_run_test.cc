// timesync-run as real processes against a segment this test writes.
//
// The command is timesync-run-stamp, which records CLOCK_MONOTONIC_RAW at its
// first instruction; the test maps that reading through the transform it
// published, so "started at/after the target" is checked on the synchronized
// timeline without trusting anything timesync-run reports. Bounds on lateness
// are generous (a noisy shared machine): ordering and boundaries are asserted,
// not latency.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "../../tests/support/process.hpp"
#include "timesync/clock.hpp"
#include "timesync/sleep.hpp"
#include "timesync/writer.hpp"

namespace timesync {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kSec = 1'000'000'000;

struct Stamp {
  int64_t raw, target, index, wake, wake_raw, bound;
};

class TimesyncRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::make_temp_dir();
    segment_ = dir_ + "/segment";
    stamps_ = dir_ + "/stamps";
    std::string why;
    auto w = SegmentWriter::create(segment_, &why);
    ASSERT_TRUE(w.ok()) << why;
    writer_ = std::move(w).value();
  }
  void TearDown() override {
    writer_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Synchronized time = local + 1000 s, 20 ppm fast: a live, synchronized transform.
  TransformSnapshot publish_live() {
    TransformSnapshot s;
    s.epoch = 3;
    s.status = ClockStatus::kSynchronized;
    EXPECT_TRUE(read_local_clock(&s.as_of));
    s.void_after = LocalTime{s.as_of.ns + 120 * kSec};
    s.ref_local = s.as_of;
    s.ref_sync = SyncTime{s.as_of.ns + 1'000 * kSec};
    s.freq_adj_q48 = ppb_to_q48(20'000);
    s.bound_at_as_of_ns = 5'000;
    s.bound_growth_ppb = 100;
    s.max_error_ns = 1'000'000;
    s.set_master_name("run-test");
    writer_->publish(s);
    return s;
  }

  int64_t sync_now(const Transform& s) {
    LocalTime t;
    EXPECT_TRUE(read_local_clock(&t));
    SyncTime out;
    EXPECT_TRUE(to_sync(s, t, &out));
    return out.ns;
  }

  int run(std::vector<std::string> args, std::string* out) {
    args.insert(args.begin(), TIMESYNC_RUN_BIN);
    return testing::run_to_exit(std::move(args), dir_ + "/log" + std::to_string(runs_++), out);
  }

  std::vector<Stamp> stamps() {
    std::vector<Stamp> v;
    std::ifstream f(stamps_);
    Stamp s{};
    while (f >> s.raw >> s.target >> s.index >> s.wake >> s.wake_raw >> s.bound) v.push_back(s);
    return v;
  }

  static std::string seconds(int64_t ns) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%lld.%09lld", static_cast<long long>(ns / kSec),
                  static_cast<long long>(ns % kSec));
    return buf;
  }

  std::string dir_, segment_, stamps_;
  std::unique_ptr<SegmentWriter> writer_;
  int runs_ = 0;
};

TEST_F(TimesyncRunTest, AtStartsTheCommandAtOrAfterTheInstant) {
  const TransformSnapshot s = publish_live();
  const int64_t target = sync_now(s) + 300 * kMs;
  std::string out;
  const int rc = run({"--segment", segment_, "--at", seconds(target), "--", TIMESYNC_RUN_STAMP_BIN,
                      stamps_},
                     &out);
  ASSERT_EQ(rc, 0) << out;
  const auto v = stamps();
  ASSERT_EQ(v.size(), 1u) << out;
  EXPECT_EQ(v[0].target, target);
  EXPECT_EQ(v[0].index, -1);  // --at has no index
  SyncTime started;
  ASSERT_TRUE(to_sync(s, LocalTime{v[0].raw}, &started));
  EXPECT_GE(started.ns, target);                // not early, on the published timeline
  EXPECT_LT(started.ns - target, 2 * kSec);     // and not wildly late
  EXPECT_GE(v[0].wake, target);
  EXPECT_GE(v[0].raw, v[0].wake_raw);           // the wake-up came before the start
  EXPECT_GE(v[0].bound, 5'000);
}

TEST_F(TimesyncRunTest, AtPassesTheCommandsExitStatusAndAcceptsRelativeAndNextForms) {
  publish_live();
  std::string out;
  EXPECT_EQ(run({"--segment", segment_, "--quiet", "--at", "+20ms", "--", "/bin/sh", "-c",
                 "exit 7"},
                &out),
            7)
      << out;
  EXPECT_EQ(run({"--segment", segment_, "--at", "next:100ms+30ms", "--", TIMESYNC_RUN_STAMP_BIN,
                 stamps_},
                &out),
            0)
      << out;
  const auto v = stamps();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].target % (100 * kMs), 30 * kMs);
}

class EveryTest : public TimesyncRunTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(EveryTest, FiresOnEveryBoundary) {
  const TransformSnapshot s = publish_live();
  constexpr int64_t kPeriod = 50 * kMs, kOffset = 10 * kMs;
  std::string out;
  const int rc = run({"--segment", segment_, "--every", "50ms", "--offset", "10ms", "--count", "5",
                      "--launch", GetParam(), "--", TIMESYNC_RUN_STAMP_BIN, stamps_},
                     &out);
  ASSERT_EQ(rc, 0) << out;
  auto v = stamps();
  ASSERT_EQ(v.size(), 5u) << out;
  std::sort(v.begin(), v.end(), [](const Stamp& a, const Stamp& b) { return a.index < b.index; });
  for (size_t i = 0; i < v.size(); ++i) {
    EXPECT_EQ(v[i].target, v[i].index * kPeriod + kOffset);
    SyncTime started;
    ASSERT_TRUE(to_sync(s, LocalTime{v[i].raw}, &started));
    EXPECT_GE(started.ns, v[i].target) << "boundary " << v[i].index;
    EXPECT_LT(started.ns - v[i].target, 2 * kSec);
    if (i > 0) {
      EXPECT_GT(v[i].index, v[i - 1].index);  // one command per boundary
    }
  }
  EXPECT_NE(out.find("5 started, 0 failed"), std::string::npos) << out;
}

INSTANTIATE_TEST_SUITE_P(Launch, EveryTest, ::testing::Values("prefork", "spawn"));

TEST_F(TimesyncRunTest, EveryReportsFailedCommands) {
  publish_live();
  std::string out;
  EXPECT_EQ(run({"--segment", segment_, "--every", "20ms", "--count", "2", "--", "/bin/false"}, &out),
            1)
      << out;
  EXPECT_NE(out.find("2 started, 2 failed"), std::string::npos) << out;
}

TEST_F(TimesyncRunTest, RefusesToStartOutOfSyncAndSaysWhy) {
  std::string out;
  // SegmentWriter::create published "unsynchronized".
  EXPECT_EQ(run({"--segment", segment_, "--at", "+1s", "--", TIMESYNC_RUN_STAMP_BIN, stamps_}, &out),
            69);
  EXPECT_NE(out.find("not synchronized"), std::string::npos) << out;

  TransformSnapshot stale = publish_live();
  stale.as_of = LocalTime{stale.as_of.ns - 30 * kSec};
  stale.void_after = LocalTime{stale.as_of.ns + 1 * kSec};
  writer_->publish(stale);
  EXPECT_EQ(run({"--segment", segment_, "--every", "1s", "--", TIMESYNC_RUN_STAMP_BIN, stamps_}, &out),
            69);
  EXPECT_NE(out.find("stale"), std::string::npos) << out;

  publish_live();  // bound 5 us
  EXPECT_EQ(run({"--segment", segment_, "--max-error-us", "1", "--at", "+1s", "--",
                 TIMESYNC_RUN_STAMP_BIN, stamps_},
                &out),
            69);
  EXPECT_NE(out.find("exceeds --max-error-us 1"), std::string::npos) << out;
  EXPECT_TRUE(stamps().empty());  // nothing ran
}

TEST_F(TimesyncRunTest, StopsWaitingWhenSyncIsLostAndDoesNotStart) {
  const TransformSnapshot s = publish_live();
  testing::Process p({TIMESYNC_RUN_BIN, "--segment", segment_, "--at", "+3s", "--",
                      TIMESYNC_RUN_STAMP_BIN, stamps_},
                     dir_ + "/lost.log");
  // Wait (through the API) until it is surely sleeping, then drop sync.
  auto clock = Clock::open(segment_);
  ASSERT_TRUE(clock.ok());
  ASSERT_TRUE(sleep_until(clock.value(), SyncTime{sync_now(s) + 300 * kMs}).ok());
  TransformSnapshot u = s;
  u.status = ClockStatus::kUnsynchronized;
  writer_->publish(u);
  EXPECT_EQ(p.wait(std::chrono::seconds(10)), 69) << p.log();
  EXPECT_NE(p.log().find("not synchronized while waiting"), std::string::npos) << p.log();
  EXPECT_TRUE(stamps().empty());
}

// --wait-sync: started while the clock is not synchronized, it waits, then
// starts the command; with --wait-timeout it gives up with 69 and runs nothing.
TEST_F(TimesyncRunTest, WaitSyncWaitsForSynchronizationBeforePlanningTheStart) {
  std::string out;
  EXPECT_EQ(run({"--segment", segment_, "--wait-sync", "--wait-timeout", "200ms", "--at", "+1ms",
                 "--", TIMESYNC_RUN_STAMP_BIN, stamps_},
                &out),
            69);
  EXPECT_NE(out.find("before --wait-timeout"), std::string::npos) << out;
  EXPECT_TRUE(stamps().empty());
  testing::Process p({TIMESYNC_RUN_BIN, "--segment", segment_, "--wait-sync", "--at", "+1ms",
                      "--", TIMESYNC_RUN_STAMP_BIN, stamps_},
                     dir_ + "/waitsync.log");
  publish_live();
  EXPECT_EQ(p.wait(std::chrono::seconds(20)), 0) << p.log();
  ASSERT_EQ(stamps().size(), 1u) << p.log();
  EXPECT_GE(stamps()[0].wake, stamps()[0].target);
  EXPECT_EQ(run({"--segment", segment_, "--wait-timeout", "1s", "--at", "+1ms", "--", "/bin/true"},
                &out),
            64);
}

TEST_F(TimesyncRunTest, MissingSegmentPastTimeAndMissingCommandHaveTheirOwnCodes) {
  std::string out;
  EXPECT_EQ(run({"--segment", dir_ + "/nope", "--at", "+1s", "--", "/bin/true"}, &out), 66);
  EXPECT_NE(out.find("no timesync segment"), std::string::npos) << out;
  const TransformSnapshot s = publish_live();
  EXPECT_EQ(run({"--segment", segment_, "--at", seconds(sync_now(s) - kSec), "--", "/bin/true"}, &out),
            65);
  EXPECT_NE(out.find("already passed"), std::string::npos) << out;
  EXPECT_EQ(run({"--segment", segment_, "--at", "+1s", "--", "no-such-command-xyz"}, &out), 127);
  EXPECT_NE(out.find("command not found"), std::string::npos) << out;
  EXPECT_EQ(run({"--segment", segment_, "--at", "+1s", "--", dir_}, &out), 126);
}

TEST_F(TimesyncRunTest, BadArgumentsExit64WithAMessage) {
  publish_live();
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--at", "+1s"}, "no command"},
      {{"--at", "+1s", "--every", "1s", "--", "/bin/true"}, "exactly one of --at and --every"},
      {{"--", "/bin/true"}, "exactly one of --at and --every"},
      {{"--every", "10parsecs", "--", "/bin/true"}, "bad --every '10parsecs'"},
      {{"--every", "0s", "--", "/bin/true"}, "bad --every '0s'"},
      {{"--at", "tomorrow", "--", "/bin/true"}, "bad --at 'tomorrow'"},
      {{"--at", "+1s", "--count", "3", "--", "/bin/true"}, "go with --every"},
      {{"--every", "1s", "--count", "0", "--", "/bin/true"}, "bad --count '0'"},
      {{"--every", "1s", "--launch", "teleport", "--", "/bin/true"}, "bad --launch"},
      {{"--frobnicate", "--", "/bin/true"}, "unknown option --frobnicate"},
      {{"--at"}, "missing value for --at"},
  };
  for (const auto& [args, msg] : cases) {
    std::vector<std::string> a = {"--segment", segment_};
    a.insert(a.end(), args.begin(), args.end());
    std::string out;
    EXPECT_EQ(run(a, &out), 64) << msg;
    EXPECT_NE(out.find(msg), std::string::npos) << out;
    EXPECT_NE(out.find("usage: timesync-run"), std::string::npos) << out;
  }
}

}  // namespace
}  // namespace timesync
