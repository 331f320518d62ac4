// Torn-read stress: one writer publishes as fast as it can while several reader
// threads, sharing one Clock handle, check that every snapshot they get is
// internally consistent. Every field of a published snapshot derives from one
// counter k, so a snapshot mixing two publishes is detected. Runs under TSan in
// CI (scripts/test.sh), where the data-race detector checks the fences too.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "timesync/clock.hpp"
#include "timesync/writer.hpp"

namespace timesync {
namespace {

TransformSnapshot snapshot_for(uint64_t k) {
  TransformSnapshot s;
  s.epoch = k;
  s.status = (k % 2 == 0) ? ClockStatus::kSynchronized : ClockStatus::kHoldover;
  s.as_of = LocalTime{static_cast<int64_t>(k * 10)};
  s.void_after = LocalTime{static_cast<int64_t>(k * 10 + 1'000'000'000'000)};
  s.ref_local = LocalTime{static_cast<int64_t>(k * 3)};
  s.ref_sync = SyncTime{static_cast<int64_t>(k * 5)};
  s.freq_adj_q48 = static_cast<int64_t>(k % 1'000'000) - 500'000;
  s.bound_at_as_of_ns = k * 7;
  s.bound_growth_ppb = k % 100'000;
  s.max_error_ns = k * 11;
  s.master_instance = ~k;
  s.set_master_name("master-" + std::to_string(k));
  return s;
}

bool consistent(const TransformSnapshot& s) {
  const TransformSnapshot want = snapshot_for(s.epoch);
  return s.status == want.status && s.as_of == want.as_of && s.void_after == want.void_after &&
         s.ref_local == want.ref_local && s.ref_sync == want.ref_sync &&
         s.freq_adj_q48 == want.freq_adj_q48 && s.bound_at_as_of_ns == want.bound_at_as_of_ns &&
         s.bound_growth_ppb == want.bound_growth_ppb && s.max_error_ns == want.max_error_ns &&
         s.master_instance == want.master_instance && s.master_id == want.master_id;
}

uint64_t writes_from_env() {
  const char* env = std::getenv("TIMESYNC_STRESS_WRITES");
  return env != nullptr ? std::strtoull(env, nullptr, 10) : 2'000'000;
}

TEST(SeqlockStress, NoTornReads) {
  char tmpl[] = "/tmp/timesync-stress-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string path = std::string(tmpl) + "/segment";
  auto writer = SegmentWriter::create(path);
  ASSERT_TRUE(writer.ok());
  writer.value()->publish(snapshot_for(0));
  auto clock = Clock::open(path);
  ASSERT_TRUE(clock.ok());

  const uint64_t writes = writes_from_env();
  constexpr int kReaders = 2;
  std::atomic<bool> done{false};
  std::atomic<int> started{0};
  std::vector<uint64_t> reads(kReaders, 0), torn(kReaders, 0), errors(kReaders, 0),
      distinct(kReaders, 0);
  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&, r] {
      started.fetch_add(1);
      uint64_t last = UINT64_MAX;
      // Read until the writer has finished, then once more.
      for (bool more = true; more;) {
        more = !done.load(std::memory_order_acquire);
        auto s = clock->snapshot();
        ++reads[r];
        if (!s.ok()) {
          ++errors[r];
          continue;
        }
        if (!consistent(s.value())) ++torn[r];
        if (s->epoch != last) ++distinct[r];
        last = s->epoch;
      }
    });
  }
  while (started.load() < kReaders) std::this_thread::yield();
  for (uint64_t k = 1; k <= writes; ++k) writer.value()->publish(snapshot_for(k));
  done.store(true, std::memory_order_release);
  for (auto& t : readers) t.join();

  for (int r = 0; r < kReaders; ++r) {
    std::printf("reader %d: %llu reads, %llu distinct snapshots, %llu torn, %llu errors\n", r,
                static_cast<unsigned long long>(reads[r]),
                static_cast<unsigned long long>(distinct[r]),
                static_cast<unsigned long long>(torn[r]),
                static_cast<unsigned long long>(errors[r]));
    EXPECT_EQ(torn[r], 0u);
    EXPECT_EQ(errors[r], 0u);
    EXPECT_GT(distinct[r], 1u);  // the reader really raced the writer
  }
  // The last read of every reader happened after the last publish.
  auto final_snapshot = clock->snapshot();
  ASSERT_TRUE(final_snapshot.ok());
  EXPECT_EQ(final_snapshot->epoch, writes);
  writer.value().reset();
  std::remove(path.c_str());
  std::remove((path + ".lock").c_str());
  std::remove(tmpl);
}

}  // namespace
}  // namespace timesync
