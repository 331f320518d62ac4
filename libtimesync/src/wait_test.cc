// wait_synchronized against a real segment written by SegmentWriter: what it
// waits for (no segment yet, not synchronized, a bound too large), what it
// returns at once, and the reading it returns. No test relies on timing but
// "a timeout of T did not return before T".
#include "timesync/wait.hpp"

#include <gtest/gtest.h>
#include <time.h>

#include <atomic>
#include <filesystem>
#include <optional>
#include <thread>

#include "timesync/timesync.h"
#include "timesync/writer.hpp"

namespace timesync {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kMs = 1'000'000;
constexpr int64_t kSec = 1'000'000'000;

int64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * kSec + ts.tv_nsec;
}

TransformSnapshot snapshot(ClockStatus status, uint64_t bound_ns) {
  LocalTime now;
  EXPECT_TRUE(read_local_clock(&now));
  TransformSnapshot s;
  s.epoch = 7;
  s.status = status;
  s.as_of = now;
  s.void_after = LocalTime{now.ns + 60 * kSec};
  s.ref_local = now;
  s.ref_sync = SyncTime{123 * kSec};
  s.bound_at_as_of_ns = bound_ns;
  s.bound_growth_ppb = 0;
  s.max_error_ns = 1'000'000;
  s.set_master_name("wait-test");
  return s;
}

class WaitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/timesync-waittest-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    opts_.path = dir_ + "/segment";
  }
  void TearDown() override {
    writer_.reset();
    fs::remove_all(dir_);
  }
  void create_writer() {
    std::string why;
    auto w = SegmentWriter::create(opts_.path, &why);
    ASSERT_TRUE(w.ok()) << why;
    writer_ = std::move(w).value();
  }

  std::string dir_;
  WaitOptions opts_;
  std::unique_ptr<SegmentWriter> writer_;
};

TEST_F(WaitTest, WithoutASegmentItWaitsTheTimeoutAndSaysNoSegment) {
  opts_.timeout_ns = 50 * kMs;
  const int64_t t0 = monotonic_ns();
  const Result<TimestampWithError> r = wait_synchronized(opts_);
  EXPECT_EQ(r.error(), Error::kNoSegment);
  EXPECT_GE(monotonic_ns() - t0, 50 * kMs);
}

TEST_F(WaitTest, ATimeoutOfZeroLooksOnce) {
  create_writer();
  writer_->publish(snapshot(ClockStatus::kUnsynchronized, 0));
  opts_.timeout_ns = 0;
  EXPECT_EQ(wait_synchronized(opts_).error(), Error::kNotSynchronized);
}

TEST_F(WaitTest, ReturnsTheFirstGoodReadingOnceTheAgentSynchronizes) {
  create_writer();
  writer_->publish(snapshot(ClockStatus::kUnsynchronized, 0));
  std::optional<Result<TimestampWithError>> got;
  std::thread waiter([&] { got.emplace(wait_synchronized(opts_)); });  // for ever
  writer_->publish(snapshot(ClockStatus::kSynchronized, 2'000));
  waiter.join();
  ASSERT_TRUE(got->ok()) << to_string(got->error());
  EXPECT_EQ(got->value().epoch, 7u);
  EXPECT_EQ(got->value().status, ClockStatus::kSynchronized);
  EXPECT_GE(got->value().time.ns, 123 * kSec);
  EXPECT_GE(got->value().bound_ns, 2'000u);
}

TEST_F(WaitTest, ASegmentCreatedLaterIsWaitedFor) {
  std::optional<Result<TimestampWithError>> got;
  std::thread waiter([&] { got.emplace(wait_synchronized(opts_)); });
  create_writer();
  writer_->publish(snapshot(ClockStatus::kSynchronized, 2'000));
  waiter.join();
  ASSERT_TRUE(got->ok()) << to_string(got->error());
  EXPECT_EQ(got->value().epoch, 7u);
}

TEST_F(WaitTest, ABoundAboveMaxErrorIsNotGoodEnough) {
  create_writer();
  writer_->publish(snapshot(ClockStatus::kSynchronized, 5'000));
  opts_.timeout_ns = 30 * kMs;
  opts_.max_error_ns = 4'000;
  EXPECT_EQ(wait_synchronized(opts_).error(), Error::kBoundExceeded);
  opts_.max_error_ns = 6'000;
  EXPECT_TRUE(wait_synchronized(opts_).ok());
}

TEST_F(WaitTest, WhatWaitingCannotCureReturnsAtOnce) {
  fs::create_directory(opts_.path);  // a directory where the segment should be
  const Result<TimestampWithError> r = wait_synchronized(opts_);  // no timeout: must not hang
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(wait_can_cure(r.error())) << to_string(r.error());
}

TEST_F(WaitTest, TheStopFlagEndsTheWait) {
  std::atomic<bool> stop{false};
  opts_.stop = &stop;
  std::optional<Result<TimestampWithError>> got;
  std::thread waiter([&] { got.emplace(wait_synchronized(opts_)); });  // no segment, for ever
  stop = true;
  waiter.join();
  EXPECT_EQ(got->error(), Error::kInterrupted);
}

TEST_F(WaitTest, TheCApiWaitsTooAndHonoursItsStopFlag) {
  ts_timestamp out{};
  EXPECT_EQ(ts_wait_synchronized(opts_.path.c_str(), 0, 20 * kMs, nullptr, &out), TS_E_NO_SEGMENT);
  const int stop = 1;
  EXPECT_EQ(ts_wait_synchronized(opts_.path.c_str(), 0, -1, &stop, &out), TS_E_INTERRUPTED);
  create_writer();
  writer_->publish(snapshot(ClockStatus::kSynchronized, 2'000));
  ASSERT_EQ(ts_wait_synchronized(opts_.path.c_str(), 1'000'000, -1, nullptr, &out), TS_OK);
  EXPECT_EQ(out.epoch, 7u);
  EXPECT_EQ(out.status, TS_STATUS_SYNCHRONIZED);
  EXPECT_GE(out.time_ns, 123 * kSec);
  EXPECT_EQ(ts_wait_synchronized(opts_.path.c_str(), 1'000, 0, nullptr, &out), TS_E_BOUND_EXCEEDED);
}

}  // namespace
}  // namespace timesync
