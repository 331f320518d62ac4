#include "timesync/timebase/time_source.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <future>
#include <limits>
#include <string>
#include <thread>

namespace timesync {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kSec = 1'000'000'000;

Waker make_waker() {
  Result<Waker> w = Waker::create();
  EXPECT_TRUE(w.ok());
  return std::move(w).value();
}

TEST(MonotonicRawSource, ReadsHostRawAndMapsIdentically) {
  auto src = make_monotonic_raw_source();
  const int64_t a = host_raw_now_ns();
  const int64_t n = src->now_ns();
  const int64_t b = host_raw_now_ns();
  EXPECT_LE(a, n);
  EXPECT_LE(n, b);
  EXPECT_EQ(src->to_host_raw_ns(12345), 12345);
  EXPECT_EQ(src->from_host_raw_ns(-7), -7);
  EXPECT_EQ(src->describe(), "CLOCK_MONOTONIC_RAW");
}

TEST(RealtimeSource, ReadsRealtimeAndMapsApproximately) {
  auto src = make_realtime_source();
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  const int64_t rt = static_cast<int64_t>(ts.tv_sec) * kSec + ts.tv_nsec;
  EXPECT_LE(std::llabs(src->now_ns() - rt), 100 * kMs);
  const int64_t host = host_raw_now_ns();
  EXPECT_LE(std::llabs(src->to_host_raw_ns(src->now_ns()) - host), 100 * kMs);
  const int64_t x = 1'700'000'000 * kSec;
  EXPECT_LE(std::llabs(src->from_host_raw_ns(src->to_host_raw_ns(x)) - x), 1 * kMs);
}

TEST(SleepUntil, ReturnsAtOrAfterDeadline) {
  Waker waker = make_waker();
  for (auto& src : {make_monotonic_raw_source(), make_realtime_source()}) {
    for (const Waker* w : {static_cast<const Waker*>(nullptr), static_cast<const Waker*>(&waker)}) {
      const int64_t deadline = src->now_ns() + 20 * kMs;
      EXPECT_TRUE(src->sleep_until(deadline, w)) << src->describe();
      const int64_t now = src->now_ns();
      EXPECT_GE(now, deadline) << src->describe();
      EXPECT_LT(now, deadline + 2 * kSec) << src->describe();  // loose: loaded CI
    }
  }
}

TEST(SleepUntil, PastDeadlineReturnsTrueEvenWhenSignalled) {
  Waker waker = make_waker();
  waker.signal();
  auto src = make_monotonic_raw_source();
  EXPECT_TRUE(src->sleep_until(src->now_ns() - kSec, &waker));
}

TEST(Waker, LatchesUntilReset) {
  Waker waker = make_waker();
  EXPECT_FALSE(waker.signalled());
  waker.signal();
  waker.signal();
  EXPECT_TRUE(waker.signalled());
  auto src = make_monotonic_raw_source();
  EXPECT_FALSE(src->sleep_until(std::numeric_limits<int64_t>::max(), &waker));
  EXPECT_TRUE(waker.signalled());  // a sleep does not consume the signal
  waker.reset();
  EXPECT_FALSE(waker.signalled());

  Waker moved = std::move(waker);
  moved.signal();
  EXPECT_TRUE(moved.signalled());
  EXPECT_FALSE(waker.signalled());  // NOLINT(bugprone-use-after-move): moved-from is inert
}

// Bounded wait until thread `tid` is blocked in a syscall (state S in
// /proc), so the signal below interrupts a sleep in progress rather than
// landing before it starts.
bool wait_until_blocked(pid_t tid) {
  const std::string path = "/proc/self/task/" + std::to_string(tid) + "/stat";
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < give_up) {
    std::ifstream in(path);
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t paren = stat.rfind(')');
    if (paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'S') {
      return true;
    }
    std::this_thread::yield();
  }
  return false;
}

// Two threads sleep toward a 60 s deadline; one signal from another thread
// must release both within 2 s.
TEST(Waker, InterruptsLongSleepsPromptly) {
  Waker waker = make_waker();
  auto src = make_monotonic_raw_source();
  const int64_t deadline = src->now_ns() + 60 * kSec;
  std::promise<pid_t> tid_a;
  std::promise<pid_t> tid_b;
  auto sleeper = [&](std::promise<pid_t>* tid) {
    tid->set_value(gettid());
    return src->sleep_until(deadline, &waker);
  };
  std::future<bool> a = std::async(std::launch::async, sleeper, &tid_a);
  std::future<bool> b = std::async(std::launch::async, sleeper, &tid_b);
  EXPECT_TRUE(wait_until_blocked(tid_a.get_future().get()));
  EXPECT_TRUE(wait_until_blocked(tid_b.get_future().get()));
  std::thread([&] { waker.signal(); }).join();
  ASSERT_EQ(a.wait_for(std::chrono::seconds(2)), std::future_status::ready);
  ASSERT_EQ(b.wait_for(std::chrono::seconds(2)), std::future_status::ready);
  EXPECT_FALSE(a.get());
  EXPECT_FALSE(b.get());
}

Waker* g_signal_waker = nullptr;
extern "C" void on_sigusr1(int) { g_signal_waker->signal(); }

// The SIGTERM path: a handler signals the waker, the sleeping thread returns.
TEST(Waker, CanBeSignalledFromASignalHandler) {
  Waker waker = make_waker();
  g_signal_waker = &waker;
  struct sigaction sa {};
  struct sigaction old {};
  sa.sa_handler = on_sigusr1;
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);

  auto src = make_monotonic_raw_source();
  const int64_t deadline = src->now_ns() + 60 * kSec;
  std::promise<pid_t> tid;
  std::future<bool> sleeper = std::async(std::launch::async, [&] {
    tid.set_value(gettid());
    return src->sleep_until(deadline, &waker);
  });
  EXPECT_TRUE(wait_until_blocked(tid.get_future().get()));
  ASSERT_EQ(raise(SIGUSR1), 0);
  const bool ready = sleeper.wait_for(std::chrono::seconds(2)) == std::future_status::ready;
  if (!ready) waker.signal();  // release the thread before failing
  EXPECT_TRUE(ready);
  EXPECT_FALSE(sleeper.get());
  sigaction(SIGUSR1, &old, nullptr);
  g_signal_waker = nullptr;
}

}  // namespace
}  // namespace timesync
