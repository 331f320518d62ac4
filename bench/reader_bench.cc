// Cost of a libtimesync read against the clock read it is built on, in one run:
//   clock_gettime(CLOCK_MONOTONIC_RAW)  vs  Clock::get_timestamp_with_error()
// with one and two reader threads while a writer publishes at 100 Hz.
// bench/run_reader_bench.sh turns the output into median ratios.
#include <benchmark/benchmark.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "timesync/clock.hpp"
#include "timesync/timesync.h"
#include "timesync/writer.hpp"

namespace {

std::string g_path;
timesync::Clock* g_clock = nullptr;
ts_context* g_ctx = nullptr;

timesync::TransformSnapshot live_snapshot(uint64_t n) {
  timesync::LocalTime now;
  timesync::read_local_clock(&now);
  timesync::TransformSnapshot s;
  s.epoch = 1;
  s.status = timesync::ClockStatus::kSynchronized;
  s.as_of = now;
  s.void_after = timesync::LocalTime{now.ns + 3'600'000'000'000};
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

void BM_GetTimestampWithError(benchmark::State& state) {
  for (auto _ : state) {
    auto r = g_clock->get_timestamp_with_error();
    benchmark::DoNotOptimize(r);
    if (!r.ok()) state.SkipWithError(timesync::to_string(r.error));
  }
}

void BM_CApiGetTimestampWithError(benchmark::State& state) {
  ts_timestamp t{};
  for (auto _ : state) {
    const ts_error e = ts_get_timestamp_with_error(g_ctx, &t);
    benchmark::DoNotOptimize(t);
    if (e != TS_OK) state.SkipWithError(ts_strerror(e));
  }
}

BENCHMARK(BM_ClockGettimeMonotonicRaw)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_GetTimestampWithError)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_CApiGetTimestampWithError)->Threads(1)->Threads(2)->UseRealTime();

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

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> publishes{0};
  std::thread publisher([&] {  // 100 Hz, as an agent polling fast would
    for (uint64_t n = 1; !stop.load(); ++n) {
      writer.value()->publish(live_snapshot(n));
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
  writer.value().reset();
  unlink(g_path.c_str());
  unlink((g_path + ".lock").c_str());
  benchmark::Shutdown();
  return 0;
}
