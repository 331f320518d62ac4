// Cost of a libtimesync read against the clock read it is built on, in one run:
//   clock_gettime(CLOCK_MONOTONIC_RAW)  vs  Clock::get_timestamp_with_error()
// with one and two reader threads while a writer publishes at 100 Hz; and the
// same read from a segment whose slots carry the CPU counter's map (issue 20),
// calibrated as the agent does (a pair per publication, after 1 s of pairs),
// beside the bare counter read it is built on.
// bench/run_reader_bench.sh turns the output into median ratios.
#include <benchmark/benchmark.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "counter_calibrator.hpp"
#include "counter_host.hpp"
#include "timesync/clock.hpp"
#include "timesync/timesync.h"
#include "timesync/writer.hpp"

namespace {

std::string g_path;
timesync::Clock* g_clock = nullptr;
timesync::Clock* g_counter_clock = nullptr;
ts_context* g_ctx = nullptr;
ts_context* g_counter_ctx = nullptr;

timesync::TransformSnapshot live_snapshot(uint64_t n) {
  timesync::LocalTime now;
  timesync::read_local_clock(&now);
  timesync::TransformSnapshot s;
  s.epoch = 1;
  s.status = timesync::ClockStatus::kSynchronized;
  s.as_of = now;
  s.void_after = timesync::LocalTime{now.ns + 10'000'000'000};  // alarm.void_after_s's default
  s.ref_local = now;
  s.ref_sync = timesync::SyncTime{now.ns + 1'500'000'000 + static_cast<int64_t>(n % 7)};
  s.freq_adj_q48 = timesync::ppb_to_q48(35'000.0);
  s.bound_at_as_of_ns = 2'000;
  s.bound_growth_ppb = 1'000;
  s.max_error_ns = 1'000'000'000;
  s.set_master_name("bench-master");
  return s;
}

void BM_ClockGettimeMonotonicRaw(benchmark::State& state) {
  timespec ts{};
  for (auto _ : state) {
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    benchmark::DoNotOptimize(ts);
  }
}

void read_with(benchmark::State& state, const timesync::Clock* clock) {
  for (auto _ : state) {
    auto r = clock->get_timestamp_with_error();
    benchmark::DoNotOptimize(r);
    if (!r.ok()) state.SkipWithError(timesync::to_string(r.error));
  }
}
void c_read_with(benchmark::State& state, ts_context* ctx) {
  ts_timestamp t{};
  for (auto _ : state) {
    const ts_error e = ts_get_timestamp_with_error(ctx, &t);
    benchmark::DoNotOptimize(t);
    if (e != TS_OK) state.SkipWithError(ts_strerror(e));
  }
}

void BM_GetTimestampWithError(benchmark::State& state) { read_with(state, g_clock); }
void BM_CApiGetTimestampWithError(benchmark::State& state) { c_read_with(state, g_ctx); }
void BM_ReadCounter(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(timesync::detail::read_counter());
}
void BM_CounterGetTimestampWithError(benchmark::State& state) { read_with(state, g_counter_clock); }
void BM_CounterCApiGetTimestampWithError(benchmark::State& state) {
  c_read_with(state, g_counter_ctx);
}

BENCHMARK(BM_ClockGettimeMonotonicRaw)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_GetTimestampWithError)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_CApiGetTimestampWithError)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_ReadCounter)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_CounterGetTimestampWithError)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_CounterCApiGetTimestampWithError)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  g_path = "/dev/shm/timesync-bench-" + std::to_string(getpid());
  std::string why;
  auto writer = timesync::SegmentWriter::create(g_path, &why);
  if (!writer.ok()) {
    std::fprintf(stderr, "reader_bench: %s\n", why.c_str());
    return 1;
  }
  writer.value()->publish(live_snapshot(0));
  auto clock = timesync::Clock::open(g_path);
  if (!clock.ok() || ts_open(g_path.c_str(), &g_ctx) != TS_OK) {
    std::fprintf(stderr, "reader_bench: cannot open %s\n", g_path.c_str());
    return 1;
  }
  g_clock = &clock.value();
  // The counter's segment: 1 s of pairs first, as an agent has after a few polls.
  const std::string counter_path = g_path + "-counter";
  auto counter_writer = timesync::SegmentWriter::create(counter_path, &why);
  if (!counter_writer.ok()) {
    std::fprintf(stderr, "reader_bench: %s\n", why.c_str());
    return 1;
  }
  timesync::agent::CounterCalibrator cal;
  const auto counter_snapshot = [&cal](uint64_t n) {
    timesync::TransformSnapshot s = live_snapshot(n);
    cal.add(timesync::agent::take_counter_pair());  // after as_of, as the agent's
    s.counter = cal.map_for(s);
    return s;
  };
  for (int i = 0; i < 20; ++i) {
    counter_snapshot(0);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const timesync::TransformSnapshot first = counter_snapshot(0);
  if (!first.counter.valid()) {
    std::fprintf(stderr, "reader_bench: the counter gives no map on this machine\n");
    return 1;
  }
  counter_writer.value()->publish(first);
  auto counter_clock = timesync::Clock::open(counter_path);
  if (!counter_clock.ok() || ts_open(counter_path.c_str(), &g_counter_ctx) != TS_OK) {
    std::fprintf(stderr, "reader_bench: cannot open %s\n", counter_path.c_str());
    return 1;
  }
  g_counter_clock = &counter_clock.value();
  benchmark::AddCustomContext("counter map", std::to_string(1.0 / cal.ns_per_count()) +
                                                 " GHz, error " +
                                                 std::to_string(first.counter.error_ns) + " ns");

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> publishes{0};
  std::thread publisher([&] {  // 100 Hz, as an agent polling fast would
    for (uint64_t n = 1; !stop.load(); ++n) {
      writer.value()->publish(live_snapshot(n));
      counter_writer.value()->publish(counter_snapshot(n));
      publishes.fetch_add(1);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  benchmark::AddCustomContext("writer", "publishing at 100 Hz");
  benchmark::RunSpecifiedBenchmarks();
  stop.store(true);
  publisher.join();
  std::fprintf(stderr, "writer published %llu updates during the run\n",
               static_cast<unsigned long long>(publishes.load()));
  ts_close(g_ctx);
  ts_close(g_counter_ctx);
  writer.value().reset();
  counter_writer.value().reset();
  for (const std::string& p : {g_path, counter_path}) {
    unlink(p.c_str());
    unlink((p + ".lock").c_str());
  }
  benchmark::Shutdown();
  return 0;
}
