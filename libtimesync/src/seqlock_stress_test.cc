// Torn-read stress: one writer publishes as fast as it can while several reader
// threads check that every snapshot they get is internally consistent: on the
// mapping (the seqlock itself), through a shared Clock, through the file, and
// across writer restarts (the Clock swapping copies under its readers). Every
// field of a published snapshot derives from one counter k, so a snapshot
// mixing two publishes is detected. Runs under TSan in CI (scripts/test.sh),
// where the data-race detector checks the fences too.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "segment.hpp"
#include "share.hpp"
#include "timesync/clock.hpp"
#include "timesync/segment_layout.hpp"
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

// Paths whose writer makes system calls per publish run for a time instead.
std::chrono::milliseconds duration_from_env() {
  const char* env = std::getenv("TIMESYNC_STRESS_MS");
  return std::chrono::milliseconds(env != nullptr ? std::strtoll(env, nullptr, 10) : 3'000);
}

struct Tally {
  uint64_t reads = 0, torn = 0, errors = 0, distinct = 0;
};

void report(const char* what, const std::vector<Tally>& t) {
  for (size_t r = 0; r < t.size(); ++r) {
    std::printf("%s reader %zu: %llu reads, %llu distinct snapshots, %llu torn, %llu errors\n",
                what, r, static_cast<unsigned long long>(t[r].reads),
                static_cast<unsigned long long>(t[r].distinct),
                static_cast<unsigned long long>(t[r].torn),
                static_cast<unsigned long long>(t[r].errors));
    EXPECT_EQ(t[r].torn, 0u);
    EXPECT_EQ(t[r].errors, 0u);
    EXPECT_GT(t[r].distinct, 1u);  // the reader really raced the writer
  }
}

// Readers call read(&snapshot) until the writer is done, then once more.
template <class Read>
std::vector<Tally> race(int readers, const Read& read, const std::function<void()>& write_all) {
  std::atomic<bool> done{false};
  std::atomic<int> started{0};
  std::vector<Tally> t(static_cast<size_t>(readers));
  std::vector<std::thread> threads;
  for (int r = 0; r < readers; ++r) {
    threads.emplace_back([&, r] {
      Tally& me = t[static_cast<size_t>(r)];
      started.fetch_add(1);
      uint64_t last = UINT64_MAX;
      for (bool more = true; more;) {
        more = !done.load(std::memory_order_acquire);
        TransformSnapshot s;
        ++me.reads;
        if (!read(&s)) {
          ++me.errors;
          continue;
        }
        if (!consistent(s)) ++me.torn;
        if (s.epoch != last) ++me.distinct;
        last = s.epoch;
      }
    });
  }
  while (started.load() < readers) std::this_thread::yield();
  write_all();
  done.store(true, std::memory_order_release);
  for (auto& th : threads) th.join();
  return t;
}

// The protocol itself, on the sealed copy readers map: 2M publishes as fast
// as the writer can.
TEST(SeqlockStress, NoTornReads) {
  void* map = nullptr;
  int ro = -1;
  std::string why;
  const int fd = share::create_sealed(sizeof(layout::Segment), &map, &ro, &why);
  ASSERT_GE(fd, 0) << why;
  auto* seg = static_cast<layout::Segment*>(map);
  segment::init(seg, 1, 7, 1'000);
  segment::write(seg, snapshot_for(0));
  void* view = mmap(nullptr, sizeof(layout::Segment), PROT_READ, MAP_SHARED, ro, 0);
  ASSERT_NE(view, MAP_FAILED);
  const auto* reader_view = static_cast<const layout::Segment*>(view);
  const uint64_t writes = writes_from_env();
  const auto t = race(
      2, [&](TransformSnapshot* s) { return segment::read(reader_view, s) == Error::kOk; },
      [&] {
        for (uint64_t k = 1; k <= writes; ++k) segment::write(seg, snapshot_for(k));
      });
  report("mapping", t);
  TransformSnapshot last;
  ASSERT_EQ(segment::read(reader_view, &last), Error::kOk);
  EXPECT_EQ(last.epoch, writes);
  munmap(view, sizeof(layout::Segment));
  munmap(map, sizeof(layout::Segment));
  if (ro != fd) ::close(ro);
  ::close(fd);
}

// The same through the public API: SegmentWriter (which also checks and
// writes the file on every publish) and one Clock shared by the readers.
TEST(SeqlockStress, NoTornReadsThroughAClock) {
  char tmpl[] = "/tmp/timesync-stress-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string path = std::string(tmpl) + "/segment";
  auto writer = SegmentWriter::create(path);
  ASSERT_TRUE(writer.ok());
  writer.value()->publish(snapshot_for(0));
  auto clock = Clock::open(path);
  ASSERT_TRUE(clock.ok());
  uint64_t k = 0;
  const auto t = race(
      2,
      [&](TransformSnapshot* s) {
        auto r = clock->snapshot();
        if (r.ok()) *s = r.value();
        return r.ok();
      },
      [&] {
        const auto end = std::chrono::steady_clock::now() + duration_from_env();
        while (std::chrono::steady_clock::now() < end) writer.value()->publish(snapshot_for(++k));
      });
  report("clock", t);
  auto final_snapshot = clock->snapshot();
  ASSERT_TRUE(final_snapshot.ok());
  EXPECT_EQ(final_snapshot->epoch, k);
  writer.value().reset();
  std::remove(path.c_str());
  std::remove((path + ".lock").c_str());
  std::remove(tmpl);
}

// The same protocol through the file (pread/pwrite), as readers use it when
// no sealed copy is offered: every snapshot read is whole.
TEST(SeqlockStress, NoTornReadsThroughTheFile) {
  char tmpl[] = "/tmp/timesync-stress-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string path = std::string(tmpl) + "/segment";
  const int wfd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  ASSERT_GE(wfd, 0);
  layout::Segment shadow;
  segment::init(&shadow, 1, 7, 1'000'000);
  ASSERT_EQ(pwrite(wfd, &shadow, sizeof shadow, 0), static_cast<ssize_t>(sizeof shadow));
  ASSERT_TRUE(segment::write_file(wfd, &shadow, snapshot_for(0)));
  const int rfd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(rfd, 0);
  const auto t = race(
      2,
      [&](TransformSnapshot* s) {
        segment::FileHeader h;
        return segment::read_file(rfd, s, &h) == Error::kOk;
      },
      [&] {
        const auto end = std::chrono::steady_clock::now() + duration_from_env();
        for (uint64_t k = 1; std::chrono::steady_clock::now() < end; ++k) {
          ASSERT_TRUE(segment::write_file(wfd, &shadow, snapshot_for(k)));
        }
      });
  report("file", t);
  ::close(rfd);
  ::close(wfd);
  std::remove(path.c_str());
  std::remove(tmpl);
}

// Writers come and go (each a new sealed copy) while readers share one Clock,
// which moves from copy to copy and through the file: whatever a reader gets
// is one whole publication, never a mix of two copies.
TEST(SeqlockStress, NoTornReadsAcrossWriterRestarts) {
  char tmpl[] = "/tmp/timesync-stress-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string path = std::string(tmpl) + "/segment";
  auto first = SegmentWriter::create(path);
  ASSERT_TRUE(first.ok());
  first.value()->publish(snapshot_for(0));
  auto clock = Clock::open(path);
  ASSERT_TRUE(clock.ok());
  first.value().reset();

  constexpr int kReaders = 2;
  std::atomic<bool> done{false};
  std::vector<uint64_t> ok(kReaders, 0), torn(kReaders, 0);
  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&, r] {
      while (!done.load(std::memory_order_acquire)) {
        auto s = clock->snapshot();
        // Writers publish "unsynchronized" when they start and stop.
        if (!s.ok() || s->status == ClockStatus::kUnsynchronized) continue;
        ++ok[r];
        if (!consistent(s.value())) ++torn[r];
      }
    });
  }
  uint64_t k = 1;
  for (int restart = 0; restart < 20; ++restart) {
    auto w = SegmentWriter::create(path);
    ASSERT_TRUE(w.ok());
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(150);
    while (std::chrono::steady_clock::now() < until) w.value()->publish(snapshot_for(k++));
  }
  done.store(true, std::memory_order_release);
  for (auto& t : readers) t.join();
  for (int r = 0; r < kReaders; ++r) {
    std::printf("reader %d across restarts: %llu snapshots, %llu torn\n", r,
                static_cast<unsigned long long>(ok[r]), static_cast<unsigned long long>(torn[r]));
    EXPECT_EQ(torn[r], 0u);
    EXPECT_GT(ok[r], 0u);
  }
  std::remove(path.c_str());
  std::remove((path + ".lock").c_str());
  std::remove(tmpl);
}

}  // namespace
}  // namespace timesync
