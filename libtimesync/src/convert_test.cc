// convert() on a real segment written by SegmentWriter: the instant mapped to
// RAW, the bound at that instant plus the mapping's terms, and each refusal.
#include "timesync/convert.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "timesync/timesync.h"
#include "timesync/writer.hpp"

namespace timesync {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kSec = 1'000'000'000;

int64_t now(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * kSec + ts.tv_nsec;
}

class ConvertTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/timesync-convert-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::string why;
    auto w = SegmentWriter::create(dir_ + "/segment", &why);
    ASSERT_TRUE(w.ok()) << why;
    writer_ = std::move(w).value();
    // sync = raw + 1000 s + 20 ppm, bound 2 us + 10 ppm of the distance.
    snap_.epoch = 4;
    snap_.status = ClockStatus::kSynchronized;
    snap_.as_of = LocalTime{now(CLOCK_MONOTONIC_RAW)};
    snap_.void_after = LocalTime{snap_.as_of.ns + 60 * kSec};
    snap_.ref_local = snap_.as_of;
    snap_.ref_sync = SyncTime{snap_.as_of.ns + 1'000 * kSec};
    snap_.freq_adj_q48 = ppb_to_q48(20'000);
    snap_.bound_at_as_of_ns = 2'000;
    snap_.bound_growth_ppb = 10'000;
    snap_.max_error_ns = 1'000'000;
    snap_.set_master_name("convert-test");
    writer_->publish(snap_);
    auto c = Clock::open(dir_ + "/segment");
    ASSERT_TRUE(c.ok()) << to_string(c.error());
    clock_.emplace(std::move(c).value());
  }
  void TearDown() override {
    clock_.reset();
    writer_.reset();
    std::filesystem::remove_all(dir_);
  }
  SyncTime sync_at(int64_t raw) {
    SyncTime s;
    EXPECT_TRUE(to_sync(snap_, LocalTime{raw}, &s));
    return s;
  }

  std::string dir_;
  std::unique_ptr<SegmentWriter> writer_;
  std::optional<Clock> clock_;
  TransformSnapshot snap_;
};

TEST_F(ConvertTest, ARawInstantIsTheTransformAtThatInstant) {
  const int64_t t = now(CLOCK_MONOTONIC_RAW) - 3 * kMs;
  const TimestampWithError r = convert(*clock_, CLOCK_MONOTONIC_RAW, t);
  ASSERT_TRUE(r.ok()) << to_string(r.error);
  EXPECT_EQ(r.time.ns, sync_at(t).ns);
  EXPECT_EQ(r.bound_ns, bound_at(snap_, LocalTime{t}));
  EXPECT_EQ(r.epoch, 4u);
}

TEST_F(ConvertTest, AMonotonicInstantMapsToRawWithinTheAddedBound) {
  // Where the instant lies on RAW, measured here the same way: a paired read.
  const int64_t r0 = now(CLOCK_MONOTONIC_RAW);
  const int64_t m = now(CLOCK_MONOTONIC);
  const int64_t r1 = now(CLOCK_MONOTONIC_RAW);
  const int64_t instant = m - 5 * kMs;  // a frame 5 ms old
  const TimestampWithError r = convert(*clock_, CLOCK_MONOTONIC, instant);
  ASSERT_TRUE(r.ok()) << to_string(r.error);
  const int64_t raw_then = r0 + (r1 - r0) / 2 - 5 * kMs;
  const int64_t expected = sync_at(raw_then).ns;
  // Both mappings carry their read width and 5 ms of slewing; the bound holds
  // the transform's own bound and 5 us of slew (1000 ppm of 5 ms).
  EXPECT_LE(std::llabs(r.time.ns - expected), static_cast<long long>(r.bound_ns + (r1 - r0)));
  EXPECT_GE(r.bound_ns, bound_at(snap_, LocalTime{raw_then}) + 5'000 - 1'000);
  // A tighter slew figure gives a tighter bound.
  ConvertOptions tight;
  tight.max_slew_ppb = 600'000;
  const TimestampWithError t = convert(*clock_, CLOCK_MONOTONIC, instant, tight);
  if (t.ok()) {
    EXPECT_LT(t.bound_ns, r.bound_ns);
  } else {
    EXPECT_EQ(t.error, Error::kBoundExceeded);  // this host's kernel slews faster now
  }
  EXPECT_TRUE(convert(*clock_, CLOCK_BOOTTIME, now(CLOCK_BOOTTIME) - kMs).ok());
}

TEST_F(ConvertTest, RefusesOtherClocksFutureAndOldInstants) {
  EXPECT_EQ(convert(*clock_, CLOCK_PROCESS_CPUTIME_ID, 0).error, Error::kInvalidArgument);
  EXPECT_EQ(convert(*clock_, CLOCK_MONOTONIC, now(CLOCK_MONOTONIC) + kSec).error,
            Error::kInvalidArgument);
  EXPECT_EQ(convert(*clock_, CLOCK_MONOTONIC, now(CLOCK_MONOTONIC) - 2 * kSec).error,
            Error::kStale);
  // 2 s of 1000 ppm is 2 ms of bound: within a 10 ms limit.
  TransformSnapshot wide = snap_;
  wide.max_error_ns = 10'000'000;
  writer_->publish(wide);
  ConvertOptions longer;
  longer.max_age_ns = 10 * kSec;
  EXPECT_TRUE(convert(*clock_, CLOCK_MONOTONIC, now(CLOCK_MONOTONIC) - 2 * kSec, longer).ok());
}

// Taken before any conversion in this process.
const int64_t g_realtime_at_start = now(CLOCK_REALTIME);

TEST_F(ConvertTest, RealtimeInstantsBeforeStepMonitoringAreRefused) {
  // The first REALTIME conversion arms the step monitor: an instant from
  // before it cannot be vouched for.
  const int64_t before = g_realtime_at_start;
  ConvertOptions o;
  o.max_age_ns = 3600 * kSec;
  EXPECT_EQ(convert(*clock_, CLOCK_REALTIME, before, o).error, Error::kStale);
  const int64_t after = now(CLOCK_REALTIME);
  const TimestampWithError r = convert(*clock_, CLOCK_REALTIME, after);
  ASSERT_TRUE(r.ok()) << to_string(r.error);
  EXPECT_EQ(convert(*clock_, CLOCK_REALTIME, before).error, Error::kStale);
}

TEST_F(ConvertTest, TheAgentsRefusalsStand) {
  TransformSnapshot u = snap_;
  u.status = ClockStatus::kUnsynchronized;
  writer_->publish(u);
  EXPECT_EQ(convert(*clock_, CLOCK_MONOTONIC, now(CLOCK_MONOTONIC)).error,
            Error::kNotSynchronized);
  // A bound within max_error at the instant, over it with the slew term.
  TransformSnapshot b = snap_;
  b.bound_at_as_of_ns = 999'000;
  b.bound_growth_ppb = 0;
  writer_->publish(b);
  EXPECT_TRUE(convert(*clock_, CLOCK_MONOTONIC_RAW, now(CLOCK_MONOTONIC_RAW)).ok());
  EXPECT_EQ(convert(*clock_, CLOCK_MONOTONIC, now(CLOCK_MONOTONIC) - 100 * kMs).error,
            Error::kBoundExceeded);
}

TEST_F(ConvertTest, TheCApiConverts) {
  ts_context* ctx = nullptr;
  ASSERT_EQ(ts_open((dir_ + "/segment").c_str(), &ctx), TS_OK);
  ts_timestamp out{};
  const int64_t t = now(CLOCK_MONOTONIC_RAW) - kMs;
  ASSERT_EQ(ts_convert(ctx, CLOCK_MONOTONIC_RAW, t, 0, 0, &out), TS_OK);
  EXPECT_EQ(out.time_ns, sync_at(t).ns);
  EXPECT_EQ(out.local_ns, t);
  EXPECT_EQ(ts_convert(ctx, CLOCK_MONOTONIC, now(CLOCK_MONOTONIC) - 5 * kMs, 0, 0, &out), TS_OK);
  EXPECT_GE(out.bound_ns, 5'000u);
  EXPECT_EQ(ts_convert(ctx, CLOCK_MONOTONIC, now(CLOCK_MONOTONIC) - 5 * kMs, kMs, 0, &out),
            TS_E_STALE);
  EXPECT_EQ(ts_convert(ctx, CLOCK_THREAD_CPUTIME_ID, 0, 0, 0, &out), TS_E_INVALID_ARGUMENT);
  EXPECT_EQ(ts_convert(ctx, CLOCK_MONOTONIC, 0, -1, 0, &out), TS_E_INVALID_ARGUMENT);
  ts_close(ctx);
}

}  // namespace
}  // namespace timesync
