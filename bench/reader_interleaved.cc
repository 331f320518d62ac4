// The read's cost against clock_gettime, measured interleaved: rounds of
// 200,000 reads of each kind back to back, and the median over rounds of each
// round's own ratio to clock_gettime(CLOCK_MONOTONIC_RAW). On a shared, noisy
// machine this compares like with like (reader_bench runs each kind for a
// while, one after the other, so a neighbour's burst lands on one of them).
//
//   build/default/bench/reader_interleaved [ROUNDS]
//
// Kinds: clock_gettime; Clock::get_timestamp_with_error() and
// ts_get_timestamp_with_error() on a segment without a counter map; the
// same on a segment with one (calibrated as the agent does: a pair per
// publication, after 1 s of pairs); the ordered counter read alone.
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "counter_calibrator.hpp"
#include "counter_host.hpp"
#include "timesync/clock.hpp"
#include "timesync/timesync.h"
#include "timesync/writer.hpp"

namespace {

using namespace timesync;

int64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

TransformSnapshot snapshot() {
  LocalTime now;
  read_local_clock(&now);
  TransformSnapshot s;
  s.epoch = 1;
  s.status = ClockStatus::kSynchronized;
  s.as_of = s.ref_local = now;
  s.void_after = LocalTime{now.ns + 10'000'000'000};  // alarm.void_after_s's default
  s.ref_sync = SyncTime{now.ns + 1'500'000'000};
  s.freq_adj_q48 = ppb_to_q48(35'000.0);
  s.bound_at_as_of_ns = 2'000;
  s.bound_growth_ppb = 1'000;
  s.max_error_ns = 1'000'000'000;
  return s;
}

// ns per call of f over n calls, f inlined into the loop.
template <class F>
double per_read(int n, F f) {
  const int64_t t0 = mono_ns();
  for (int i = 0; i < n; ++i) f();
  return static_cast<double>(mono_ns() - t0) / n;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::max(3, std::atoi(argv[1])) : 40;
  constexpr int kReads = 200'000;
  const std::string plain = "/dev/shm/timesync-interleaved-" + std::to_string(getpid());
  const std::string counter = plain + "-counter";
  std::string why;
  auto w_plain = SegmentWriter::create(plain, &why);
  if (!w_plain.ok()) {
    std::fprintf(stderr, "reader_interleaved: %s\n", why.c_str());
    return 1;
  }
  auto w_counter = SegmentWriter::create(counter, &why);
  if (!w_counter.ok()) {
    std::fprintf(stderr, "reader_interleaved: %s\n", why.c_str());
    return 1;
  }
  agent::CounterCalibrator cal;
  for (int i = 0; i < 20; ++i) {
    cal.add(agent::take_counter_pair());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // Both segments republished before every round, as an agent would (so no
  // round runs past the slots' 10 s validity).
  TransformSnapshot with_map;
  const auto publish = [&] {
    w_plain.value()->publish(snapshot());
    with_map = snapshot();
    cal.add(agent::take_counter_pair());  // after as_of, as the agent's
    with_map.counter = cal.map_for(with_map);
    w_counter.value()->publish(with_map);
    return with_map.counter.valid();
  };
  if (!publish()) {
    std::fprintf(stderr, "reader_interleaved: the counter gives no map on this machine (%s)\n",
                 cal.why_none().c_str());
    return 1;
  }
  auto c_plain = Clock::open(plain);
  auto c_counter = Clock::open(counter);
  ts_context* x_plain = nullptr;
  ts_context* x_counter = nullptr;
  if (!c_plain.ok() || !c_counter.ok() || ts_open(plain.c_str(), &x_plain) != TS_OK ||
      ts_open(counter.c_str(), &x_counter) != TS_OK) {
    std::fprintf(stderr, "reader_interleaved: cannot open the segments\n");
    return 1;
  }
  // Every kind must give times (checked once, outside the timed loops,
  // which only sum what they read).
  for (const Clock* c : {&c_plain.value(), &c_counter.value()}) {
    if (!c->get_timestamp_with_error().ok()) {
      std::fprintf(stderr, "reader_interleaved: a read was refused\n");
      return 1;
    }
  }
  uint64_t sink = 0;
  const auto cpp = [&](const Clock& c) {
    sink += static_cast<uint64_t>(c.get_timestamp_with_error().time.ns);
  };
  const auto capi = [&](ts_context* x) {
    ts_timestamp t{};
    sink += static_cast<uint64_t>(ts_get_timestamp_with_error(x, &t)) + static_cast<uint64_t>(t.time_ns);
  };
  const char* names[] = {"clock_gettime(CLOCK_MONOTONIC_RAW)",
                         "Clock::get_timestamp_with_error()",
                         "ts_get_timestamp_with_error()",
                         "Clock::get_timestamp_with_error(), counter map",
                         "ts_get_timestamp_with_error(), counter map",
                         "the counter alone (ordered read)"};
  constexpr size_t kKinds = std::size(names);
  std::vector<double> ns[kKinds], ratio[kKinds];
  // A read on the counter path has the map's error in its bound.
  const auto by_counter = [&] {
    const TimestampWithError r = c_counter.value().get_timestamp_with_error();
    return r.ok() && r.bound_ns >= bound_at(with_map, r.local) + with_map.counter.error_ns;
  };
  for (int r = 0; r < rounds; ++r) {
    if (!publish() || !by_counter()) {
      std::fprintf(stderr, "reader_interleaved: round %d would not read the counter\n", r);
      return 1;
    }
    double round[kKinds];
    round[0] = per_read(kReads, [&] {
      timespec ts{};
      clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
      sink += static_cast<uint64_t>(ts.tv_nsec);
    });
    round[1] = per_read(kReads, [&] { cpp(c_plain.value()); });
    round[2] = per_read(kReads, [&] { capi(x_plain); });
    round[3] = per_read(kReads, [&] { cpp(c_counter.value()); });
    round[4] = per_read(kReads, [&] { capi(x_counter); });
    round[5] = per_read(kReads, [&] { sink += detail::read_counter(); });
    for (size_t k = 0; k < kKinds; ++k) {
      ns[k].push_back(round[k]);
      ratio[k].push_back(round[k] / round[0]);
    }
  }
  std::printf("%d interleaved rounds of %d reads each; counter map %.6f GHz, error %llu ns\n",
              rounds, kReads, 1.0 / cal.ns_per_count(),
              static_cast<unsigned long long>(with_map.counter.error_ns));
  std::printf("| read | median ns/read | median ratio to clock_gettime |\n|---|---|---|\n");
  for (size_t k = 0; k < kKinds; ++k) {
    std::printf("| %s | %.1f | %.2f |\n", names[k], median(ns[k]), median(ratio[k]));
  }
  ts_close(x_plain);
  ts_close(x_counter);
  w_plain.value().reset();
  w_counter.value().reset();
  for (const std::string& p : {plain, counter}) {
    unlink(p.c_str());
    unlink((p + ".lock").c_str());
  }
  return sink == 42 ? 1 : 0;  // keeps the reads
}
