// sleep_until and PeriodicTimer against a real segment written by SegmentWriter.
//
// The machine is shared and noisy, so these tests assert ordering and which
// timeline a wake-up landed on, never tight latencies: every "must not have
// woken yet" has at least 400 ms of margin. Threads that change the transform
// mid-sleep wait for their moment with sleep_until itself.
#include "timesync/sleep.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <optional>
#include <random>
#include <thread>

#include "../../tests/support/test_seed.hpp"
#include "timesync/clock.hpp"
#include "timesync/timesync.h"
#include "timesync/writer.hpp"

namespace timesync {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kMs = 1'000'000;
constexpr int64_t kSec = 1'000'000'000;

LocalTime now_local() {
  LocalTime t;
  EXPECT_TRUE(read_local_clock(&t));
  return t;
}

// sync = ref_sync + (local - ref_local) * (1 + freq): a live, synchronized transform.
TransformSnapshot live(uint64_t epoch, int64_t sync_at_now_ns, double freq_ppb = 0) {
  TransformSnapshot s;
  s.epoch = epoch;
  s.status = ClockStatus::kSynchronized;
  s.as_of = now_local();
  s.void_after = LocalTime{s.as_of.ns + 60 * kSec};
  s.ref_local = s.as_of;
  s.ref_sync = SyncTime{sync_at_now_ns};
  s.freq_adj_q48 = ppb_to_q48(freq_ppb);
  s.bound_at_as_of_ns = 2'000;
  s.bound_growth_ppb = 1'000;
  s.max_error_ns = 1'000'000;
  s.set_master_name("sleep-test");
  return s;
}

// The same timeline as `s`, shifted by shift_ns (positive: synchronized time
// jumps ahead, so a target comes sooner), republished now.
TransformSnapshot shifted(const TransformSnapshot& s, int64_t shift_ns) {
  TransformSnapshot n = s;
  const LocalTime t = now_local();
  SyncTime at;
  EXPECT_TRUE(to_sync(s, t, &at));
  n.as_of = t;
  n.ref_local = t;
  n.ref_sync = SyncTime{at.ns + shift_ns};
  return n;
}

SyncTime sync_at(const Transform& s, LocalTime t) {
  SyncTime out;
  EXPECT_TRUE(to_sync(s, t, &out));
  return out;
}

LocalTime deadline(const Transform& s, SyncTime target) {
  LocalTime out;
  EXPECT_TRUE(local_deadline(s, target, &out));
  return out;
}

class SleepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/timesync-sleeptest-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::string why;
    auto w = SegmentWriter::create(dir_ + "/segment", &why);
    ASSERT_TRUE(w.ok()) << why;
    writer_ = std::move(w).value();
    auto c = Clock::open(dir_ + "/segment");
    ASSERT_TRUE(c.ok()) << to_string(c.error());
    clock_.emplace(std::move(c).value());
  }
  void TearDown() override {
    writer_.reset();
    clock_.reset();
    fs::remove_all(dir_);
  }

  // Publishes `next` from another thread once the synchronized clock (on the
  // current transform) reaches `when`; the thread waits with sleep_until.
  std::thread publish_at(SyncTime when, std::function<TransformSnapshot()> next) {
    return std::thread([this, when, next = std::move(next)] {
      const auto w = sleep_until(*clock_, when);
      EXPECT_TRUE(w.ok()) << to_string(w.error());
      writer_->publish(next());
      published_local_.store(now_local().ns);
    });
  }

  std::string dir_;
  std::unique_ptr<SegmentWriter> writer_;
  std::optional<Clock> clock_;
  std::atomic<int64_t> published_local_{0};
};

TEST(LocalDeadline, IsTheFirstInstantTheTransformReachesTheTarget) {
  auto rng = testing::seeded_rng("LocalDeadline");
  std::uniform_int_distribution<int64_t> time(-(int64_t{1} << 60), int64_t{1} << 60);
  std::uniform_int_distribution<int64_t> freq(-kMaxFreqAdjQ48, kMaxFreqAdjQ48);
  std::uniform_int_distribution<int64_t> near(-100 * kSec, 100 * kSec);
  for (int i = 0; i < 20'000; ++i) {
    Transform s;
    s.ref_local = LocalTime{time(rng)};
    s.ref_sync = SyncTime{time(rng)};
    s.freq_adj_q48 = i % 4 == 0 ? 0 : freq(rng);
    const SyncTime target{s.ref_sync.ns + near(rng)};
    LocalTime t;
    ASSERT_TRUE(local_deadline(s, target, &t));
    SyncTime at, before;
    ASSERT_TRUE(to_sync(s, t, &at));
    ASSERT_TRUE(to_sync(s, LocalTime{t.ns - 1}, &before));
    EXPECT_GE(at, target) << "i=" << i;
    EXPECT_LT(before, target) << "i=" << i;
  }
}

TEST_F(SleepTest, WakesAtOrAfterTheTargetOnTheTransformsTimeline) {
  const TransformSnapshot s = live(1, 5'000 * kSec, 35'000);  // 35 ppm
  writer_->publish(s);
  for (const int64_t spin_ns : {int64_t{0}, int64_t{50'000}, int64_t{2 * kMs}}) {
    SleepOptions o;
    o.spin_ns = spin_ns;
    const SyncTime target{sync_at(s, now_local()).ns + 30 * kMs};
    const auto w = sleep_until(*clock_, target, o);
    const LocalTime after = now_local();
    ASSERT_TRUE(w.ok()) << to_string(w.error());
    EXPECT_EQ(w->target, target);
    EXPECT_GE(w->woke, target) << "spin " << spin_ns;
    EXPECT_GE(w->late_ns(), 0);
    EXPECT_LT(w->late_ns(), kSec);  // generous: only "it did not oversleep wildly"
    EXPECT_EQ(w->woke, sync_at(s, w->woke_local));  // the report is the transform's reading
    EXPECT_GE(w->woke_local, deadline(s, target));
    EXPECT_GE(sync_at(s, after), target);
    EXPECT_GE(w->bound_ns, 2'000u);
    EXPECT_EQ(w->epoch, 1u);
  }
}

TEST_F(SleepTest, PastTargetReturnsAtOnceWithItsLateness) {
  const TransformSnapshot s = live(1, 5'000 * kSec);
  writer_->publish(s);
  const auto w = sleep_until(*clock_, SyncTime{4'000 * kSec});
  ASSERT_TRUE(w.ok()) << to_string(w.error());
  EXPECT_GE(w->late_ns(), 1'000 * kSec);
}

TEST_F(SleepTest, FollowsALaterTimelinePublishedWhileSleeping) {
  const TransformSnapshot a = live(1, 5'000 * kSec);
  writer_->publish(a);
  const LocalTime start = now_local();
  const SyncTime target{sync_at(a, start).ns + 1 * kSec};
  TransformSnapshot b;
  // 100 ms in, the agent's timeline moves 500 ms back: the target comes later.
  std::thread pub = publish_at(SyncTime{sync_at(a, start).ns + 100 * kMs}, [&] {
    b = shifted(a, -500 * kMs);
    return b;
  });
  const auto w = sleep_until(*clock_, target);
  pub.join();
  ASSERT_TRUE(w.ok()) << to_string(w.error());
  ASSERT_LT(published_local_.load(), deadline(a, target).ns) << "publisher ran too late to test";
  EXPECT_GE(w->woke_local, deadline(b, target));  // on B's timeline ...
  EXPECT_GE(sync_at(b, w->woke_local), target);
  EXPECT_GE(w->woke_local.ns - deadline(a, target).ns, 400 * kMs);  // ... not A's
}

TEST_F(SleepTest, FollowsAnEarlierTimelinePublishedWhileSleeping) {
  const TransformSnapshot a = live(1, 5'000 * kSec);
  writer_->publish(a);
  const LocalTime start = now_local();
  const SyncTime target{sync_at(a, start).ns + 1'500 * kMs};
  TransformSnapshot b;
  // 100 ms in, the timeline moves 500 ms ahead: the target comes sooner.
  std::thread pub = publish_at(SyncTime{sync_at(a, start).ns + 100 * kMs}, [&] {
    b = shifted(a, 500 * kMs);
    return b;
  });
  const auto w = sleep_until(*clock_, target);
  pub.join();
  ASSERT_TRUE(w.ok()) << to_string(w.error());
  EXPECT_GE(w->woke_local, deadline(b, target));
  EXPECT_LT(w->woke_local, deadline(a, target));  // 500 ms before A would have woken
}

TEST_F(SleepTest, EpochStepWhileSleepingFailsByDefault) {
  const TransformSnapshot a = live(1, 5'000 * kSec);
  writer_->publish(a);
  const LocalTime start = now_local();
  const SyncTime target{sync_at(a, start).ns + 2 * kSec};
  std::thread pub = publish_at(SyncTime{sync_at(a, start).ns + 100 * kMs}, [&] {
    TransformSnapshot b = shifted(a, -300 * kMs);
    b.epoch = 2;
    return b;
  });
  const auto w = sleep_until(*clock_, target);
  const LocalTime returned = now_local();
  pub.join();
  EXPECT_EQ(w.error(), Error::kEpochChanged);
  EXPECT_LT(returned, deadline(a, target));  // refused, not slept through
}

TEST_F(SleepTest, EpochStepWhileSleepingCanBeFollowed) {
  const TransformSnapshot a = live(1, 5'000 * kSec);
  writer_->publish(a);
  const LocalTime start = now_local();
  const SyncTime target{sync_at(a, start).ns + 1 * kSec};
  TransformSnapshot b;
  std::thread pub = publish_at(SyncTime{sync_at(a, start).ns + 100 * kMs}, [&] {
    b = shifted(a, -500 * kMs);
    b.epoch = 2;
    return b;
  });
  SleepOptions o;
  o.on_epoch_change = EpochPolicy::kFollow;
  const auto w = sleep_until(*clock_, target, o);
  pub.join();
  ASSERT_TRUE(w.ok()) << to_string(w.error());
  EXPECT_EQ(w->epoch, 2u);
  EXPECT_GE(w->woke_local, deadline(b, target));
}

TEST_F(SleepTest, RefusesWhenOutOfSyncStaleOrOverTheBound) {
  const LocalTime t0 = now_local();
  const SyncTime soon{5'000 * kSec + 10 * kMs};

  // SegmentWriter::create published "unsynchronized".
  EXPECT_EQ(sleep_until(*clock_, soon).error(), Error::kNotSynchronized);

  TransformSnapshot stale = live(1, 5'000 * kSec);
  stale.as_of = LocalTime{t0.ns - 20 * kSec};
  stale.void_after = LocalTime{t0.ns - 10 * kSec};
  writer_->publish(stale);
  EXPECT_EQ(sleep_until(*clock_, soon).error(), Error::kStale);

  TransformSnapshot wide = live(1, 5'000 * kSec);
  wide.bound_at_as_of_ns = 2 * wide.max_error_ns;
  writer_->publish(wide);
  EXPECT_EQ(sleep_until(*clock_, soon).error(), Error::kBoundExceeded);

  writer_->publish(live(1, 5'000 * kSec));
  SleepOptions o;
  o.max_error_ns = 1'000;  // tighter than the 2 us the transform carries
  EXPECT_EQ(sleep_until(*clock_, soon, o).error(), Error::kBoundExceeded);
  o = SleepOptions{};
  o.chunk_ns = 0;
  EXPECT_EQ(sleep_until(*clock_, soon, o).error(), Error::kInvalidArgument);
  EXPECT_TRUE(sleep_until(*clock_, soon).ok());
}

TEST_F(SleepTest, LosingSyncWhileSleepingEndsTheWaitWithTheReason) {
  const TransformSnapshot a = live(1, 5'000 * kSec);
  writer_->publish(a);
  const LocalTime start = now_local();
  const SyncTime target{sync_at(a, start).ns + 3 * kSec};
  std::thread pub = publish_at(SyncTime{sync_at(a, start).ns + 100 * kMs}, [&] {
    TransformSnapshot u = shifted(a, 0);
    u.status = ClockStatus::kUnsynchronized;
    return u;
  });
  const auto w = sleep_until(*clock_, target);
  const LocalTime returned = now_local();
  pub.join();
  EXPECT_EQ(w.error(), Error::kNotSynchronized);
  EXPECT_LT(returned, deadline(a, target));
}

TEST_F(SleepTest, StopFlagEndsTheWait) {
  const TransformSnapshot a = live(1, 5'000 * kSec);
  writer_->publish(a);
  const LocalTime start = now_local();
  std::atomic<bool> stop{false};
  std::thread stopper([&] {
    EXPECT_TRUE(sleep_until(*clock_, SyncTime{sync_at(a, start).ns + 100 * kMs}).ok());
    stop.store(true);
  });
  SleepOptions o;
  o.stop = &stop;
  const SyncTime target{sync_at(a, start).ns + 3 * kSec};
  const auto w = sleep_until(*clock_, target, o);
  const LocalTime returned = now_local();
  stopper.join();
  EXPECT_EQ(w.error(), Error::kInterrupted);
  EXPECT_LT(returned, deadline(a, target));
}

TEST_F(SleepTest, PeriodicTimerFiresOnEveryBoundary) {
  const TransformSnapshot a = live(1, 5'000 * kSec + 3 * kMs, 20'000);
  writer_->publish(a);
  constexpr int64_t kPeriod = 40 * kMs, kOffset = 7 * kMs;
  PeriodicTimer timer(*clock_, kPeriod, kOffset - 3 * kPeriod);  // reduced modulo the period
  EXPECT_EQ(timer.offset_ns(), kOffset);
  int64_t last = 0;
  for (int n = 0; n < 6; ++n) {
    const auto t = timer.wait_next();
    ASSERT_TRUE(t.ok()) << to_string(t.error());
    EXPECT_EQ(t->boundary.ns, t->index * kPeriod + kOffset);
    EXPECT_GE(t->wake.woke, t->boundary);
    EXPECT_EQ(t->wake.target, t->boundary);
    if (n == 0) {
      EXPECT_EQ(t->missed, 0u);
    } else {
      // Consecutive unless this thread was descheduled for a whole period;
      // either way the count adds up.
      EXPECT_EQ(t->index, last + 1 + static_cast<int64_t>(t->missed));
    }
    last = t->index;
  }
}

TEST_F(SleepTest, PeriodicTimerReportsOverrunsInsteadOfABurst) {
  const TransformSnapshot a = live(1, 5'000 * kSec);
  writer_->publish(a);
  constexpr int64_t kPeriod = 30 * kMs;
  PeriodicTimer timer(*clock_, kPeriod);
  const auto first = timer.wait_next();
  ASSERT_TRUE(first.ok()) << to_string(first.error());
  // The "work" overruns three and a half periods.
  const auto busy = sleep_until(*clock_, SyncTime{first->boundary.ns + 3 * kPeriod + kPeriod / 2});
  ASSERT_TRUE(busy.ok());
  const auto next = timer.wait_next();
  ASSERT_TRUE(next.ok()) << to_string(next.error());
  EXPECT_GE(next->missed, 3u);
  EXPECT_EQ(next->index, first->index + 1 + static_cast<int64_t>(next->missed));
  EXPECT_GT(next->boundary, busy->woke);  // a future boundary, not a late one
}

TEST_F(SleepTest, PeriodicTimerCountsBoundariesLostToAnOutage) {
  const TransformSnapshot a = live(1, 5'000 * kSec);
  writer_->publish(a);
  constexpr int64_t kPeriod = 30 * kMs;
  PeriodicTimer timer(*clock_, kPeriod);
  const auto first = timer.wait_next();
  ASSERT_TRUE(first.ok());
  TransformSnapshot u = shifted(a, 0);
  u.status = ClockStatus::kUnsynchronized;
  writer_->publish(u);
  EXPECT_EQ(timer.wait_next().error(), Error::kNotSynchronized);
  // Back in sync after about four periods (waited for on the restored line).
  TransformSnapshot back = shifted(a, 0);
  const auto wait = sleep_until(*clock_, SyncTime{first->boundary.ns + 4 * kPeriod});
  EXPECT_EQ(wait.error(), Error::kNotSynchronized);  // nothing to wait on while out of sync
  writer_->publish(back);
  ASSERT_TRUE(sleep_until(*clock_, SyncTime{first->boundary.ns + 4 * kPeriod}).ok());
  const auto next = timer.wait_next();
  ASSERT_TRUE(next.ok()) << to_string(next.error());
  EXPECT_GE(next->missed, 3u);
  EXPECT_EQ(next->index, first->index + 1 + static_cast<int64_t>(next->missed));
}

TEST_F(SleepTest, PeriodicTimerRefusesANonPositivePeriod) {
  writer_->publish(live(1, 5'000 * kSec));
  EXPECT_EQ(PeriodicTimer(*clock_, 0).wait_next().error(), Error::kInvalidArgument);
  EXPECT_EQ(PeriodicTimer(*clock_, -5).wait_next().error(), Error::kInvalidArgument);
}

TEST_F(SleepTest, CApiSleepsAndTicks) {
  const TransformSnapshot a = live(1, 5'000 * kSec);
  writer_->publish(a);
  ts_context* ctx = nullptr;
  ASSERT_EQ(ts_open((dir_ + "/segment").c_str(), &ctx), TS_OK);
  int64_t now_ns = 0;
  ASSERT_EQ(ts_get_timestamp(ctx, &now_ns), TS_OK);

  ts_sleep_options o;
  ts_sleep_options_init(&o);
  EXPECT_EQ(o.spin_ns, 50'000);
  ts_wake w{};
  ASSERT_EQ(ts_sleep_until(ctx, now_ns + 20 * kMs, &o, &w), TS_OK);
  EXPECT_EQ(w.target_ns, now_ns + 20 * kMs);
  EXPECT_GE(w.woke_ns, w.target_ns);
  EXPECT_EQ(w.epoch, 1u);
  EXPECT_EQ(ts_sleep_until(ctx, now_ns, nullptr, nullptr), TS_OK);  // past, no report wanted

  int stop = 1;
  o.stop_flag = &stop;
  EXPECT_EQ(ts_sleep_until(ctx, now_ns + 10 * kSec, &o, &w), TS_E_INTERRUPTED);
  o.stop_flag = nullptr;
  o.reserved[2] = 1;
  EXPECT_EQ(ts_sleep_until(ctx, now_ns, &o, &w), TS_E_INVALID_ARGUMENT);
  EXPECT_EQ(ts_sleep_until(nullptr, now_ns, nullptr, &w), TS_E_INVALID_ARGUMENT);

  ts_timer* timer = nullptr;
  EXPECT_EQ(ts_timer_create(ctx, 0, 0, nullptr, &timer), TS_E_INVALID_ARGUMENT);
  EXPECT_EQ(timer, nullptr);
  ASSERT_EQ(ts_timer_create(ctx, 25 * kMs, 5 * kMs, nullptr, &timer), TS_OK);
  ts_tick prev{}, t{};
  ASSERT_EQ(ts_timer_wait_next(timer, &prev), TS_OK);
  ASSERT_EQ(ts_timer_wait_next(timer, &t), TS_OK);
  EXPECT_EQ(t.boundary_ns, t.index * 25 * kMs + 5 * kMs);
  EXPECT_EQ(t.index, prev.index + 1 + static_cast<int64_t>(t.missed));
  EXPECT_GE(t.wake.woke_ns, t.boundary_ns);
  EXPECT_EQ(ts_timer_wait_next(nullptr, &t), TS_E_INVALID_ARGUMENT);
  ts_timer_destroy(timer);

  writer_->publish(shifted(a, 0));
  TransformSnapshot u = shifted(a, 0);
  u.status = ClockStatus::kUnsynchronized;
  writer_->publish(u);
  EXPECT_EQ(ts_sleep_until(ctx, now_ns + kSec, nullptr, &w), TS_E_NOT_SYNCHRONIZED);
  EXPECT_STREQ(ts_strerror(TS_E_EPOCH_CHANGED),
               "the synchronized timeline stepped (new epoch) while waiting");
  ts_close(ctx);
}

}  // namespace
}  // namespace timesync
