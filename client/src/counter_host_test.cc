// The counter path on this machine's real counter: the agent's pairs and
// calibrator fit the map, a real segment publishes it, and a real Clock reads
// through the inline path; every reading must lie, within the map's error,
// between two clock_gettime(CLOCK_MONOTONIC_RAW) reads taken around it.
// Whether the kernel would let `counter: auto` use the counter here does not
// matter to the test: it checks the map's honesty against the clock, which
// is what `counter: on` relies on.
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include <gtest/gtest.h>

#include "counter_calibrator.hpp"
#include "counter_host.hpp"
#include "timesync/clock.hpp"
#include "timesync/writer.hpp"

namespace timesync::agent {
namespace {

int64_t raw_now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void pause_ms(int ms) {
  const timespec d{0, ms * 1'000'000L};
  clock_nanosleep(CLOCK_MONOTONIC, 0, &d, nullptr);
}

TEST(CounterHostTest, TheCounterPathAgreesWithClockGettime) {
  if (!detail::kHaveCounter) {
    // No counter this build can read: the agent says so and never maps one.
    EXPECT_NE(counter_refusal(config::CounterUse::kOn, read_counter_facts()).find("no counter"),
              std::string::npos);
    return;
  }
  // 20 pairs 50 ms apart: a 1 s baseline, as the agent has after a few polls.
  CounterCalibrator cal;
  int restarts = 0;
  for (int i = 0; i < 20 || cal.ns_per_count() == 0; ++i) {
    const CounterCalibrator::Verdict v = cal.add(take_counter_pair());
    if (v != CounterCalibrator::Verdict::kFirst && v != CounterCalibrator::Verdict::kAgrees) {
      ++restarts;
      std::fprintf(stderr, "pair %d: %s\n", i, cal.why().c_str());
    }
    ASSERT_LT(restarts, 5) << "the counter keeps leaving its line: " << cal.why();
    pause_ms(50);
  }
  constexpr int64_t kShiftNs = 7'000'000'123;
  const int64_t now = raw_now();
  TransformSnapshot s;
  s.epoch = 1;
  s.as_of = s.ref_local = LocalTime{now};
  s.void_after = LocalTime{now + 2'000'000'000};
  s.ref_sync = SyncTime{now + kShiftNs};
  s.bound_at_as_of_ns = 1000;
  s.max_error_ns = 1'000'000'000;
  s.status = ClockStatus::kSynchronized;
  cal.add(take_counter_pair());  // after as_of, as the agent's
  s.counter = cal.map_for(s);
  ASSERT_TRUE(s.counter.valid()) << "no map after 1 s of pairs";
  std::fprintf(stderr, "map: %.6f GHz, error %llu ns\n", 1.0 / cal.ns_per_count(),
               static_cast<unsigned long long>(s.counter.error_ns));

  const std::string path = "/dev/shm/timesync-counter-test-" + std::to_string(getpid());
  std::string why;
  auto writer = SegmentWriter::create(path, &why);
  ASSERT_TRUE(writer.ok()) << why;
  writer.value()->publish(s);
  auto clock = Clock::open(path);
  ASSERT_TRUE(clock.ok()) << to_string(clock.error());

  uint64_t outside = 0, other_path = 0;
  int64_t worst_ns = 0;
  constexpr int kReads = 200'000;
  for (int i = 0; i < kReads; ++i) {
    const int64_t before = raw_now();
    const TimestampWithError r = clock.value().get_timestamp_with_error();
    const int64_t after = raw_now();
    ASSERT_TRUE(r.ok()) << to_string(r.error);
    // The counter path adds the map's error to the bound; clock_gettime's does not.
    if (r.bound_ns < 1000 + s.counter.error_ns) {
      ++other_path;
      continue;
    }
    const int64_t t = r.time.ns - kShiftNs;  // the raw instant the counter said
    const auto e = static_cast<int64_t>(s.counter.error_ns);
    const int64_t miss = t < before ? before - t : (t > after ? t - after : 0);
    worst_ns = std::max(worst_ns, miss);
    if (miss > e) ++outside;
  }
  std::fprintf(stderr, "%d reads: %llu outside [before - error, after + error], worst %lld ns "
               "beyond [before, after]; %llu by clock_gettime\n",
               kReads, static_cast<unsigned long long>(outside), static_cast<long long>(worst_ns),
               static_cast<unsigned long long>(other_path));
  EXPECT_EQ(outside, 0u);
  EXPECT_EQ(other_path, 0u) << "the inline path did not read the counter";
  writer.value().reset();
  unlink(path.c_str());
  unlink((path + ".lock").c_str());
}

TEST(CounterHostTest, TheCpuCheckLeavesTheThreadWhereItMayRun) {
  cpu_set_t before, after;
  ASSERT_EQ(sched_getaffinity(0, sizeof(before), &before), 0);
  bool measured = false;
  const std::string why = check_counter_across_cpus(&measured);
  ASSERT_EQ(sched_getaffinity(0, sizeof(after), &after), 0);
  EXPECT_TRUE(CPU_EQUAL(&before, &after)) << "the check left the thread pinned";
  // Two or more CPUs to run on, and nothing stops this thread from moving:
  // they were compared.
  EXPECT_EQ(measured, CPU_COUNT(&before) >= 2);
  // A machine whose CPUs disagree is possible; the message must then name one.
  if (!why.empty()) {
    EXPECT_NE(why.find("the counter of CPU"), std::string::npos) << why;
  }
  std::fprintf(stderr, "across %d CPUs: %s\n", CPU_COUNT(&before), why.empty() ? "agree" : why.c_str());
}

}  // namespace
}  // namespace timesync::agent
