// timesync::sync_clock on a real segment written by SegmentWriter. The clock
// is process-wide (one segment, chosen before the first read), so the whole
// story is one test.
#include "timesync/sync_clock.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>

#include "timesync/clock.hpp"
#include "timesync/writer.hpp"

namespace timesync {
namespace {

static_assert(std::chrono::is_clock_v<sync_clock>);
static_assert(std::is_same_v<sync_clock::duration, std::chrono::nanoseconds>);
static_assert(!sync_clock::is_steady);

constexpr int64_t kSec = 1'000'000'000;

TransformSnapshot live(uint64_t bound_ns) {
  LocalTime now;
  EXPECT_TRUE(read_local_clock(&now));
  TransformSnapshot s;
  s.epoch = 9;
  s.status = ClockStatus::kSynchronized;
  s.as_of = now;
  s.void_after = LocalTime{now.ns + 60 * kSec};
  s.ref_local = now;
  s.ref_sync = SyncTime{5'000 * kSec};  // synchronized = local - as_of + 5000 s
  s.bound_at_as_of_ns = bound_ns;
  s.bound_growth_ppb = 0;
  s.max_error_ns = 1'000'000;
  s.set_master_name("chrono-test");
  return s;
}

TEST(SyncClock, ReadsTheSegmentItWasGivenThrowsWhileOutOfSyncAndDoesChronoArithmetic) {
  char tmpl[] = "/tmp/timesync-chrono-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  ASSERT_TRUE(sync_clock::use_segment(dir + "/segment"));

  // No segment yet: the Error travels in the exception.
  try {
    (void)sync_clock::now();
    FAIL() << "now() returned a time without a segment";
  } catch (const sync_error& e) {
    EXPECT_EQ(e.code(), Error::kNoSegment);
  }
  EXPECT_FALSE(sync_clock::use_segment("/elsewhere"));  // a read was made

  std::string why;
  auto w = SegmentWriter::create(dir + "/segment", &why);
  ASSERT_TRUE(w.ok()) << why;
  // Created unsynchronized.
  EXPECT_FALSE(sync_clock::is_synchronized());
  try {
    (void)sync_clock::now_with_error();
    FAIL() << "now_with_error() returned a time while unsynchronized";
  } catch (const sync_error& e) {
    EXPECT_EQ(e.code(), Error::kNotSynchronized);
  }

  // The open failed before the segment existed; the next read opens it.
  w.value()->publish(live(3'000));
  EXPECT_TRUE(sync_clock::is_synchronized());
  const sync_clock::time_point t0 = sync_clock::now();
  const sync_clock::reading r = sync_clock::now_with_error();
  const sync_clock::time_point t1 = sync_clock::now();
  using namespace std::chrono_literals;
  EXPECT_GE(t0.time_since_epoch(), 5'000s);
  EXPECT_LT(t0.time_since_epoch(), 5'060s);
  EXPECT_LE(t0, r.time);
  EXPECT_LE(r.time, t1);
  EXPECT_GE(r.bound, 3us);
  EXPECT_EQ(r.earliest() + 2 * r.bound, r.latest());
  EXPECT_EQ(r.epoch, 9u);
  EXPECT_EQ(r.status, ClockStatus::kSynchronized);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t1 - t0);
  EXPECT_GE(ms.count(), 0);
  w.value().reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace timesync
