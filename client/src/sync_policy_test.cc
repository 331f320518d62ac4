// SyncPolicy alone: facts in, decisions out, no clock.
#include "sync_policy.hpp"

#include <gtest/gtest.h>

namespace timesync::agent {
namespace {

constexpr int64_t kSec = 1'000'000'000;

PolicyConfig config() {
  PolicyConfig c;
  c.poll_min_s = 0.125;
  c.poll_max_s = 4;
  c.max_error_ns = 1'000'000;
  c.clear_ratio = 0.8;
  c.unreachable_after_s = 5;
  return c;
}

RoundFacts good(int64_t now, uint64_t bound_ns) {
  RoundFacts f;
  f.now_local = now;
  f.exchange = RoundFacts::Exchange::kAnswered;
  f.accepted = true;
  f.last_answer_local = now;
  f.locked = true;
  f.has_estimate = true;
  f.bound_now_ns = bound_ns;
  f.growth_ppb = 1'000;
  f.master = "m:1";
  return f;
}

TEST(SyncPolicy, UnsynchronizedUntilLockedThenSynchronized) {
  SyncPolicy p(config(), 0);
  RoundFacts f = good(0, 50'000);
  f.locked = false;
  EXPECT_EQ(p.round(f).status, ClockStatus::kUnsynchronized);
  EXPECT_EQ(p.round(good(kSec / 8, 50'000)).status, ClockStatus::kSynchronized);
}

TEST(SyncPolicy, ABoundThatCannotLastUntilTheNextPollIsNotSynchronized) {
  SyncPolicy p(config(), 0);
  // 990 us now, growing 100 ppm: 1002.5 us when the next poll (0.125 s) is due.
  RoundFacts f = good(0, 990'000);
  f.growth_ppb = 100'000;
  const Decision d = p.round(f);
  EXPECT_EQ(d.status, ClockStatus::kUnsynchronized);
  EXPECT_FALSE(d.alarm);  // never supported: not armed yet
}

TEST(SyncPolicy, BoundAlarmRaisesAboveMaxAndClearsOnlyBelowTheRatio) {
  SyncPolicy p(config(), 0);
  int64_t t = 0;
  EXPECT_EQ(p.round(good(t, 100'000)).status, ClockStatus::kSynchronized);
  t += kSec;
  Decision d = p.round(good(t, 1'200'000));
  ASSERT_TRUE(d.alarm);
  EXPECT_TRUE(d.alarm->raised);
  EXPECT_EQ(d.alarm->reason, AlarmReason::kBoundExceeded);
  EXPECT_EQ(d.status, ClockStatus::kUnsynchronized);
  EXPECT_EQ(p.alarms_raised(), 1u);
  // Below max but above 0.8 x max: still raised (hysteresis), still refused.
  t += kSec;
  d = p.round(good(t, 900'000));
  EXPECT_FALSE(d.alarm);
  EXPECT_TRUE(p.alarm_active());
  EXPECT_EQ(d.status, ClockStatus::kUnsynchronized);
  t += kSec;
  d = p.round(good(t, 790'000));
  ASSERT_TRUE(d.alarm);
  EXPECT_FALSE(d.alarm->raised);
  EXPECT_EQ(d.alarm->reason, AlarmReason::kBoundExceeded);  // the reason it clears
  EXPECT_EQ(d.status, ClockStatus::kSynchronized);
}

TEST(SyncPolicy, FailuresHoldOverThenRaiseUnreachableAndRecover) {
  SyncPolicy p(config(), 0);
  int64_t t = 0;
  p.round(good(t, 100'000));
  const int64_t last_answer = t;
  Decision d;
  for (int i = 1; i <= 4; ++i) {
    t += kSec;
    RoundFacts f = good(t, 100'000 + static_cast<uint64_t>(i) * 10'000);
    f.exchange = RoundFacts::Exchange::kFailed;
    f.accepted = false;
    f.last_answer_local = last_answer;
    f.last_error = "connection refused";
    d = p.round(f);
    EXPECT_EQ(d.status, ClockStatus::kHoldover) << i;
    EXPECT_EQ(d.poll_s, 0.125) << "polls fast while failing";
    EXPECT_FALSE(d.alarm);
  }
  t += kSec;  // 5 s without an answer
  RoundFacts f = good(t, 150'000);
  f.exchange = RoundFacts::Exchange::kFailed;
  f.last_answer_local = last_answer;
  f.last_error = "connection refused";
  d = p.round(f);
  ASSERT_TRUE(d.alarm);
  EXPECT_EQ(d.alarm->reason, AlarmReason::kMasterUnreachable);
  EXPECT_NE(d.alarm->message.find("connection refused"), std::string::npos) << d.alarm->message;
  EXPECT_EQ(d.status, ClockStatus::kUnsynchronized);
  t += kSec;
  d = p.round(good(t, 120'000));
  ASSERT_TRUE(d.alarm);
  EXPECT_FALSE(d.alarm->raised);
  EXPECT_EQ(d.status, ClockStatus::kSynchronized);
}

TEST(SyncPolicy, PollDoublesAfterFourAcceptedAndHalvesWhenTheBoundWouldGrowTooFar) {
  SyncPolicy p(config(), 0);
  int64_t t = 0;
  double poll = 0;
  for (int i = 0; i < 40; ++i, t += kSec) poll = p.round(good(t, 50'000)).poll_s;
  EXPECT_EQ(poll, 4.0);
  // 300 us now, growing 100 ppm: two 4 s polls ahead 1.1 ms > half the limit.
  RoundFacts f = good(t, 300'000);
  f.growth_ppb = 100'000;
  EXPECT_EQ(p.round(f).poll_s, 2.0);
  t += kSec;
  f.now_local = t;
  EXPECT_EQ(p.round(f).poll_s, 1.0);
}

TEST(SyncPolicy, ADetectedFrequencyChangePollsFastAgain) {
  SyncPolicy p(config(), 0);
  int64_t t = 0;
  for (int i = 0; i < 40; ++i, t += kSec) p.round(good(t, 50'000));
  EXPECT_EQ(p.poll_s(), 4.0);
  RoundFacts f = good(t, 50'000);
  f.freq_changes = 1;
  const Decision d = p.round(f);
  EXPECT_TRUE(d.frequency_changed);
  EXPECT_EQ(d.poll_s, 0.125);
}

TEST(SyncPolicy, AnEstimateThatNeverMeetsMaxErrorRaisesTheAlarmAfterAWhile) {
  // Locked, answering, but max_error is below what this link can give.
  SyncPolicy p(config(), 0);
  int64_t t = 0;
  Decision d;
  for (; t < 5 * kSec; t += kSec / 2) {
    d = p.round(good(t, 2'000'000));
    EXPECT_FALSE(d.alarm) << t;
    EXPECT_EQ(d.status, ClockStatus::kUnsynchronized);
  }
  d = p.round(good(t, 2'000'000));
  ASSERT_TRUE(d.alarm);
  EXPECT_EQ(d.alarm->reason, AlarmReason::kBoundExceeded);
}

}  // namespace
}  // namespace timesync::agent
