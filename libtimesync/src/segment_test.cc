// Segment layout, the writer's guarantees, and refusal of bad segments.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <vector>

#include "../../tests/support/child.hpp"
#include "../../tests/support/test_seed.hpp"
#include "segment.hpp"
#include "share.hpp"
#include "timesync/clock.hpp"
#include "timesync/segment_layout.hpp"
#include "timesync/timesync.h"
#include "timesync/writer.hpp"

namespace timesync {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kSec = 1'000'000'000;

class SegmentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/timesync-segtest-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/segment";
  }
  void TearDown() override { fs::remove_all(dir_); }

  static LocalTime now() {
    LocalTime t;
    EXPECT_TRUE(read_local_clock(&t));
    return t;
  }

  static TransformSnapshot live(uint64_t epoch) {
    TransformSnapshot s;
    s.epoch = epoch;
    s.status = ClockStatus::kSynchronized;
    s.as_of = now();
    s.void_after = LocalTime{s.as_of.ns + 60 * kSec};
    s.ref_local = s.as_of;
    s.ref_sync = SyncTime{1'000 * kSec};
    s.freq_adj_q48 = ppb_to_q48(35'000);
    s.bound_at_as_of_ns = 2'000;
    s.bound_growth_ppb = 1'000;
    s.max_error_ns = 1'000'000;
    s.master_instance = 42;
    s.set_master_name("som-master");
    return s;
  }

  // A hand-made segment: a valid header with one publish of the given payload.
  layout::Segment handmade(const TransformSnapshot& s) {
    layout::Segment seg{};
    segment::init(&seg, 1);
    segment::write(&seg, s);
    return seg;
  }

  void write_bytes(const void* data, size_t n) {
    std::ofstream f(path_, std::ios::binary | std::ios::trunc);
    f.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
  }

  Error open_error() { return Clock::open(path_).error(); }

  // Opens and reads; the error of whichever step fails first.
  Error read_error() {
    auto c = Clock::open(path_);
    if (!c.ok()) return c.error();
    return c->get_timestamp_with_error().error;
  }

  std::string dir_;
  std::string path_;
};

TEST_F(SegmentTest, LayoutOnDiskMatchesTheHeader) {
  std::string why;
  auto w = SegmentWriter::create(path_, &why);
  ASSERT_TRUE(w.ok()) << why;
  const TransformSnapshot s = live(7);
  w.value()->publish(s);
  std::ifstream f(path_, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  ASSERT_EQ(bytes.size(), layout::kSegmentSize);
  EXPECT_EQ(std::string(bytes.data(), 4), "TSYN");
  uint64_t latest = 0, generation = 0, epoch = 0;
  int64_t ref_sync = 0;
  std::memcpy(&latest, bytes.data() + 16, 8);
  EXPECT_EQ(latest, 2u);  // the writer's initial publish plus ours
  uint64_t instance = 0, flags = 0;
  std::memcpy(&instance, bytes.data() + 24, 8);
  std::memcpy(&flags, bytes.data() + 32, 8);
  EXPECT_NE(instance, 0u);
  EXPECT_EQ(flags, layout::kFlagShared);  // a sealed copy is served
  const size_t slot = 64 + 256 * (latest % 2);
  std::memcpy(&generation, bytes.data() + slot, 8);
  std::memcpy(&epoch, bytes.data() + slot + 8, 8);
  std::memcpy(&ref_sync, bytes.data() + slot + 40, 8);
  EXPECT_EQ(generation % 2, 0u);  // complete (they start at a random even number)
  EXPECT_EQ(epoch, 7u);
  EXPECT_EQ(ref_sync, 1'000 * kSec);
  EXPECT_EQ(std::string(bytes.data() + slot + 96), "som-master");
}

TEST_F(SegmentTest, ReaderSeesWhatTheWriterPublished) {
  auto w = SegmentWriter::create(path_);
  ASSERT_TRUE(w.ok());
  auto c = Clock::open(path_);
  ASSERT_TRUE(c.ok()) << to_string(c.error());
  EXPECT_EQ(c->get_timestamp().error(), Error::kNotSynchronized);
  EXPECT_FALSE(c->is_synchronized());
  const TransformSnapshot s = live(1);
  w.value()->publish(s);
  auto snap = c->snapshot();
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->master_name(), "som-master");
  EXPECT_EQ(snap->master_instance, 42u);
  EXPECT_EQ(snap->freq_adj_q48, s.freq_adj_q48);
  const auto r = c->get_timestamp_with_error();
  ASSERT_EQ(r.error, Error::kOk);
  EXPECT_EQ(r.status, ClockStatus::kSynchronized);
  EXPECT_GE(r.time.ns, 1'000 * kSec);
  EXPECT_GE(r.bound_ns, 2'000u);
  EXPECT_TRUE(c->is_synchronized());
  const auto at = c->timestamp_at(LocalTime{s.ref_local.ns + kSec});
  ASSERT_TRUE(at.ok());
  EXPECT_EQ(at.time.ns, 1'001 * kSec + 35'000);
}

TEST_F(SegmentTest, SegmentIsWorldReadableButOnlyOwnerWritable) {
  const mode_t old = umask(077);  // the writer must not depend on the umask
  auto w = SegmentWriter::create(path_);
  umask(old);
  ASSERT_TRUE(w.ok());
  struct stat st {};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  for (const auto& e : fs::directory_iterator(dir_)) {
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();
  }
}

// Another local user (an application) reads the segment but can neither
// write it, nor take the writer's place, nor replace or remove the file, in a
// sticky world-writable directory like /dev/shm.
TEST_F(SegmentTest, OtherUsersReadButCannotWriteReplaceOrRemove) {
  ASSERT_EQ(chmod(dir_.c_str(), 01777), 0);
  auto w = SegmentWriter::create(path_);
  ASSERT_TRUE(w.ok());
  w.value()->publish(live(1));
  struct stat st {};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, geteuid());
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  if (geteuid() != 0) return;  // no second user to be without root; the mode says it
  const std::string seg = path_;
  const std::string got = testing::run_in_child(
      [seg] {
        std::string out;
        auto c = Clock::open(seg);
        out += c.ok() && c->get_timestamp().ok() ? "read " : "noread ";
        out += ::open(seg.c_str(), O_RDWR) < 0 && errno == EACCES ? "nowrite " : "WRITE ";
        std::string why;
        auto w2 = SegmentWriter::create(seg, &why);
        // The lock file is the agent's: refused before it is even opened.
        out += !w2.ok() && w2.error() == Error::kWrongOwner ? "nowriter " : "WRITER ";
        const std::string mine = seg + ".mine";
        const int fd = ::open(mine.c_str(), O_RDWR | O_CREAT | O_EXCL, 0644);
        if (fd >= 0) ::close(fd);
        out += rename(mine.c_str(), seg.c_str()) != 0 && errno == EPERM ? "noreplace " : "REPLACE ";
        out += unlink(seg.c_str()) != 0 && errno == EPERM ? "noremove " : "REMOVE ";
        const std::string sock = seg + ".sock";
        out += unlink(sock.c_str()) != 0 && errno == EPERM ? "nosockremove" : "SOCKREMOVE";
        return out;
      },
      {.drop_privileges = true});
  EXPECT_EQ(got, "read nowrite nowriter noreplace noremove nosockremove");
  auto c = Clock::open(path_);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->get_timestamp().ok());  // untouched
}

TEST_F(SegmentTest, SecondWriterIsRefusedWithTheOwnersPid) {
  auto first = SegmentWriter::create(path_);
  ASSERT_TRUE(first.ok());
  std::string why;
  auto second = SegmentWriter::create(path_, &why);
  EXPECT_EQ(second.error(), Error::kWriterExists);
  EXPECT_NE(why.find("pid " + std::to_string(getpid())), std::string::npos) << why;
  EXPECT_NE(why.find(path_), std::string::npos) << why;
}

TEST_F(SegmentTest, WriterRestartKeepsExistingReadersWorking) {
  auto c = [&] {
    auto w = SegmentWriter::create(path_);
    EXPECT_TRUE(w.ok());
    w.value()->publish(live(5));
    auto clock = Clock::open(path_);
    EXPECT_TRUE(clock.ok());
    EXPECT_TRUE(clock->is_synchronized());
    return std::move(clock).value();
  }();
  // The writer is gone: the reader is refused at once, not served stale data.
  EXPECT_EQ(c.get_timestamp().error(), Error::kNotSynchronized);
  auto w2 = SegmentWriter::create(path_);
  ASSERT_TRUE(w2.ok());
  EXPECT_EQ(w2.value()->previous_epoch(), 5u);
  w2.value()->publish(live(6));
  const auto r = c.get_timestamp_with_error();
  EXPECT_EQ(r.error, Error::kOk);
  EXPECT_EQ(r.epoch, 6u);
}

TEST_F(SegmentTest, WriterReplacesAnInvalidFile) {
  const std::string junk(1000, 'x');
  write_bytes(junk.data(), junk.size());
  EXPECT_EQ(open_error(), Error::kBadMagic);
  auto w = SegmentWriter::create(path_);
  ASSERT_TRUE(w.ok());
  w.value()->publish(live(1));
  EXPECT_EQ(read_error(), Error::kOk);
  EXPECT_EQ(fs::file_size(path_), layout::kSegmentSize);
}

TEST_F(SegmentTest, StaleDataIsRefused) {
  auto w = SegmentWriter::create(path_);
  ASSERT_TRUE(w.ok());
  TransformSnapshot s = live(1);
  s.as_of = LocalTime{s.as_of.ns - 10 * kSec};
  s.void_after = LocalTime{s.as_of.ns + kSec};
  w.value()->publish(s);
  EXPECT_EQ(read_error(), Error::kStale);
}

TEST_F(SegmentTest, MissingSegment) { EXPECT_EQ(open_error(), Error::kNoSegment); }

TEST_F(SegmentTest, DirectoryIsNotASegment) {
  fs::create_directory(path_);
  EXPECT_EQ(open_error(), Error::kNotRegular);
}

// The copy readers map: nobody, not even root, can resize it or write it
// (the writer's own mapping, made before sealing, is the only way in).
TEST_F(SegmentTest, SealedCopyCannotBeResizedOrWritten) {
  auto w = SegmentWriter::create(path_);
  ASSERT_TRUE(w.ok());
  w.value()->publish(live(9));
  const int fd = share::fetch(share::socket_path(path_), geteuid(), layout::kSegmentSize, 1000);
  ASSERT_GE(fd, 0);
  EXPECT_NE(ftruncate(fd, 0), 0);
  EXPECT_NE(write(fd, "x", 1), 1);
  EXPECT_EQ(mmap(nullptr, layout::kSegmentSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0),
            MAP_FAILED);
  // Reopened read-write through /proc (allowed for root by the mode): the
  // seals still refuse every write and every size change.
  const int rw = ::open(("/proc/self/fd/" + std::to_string(fd)).c_str(), O_RDWR);
  if (rw >= 0) {
    EXPECT_NE(pwrite(rw, "x", 1, 0), 1);
    EXPECT_NE(ftruncate(rw, 0), 0);
    EXPECT_NE(fallocate(rw, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 64), 0);
    EXPECT_EQ(mmap(nullptr, layout::kSegmentSize, PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0),
              MAP_FAILED);
    ::close(rw);
  }
  void* p = mmap(nullptr, layout::kSegmentSize, PROT_READ, MAP_SHARED, fd, 0);
  ASSERT_NE(p, MAP_FAILED);
  TransformSnapshot got;
  EXPECT_EQ(segment::read(static_cast<const layout::Segment*>(p), &got), Error::kOk);
  EXPECT_EQ(got.epoch, 9u);
  munmap(p, layout::kSegmentSize);
  ::close(fd);
}

// Another user binds "<path>.sock" (or a process of another user listens
// behind a socket of the owner's): readers take no copy from them and read
// the file.
TEST_F(SegmentTest, ReaderTakesNoCopyFromAnotherUser) {
  ASSERT_EQ(geteuid(), 0u) << "needs root, to act as a second user";
  ASSERT_EQ(chmod(dir_.c_str(), 01777), 0);
  const layout::Segment seg = handmade(live(1));
  write_bytes(&seg, sizeof(seg));
  const std::string sock = share::socket_path(path_);
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    if (setgid(testing::kNobody) != 0 || setuid(testing::kNobody) != 0) _exit(3);
    void* map = nullptr;
    int ro = -1;
    std::string why;
    if (share::create_sealed(layout::kSegmentSize, &map, &ro, &why) < 0) _exit(4);
    const layout::Segment forged = handmade(live(666));  // a valid segment, wrong time
    std::memcpy(map, &forged, sizeof forged);
    auto server = share::Server::start(sock, ro, &why);
    (void)!write(ready[1], server ? "y" : "n", 1);
    pause();
    _exit(0);
  }
  char x = 0;
  ASSERT_EQ(read(ready[0], &x, 1), 1);
  ASSERT_EQ(x, 'y');
  EXPECT_EQ(share::fetch(sock, geteuid(), layout::kSegmentSize, 500), -1);
  auto c = Clock::open(path_);
  ASSERT_TRUE(c.ok()) << to_string(c.error());
  EXPECT_EQ(c->get_timestamp_with_error().epoch, 1u);
  // The socket made to look like root's: the listener is still not root.
  ASSERT_EQ(lchown(sock.c_str(), 0, 0), 0);
  EXPECT_EQ(share::fetch(sock, geteuid(), layout::kSegmentSize, 500), -1);
  auto c2 = Clock::open(path_);
  ASSERT_TRUE(c2.ok());
  EXPECT_EQ(c2->get_timestamp_with_error().epoch, 1u);
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  close(ready[0]);
  close(ready[1]);
}

TEST_F(SegmentTest, EmptyAndTruncatedFiles) {
  write_bytes("", 0);
  EXPECT_EQ(open_error(), Error::kTruncated);
  write_bytes("TSYN", 4);
  EXPECT_EQ(open_error(), Error::kTruncated);
  const layout::Segment seg = handmade(live(1));
  write_bytes(&seg, 100);  // a valid header that claims 256 bytes
  EXPECT_EQ(open_error(), Error::kTruncated);
}

TEST_F(SegmentTest, WrongMagic) {
  layout::Segment seg = handmade(live(1));
  seg.magic = 0x12345678;
  write_bytes(&seg, sizeof(seg));
  EXPECT_EQ(open_error(), Error::kBadMagic);
}

TEST_F(SegmentTest, UnknownVersion) {
  layout::Segment seg = handmade(live(1));
  seg.version = layout::kVersion + 1;
  write_bytes(&seg, sizeof(seg));
  EXPECT_EQ(open_error(), Error::kBadVersion);
}

// Version 1 (448 bytes, before the UTC section): an agent not yet upgraded
// beside a new library. Refused by its version, never read as version 2.
TEST_F(SegmentTest, VersionOneSegmentIsRefusedByItsVersion) {
  layout::Segment seg = handmade(live(1));
  seg.version = 1;
  seg.size = 448;
  write_bytes(&seg, 448);
  EXPECT_EQ(open_error(), Error::kBadVersion);
}

TEST_F(SegmentTest, UtcSectionReachesReaders) {
  auto w = SegmentWriter::create(path_);
  ASSERT_TRUE(w.ok());
  auto c = Clock::open(path_);
  ASSERT_TRUE(c.ok());
  TransformSnapshot s = live(1);
  w.value()->publish(s);
  EXPECT_EQ(c->get_utc_with_error().error, Error::kNoUtc);  // the master has no reference
  ts_context* ctx = nullptr;
  ASSERT_EQ(ts_open(path_.c_str(), &ctx), TS_OK);
  ts_utc cu{};
  EXPECT_EQ(ts_get_utc_with_error(ctx, &cu), TS_E_NO_UTC);
  EXPECT_EQ(cu.utc_ns, 0);

  s.utc.flags = kUtcValid | kUtcReferenceSynchronized;
  s.utc.offset_ns = 1'700'000'000 * kSec;
  s.utc.as_of = s.ref_sync;
  s.utc.error_ns = 5'000;
  s.utc.rate_ppb = -2'000;
  s.utc.rate_error_ppb = 3'000;
  s.utc.tai_minus_utc_s = 37;
  s.utc.next_leap_utc_s = 1'800'000'000;
  s.utc.next_tai_minus_utc_s = 38;
  w.value()->publish(s);
  auto snap = c->snapshot();
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->utc, s.utc);
  const UtcWithError u = c->get_utc_with_error();
  ASSERT_EQ(u.error, Error::kOk) << to_string(u.error);
  EXPECT_EQ(u.status, ClockStatus::kSynchronized);
  EXPECT_TRUE(u.reference_synchronized);
  EXPECT_EQ(u.tai_minus_utc_s, 37);
  const int64_t age = u.time.ns - s.ref_sync.ns;  // the offset's age on the timeline
  ASSERT_GE(age, 0);
  EXPECT_NEAR(static_cast<double>(u.utc_ns - u.time.ns - s.utc.offset_ns), -2e-6 * static_cast<double>(age), 1);
  const uint64_t timeline_bound = u.bound_ns - 5'000 - (static_cast<uint64_t>(age) * 3 + 999'999) / 1'000'000 - 1;
  EXPECT_GE(timeline_bound, 2'000u);
  EXPECT_LE(timeline_bound, 2'000u + 1'000);  // 1 ppm of under a second

  ASSERT_EQ(ts_get_utc_with_error(ctx, &cu), TS_OK);
  EXPECT_GT(cu.utc_ns, s.utc.offset_ns);
  EXPECT_GE(cu.bound_ns, 7'000u);
  EXPECT_EQ(cu.tai_minus_utc_s, 37);
  EXPECT_EQ(cu.leap, TS_LEAP_NONE);
  EXPECT_EQ(cu.flags, TS_UTC_REFERENCE_SYNCHRONIZED);
  EXPECT_EQ(cu.status, TS_STATUS_SYNCHRONIZED);
  ts_close(ctx);

  // On disk: the section where the layout says.
  std::ifstream f(path_, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  uint64_t latest = 0;
  std::memcpy(&latest, bytes.data() + 16, 8);
  int64_t offset = 0;
  uint32_t flags = 0;
  std::memcpy(&offset, bytes.data() + 64 + 256 * (latest % 2) + 160, 8);
  std::memcpy(&flags, bytes.data() + 64 + 256 * (latest % 2) + 216, 4);
  EXPECT_EQ(offset, s.utc.offset_ns);
  EXPECT_EQ(flags, kUtcValid | kUtcReferenceSynchronized);
}

TEST_F(SegmentTest, ImpossibleUtcFieldsAreCorrupt) {
  TransformSnapshot s = live(1);
  s.utc.flags = kUtcValid | 64;  // a flag no writer sets
  layout::Segment seg = handmade(s);
  write_bytes(&seg, sizeof(seg));
  auto c = Clock::open(path_);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->get_utc_with_error().error, Error::kCorrupt);
  s.utc.flags = kUtcValid;
  s.utc.rate_ppb = kMaxUtcRatePpb + 1;
  seg = handmade(s);
  write_bytes(&seg, sizeof(seg));
  EXPECT_EQ(c->get_utc_with_error().error, Error::kCorrupt);
}

TEST_F(SegmentTest, SizeMismatch) {
  layout::Segment seg = handmade(live(1));
  seg.size = 512;
  write_bytes(&seg, sizeof(seg));
  EXPECT_EQ(open_error(), Error::kSizeMismatch);
}

TEST_F(SegmentTest, NeverPublished) {
  layout::Segment seg{};
  segment::init(&seg, 1);
  write_bytes(&seg, sizeof(seg));
  EXPECT_EQ(read_error(), Error::kNotInitialized);
}

TEST_F(SegmentTest, GenerationStuckOdd) {
  layout::Segment seg = handmade(live(1));
  seg.slots[seg.latest % 2].generation = 9;  // stuck mid-update
  write_bytes(&seg, sizeof(seg));
  EXPECT_EQ(read_error(), Error::kBusy);
}

TEST_F(SegmentTest, ImpossiblePayload) {
  layout::Segment seg = handmade(live(1));
  seg.slots[seg.latest % 2].status = 99;
  write_bytes(&seg, sizeof(seg));
  EXPECT_EQ(read_error(), Error::kCorrupt);
}

TEST_F(SegmentTest, HeaderOverwrittenAfterOpenIsRefused) {
  layout::Segment seg = handmade(live(1));
  write_bytes(&seg, sizeof(seg));
  auto c = Clock::open(path_);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->is_synchronized());
  const int fd = ::open(path_.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  const uint32_t bad = 0xdeadbeef;
  ASSERT_EQ(pwrite(fd, &bad, sizeof(bad), 0), 4);
  ::close(fd);
  EXPECT_EQ(c->get_timestamp().error(), Error::kBadMagic);
}

TEST_F(SegmentTest, RandomGarbageNeverYieldsATime) {
  auto rng = timesync::testing::seeded_rng("RandomGarbageNeverYieldsATime");
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<size_t> len(0, 2 * layout::kSegmentSize);
  std::set<Error> seen;
  for (int i = 0; i < 2'000; ++i) {
    // Half the cases keep a valid header so the payload checks are exercised.
    std::vector<unsigned char> buf(len(rng));
    for (auto& b : buf) b = static_cast<unsigned char>(byte(rng));
    if (i % 2 == 1 && buf.size() >= layout::kSegmentSize) {
      layout::Segment hdr{};
      segment::init(&hdr, 1);
      std::memcpy(buf.data(), &hdr, 12);
      buf.resize(layout::kSegmentSize);
      buf[64] &= 0xfe;  // even slot generations
      buf[64 + 192] &= 0xfe;
    }
    write_bytes(buf.data(), buf.size());
    const Error e = read_error();
    ASSERT_NE(e, Error::kOk) << "iteration " << i;
    seen.insert(e);
  }
  EXPECT_TRUE(seen.count(Error::kBadMagic));
  EXPECT_TRUE(seen.count(Error::kCorrupt));
}

TEST_F(SegmentTest, CApiReportsErrorsAndTimes) {
  ts_context* ctx = reinterpret_cast<ts_context*>(0x1);
  EXPECT_EQ(ts_open(path_.c_str(), &ctx), TS_E_NO_SEGMENT);
  EXPECT_EQ(ctx, nullptr);
  EXPECT_EQ(ts_open(path_.c_str(), nullptr), TS_E_INVALID_ARGUMENT);
  int64_t t = 0;
  EXPECT_EQ(ts_get_timestamp(nullptr, &t), TS_E_INVALID_ARGUMENT);
  EXPECT_EQ(ts_is_synchronized(nullptr), 0);
  ts_close(nullptr);

  auto w = SegmentWriter::create(path_);
  ASSERT_TRUE(w.ok());
  ASSERT_EQ(ts_open(path_.c_str(), &ctx), TS_OK);
  ts_timestamp ts{};
  EXPECT_EQ(ts_get_timestamp_with_error(ctx, &ts), TS_E_NOT_SYNCHRONIZED);
  EXPECT_EQ(ts.time_ns, 0);
  EXPECT_EQ(ts.status, TS_STATUS_UNSYNCHRONIZED);
  w.value()->publish(live(4));
  EXPECT_EQ(ts_get_timestamp(ctx, &t), TS_OK);
  EXPECT_GE(t, 1'000 * kSec);
  EXPECT_EQ(ts_get_timestamp_with_error(ctx, &ts), TS_OK);
  EXPECT_EQ(ts.status, TS_STATUS_SYNCHRONIZED);
  EXPECT_EQ(ts.epoch, 4u);
  EXPECT_GE(ts.bound_ns, 2'000u);
  EXPECT_EQ(ts_is_synchronized(ctx), 1);
  ts_close(ctx);
}

TEST(CApi, EveryErrorHasItsOwnMessage) {
  std::set<std::string> messages;
  for (int e = TS_OK; e <= TS_E_NO_UTC; ++e) {
    const char* m = ts_strerror(static_cast<ts_error>(e));
    ASSERT_NE(m, nullptr);
    messages.insert(m);
  }
  EXPECT_EQ(messages.size(), static_cast<size_t>(TS_E_NO_UTC) + 1);
  EXPECT_STREQ(ts_strerror(static_cast<ts_error>(TS_E_NO_UTC + 1)), "unknown timesync error");
}

}  // namespace
}  // namespace timesync
