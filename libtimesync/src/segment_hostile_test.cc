// Hostile and clumsy input around the segment (issue 17, items 1-4): what an
// operator or another local user can do to the files in /dev/shm, and what
// the readers and the writer must do about it: a clear error or a recovery by
// themselves, never a crash (SIGBUS), a hang or a wrong time.
//
// Every case that could crash or hang the process runs in a forked child with
// an alarm, so that a regression fails one test instead of the whole binary.
// Public API only.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include "timesync/clock.hpp"
#include "timesync/segment_layout.hpp"
#include "timesync/timesync.h"
#include "timesync/writer.hpp"

namespace timesync {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kSec = 1'000'000'000;
constexpr uid_t kNobody = 65534;

// Runs fn in a child killed after `seconds`; its string, or how it died.
std::string in_child(const std::function<std::string()>& fn, int seconds = 10) {
  int fds[2];
  if (pipe(fds) != 0) return "pipe failed";
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    alarm(static_cast<unsigned>(seconds));
    const std::string out = fn();
    (void)!write(fds[1], out.data(), out.size());
    _exit(0);
  }
  close(fds[1]);
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) return out + "[killed by signal " + std::to_string(WTERMSIG(status)) + "]";
  return out;
}

class HostileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/timesync-hostile-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_EQ(chmod(dir_.c_str(), 01777), 0);  // like /dev/shm
    path_ = dir_ + "/segment";
  }
  void TearDown() override { fs::remove_all(dir_); }

  static LocalTime now() {
    LocalTime t;
    EXPECT_TRUE(read_local_clock(&t));
    return t;
  }

  static TransformSnapshot live(uint64_t epoch, int64_t valid_ns = 60 * kSec) {
    TransformSnapshot s;
    s.epoch = epoch;
    s.status = ClockStatus::kSynchronized;
    s.as_of = now();
    s.void_after = LocalTime{s.as_of.ns + valid_ns};
    s.ref_local = s.as_of;
    s.ref_sync = SyncTime{1'000 * kSec};
    s.bound_at_as_of_ns = 2'000;
    s.bound_growth_ppb = 1'000;
    s.max_error_ns = 1'000'000;
    s.set_master_name("som-master");
    return s;
  }

  // "ok" or the error's message.
  static std::string reading(const Clock& c) {
    const auto r = c.get_timestamp_with_error();
    return r.ok() ? "ok" : to_string(r.error);
  }

  // Reads until `want` (an epoch) comes back, for at most 3 s.
  static bool reads_epoch(const Clock& c, uint64_t want) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (std::chrono::steady_clock::now() < end) {
      const auto r = c.get_timestamp_with_error();
      if (r.ok() && r.epoch == want) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  void write_junk(const std::string& path, size_t n) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);  // as `cp junk path` does
    f << std::string(n, 'x');
  }

  std::string dir_;
  std::string path_;
};

// ---- 1. Truncated while in use --------------------------------------------

// `truncate -s 0` and `cp` over the segment while the writer and readers run:
// no SIGBUS anywhere, readers keep their time, the writer repairs the file.
TEST_F(HostileTest, TruncatedWhileInUseNobodyCrashes) {
  const std::string seg = path_;
  const std::string got = in_child([&] {
    std::string out;
    auto w = SegmentWriter::create(seg);
    if (!w.ok()) return std::string("no writer");
    w.value()->publish(live(3));
    auto c = Clock::open(seg);
    ts_context* ctx = nullptr;
    if (!c.ok() || ts_open(seg.c_str(), &ctx) != TS_OK) return std::string("no reader");
    if (truncate(seg.c_str(), 0) != 0) return std::string("truncate failed");
    out += "after truncate: " + reading(c.value());
    int64_t t = 0;
    out += ts_get_timestamp(ctx, &t) == TS_OK ? " c:ok" : " c:refused";
    const PublishReport r = w.value()->publish(live(3));
    out += r.outcome == PublishReport::Outcome::kRepaired ? " repaired" : " not-repaired";
    struct stat st {};
    stat(seg.c_str(), &st);
    out += " size " + std::to_string(st.st_size);
    write_junk(seg, 100);  // cp over it
    out += "; after cp: " + reading(c.value());
    w.value()->publish(live(4));
    auto fresh = Clock::open(seg);
    out += "; new reader: " + (fresh.ok() ? reading(fresh.value()) : to_string(fresh.error()));
    ts_close(ctx);
    return out;
  });
  EXPECT_EQ(got, "after truncate: ok c:ok repaired size " + std::to_string(layout::kSegmentSize) +
                     "; after cp: ok; new reader: ok");
}

// With no agent serving a copy, a reader reads the file itself: a truncation
// is an error until the file is whole again, never a signal.
TEST_F(HostileTest, TruncatedFileWithoutAWriterIsAnError) {
  {
    auto w = SegmentWriter::create(path_);
    ASSERT_TRUE(w.ok());
    w.value()->publish(live(1));
    SegmentWriter::detach(std::move(w).value());  // as timesync-sim-publisher --once
  }
  const std::string seg = path_;
  const std::string got = in_child([&] {
    auto c = Clock::open(seg);
    if (!c.ok()) return std::string("open: ") + to_string(c.error());
    std::string out = reading(c.value());
    std::ifstream in(seg, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (truncate(seg.c_str(), 0) != 0) return std::string("truncate failed");
    out += " " + reading(c.value());
    std::ofstream(seg, std::ios::binary | std::ios::trunc) << bytes;
    out += " " + reading(c.value());
    return out;
  });
  EXPECT_EQ(got, std::string("ok ") + to_string(Error::kTruncated) + " ok");
}

// ---- 2. The writer re-checks its segment on every publication --------------

// The agent restarts: readers that had its sealed copy move to the new
// agent's by themselves (the old copy says it is retired).
TEST_F(HostileTest, ReadersFollowAWriterRestart) {
  auto w = SegmentWriter::create(path_);
  ASSERT_TRUE(w.ok());
  w.value()->publish(live(1));
  auto c = Clock::open(path_);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(reading(c.value()), "ok");
  w.value().reset();  // the agent stops
  EXPECT_EQ(c->get_timestamp().error(), Error::kNotSynchronized);
  auto w2 = SegmentWriter::create(path_);
  ASSERT_TRUE(w2.ok());
  w2.value()->publish(live(2));
  EXPECT_TRUE(reads_epoch(c.value(), 2));
}

// Mappings of sealed copies in this process ("/memfd:timesync (deleted)").
int mapped_copies() {
  std::ifstream maps("/proc/self/maps");
  int n = 0;
  for (std::string line; std::getline(maps, line);) {
    if (line.find("/memfd:timesync") != std::string::npos) ++n;
  }
  return n;
}

// A Clock never unmaps a copy or reuses its address while it lives (a reader
// thread may still be reading it), so it maps at most 16, one per agent
// instance; past that it reads the file, and still follows every restart.
TEST_F(HostileTest, ClockMapsAtMostSixteenCopiesAndStillFollowsRestarts) {
  ASSERT_EQ(mapped_copies(), 0);
  std::optional<Clock> c;
  for (uint64_t epoch = 1; epoch <= 20; ++epoch) {
    SCOPED_TRACE(epoch);
    auto w = SegmentWriter::create(path_);
    ASSERT_TRUE(w.ok());
    w.value()->publish(live(epoch));
    if (!c) {
      auto opened = Clock::open(path_);
      ASSERT_TRUE(opened.ok());
      c.emplace(std::move(opened).value());
    }
    ASSERT_TRUE(reads_epoch(*c, epoch));
    // The agent re-creates its file: the same copy, no new mapping.
    const int before = mapped_copies();
    ASSERT_EQ(unlink(path_.c_str()), 0);
    ASSERT_EQ(w.value()->publish(live(epoch)).outcome, PublishReport::Outcome::kRepaired);
    ASSERT_TRUE(reads_epoch(*c, epoch));
    EXPECT_EQ(mapped_copies(), before);
  }
  // Every writer is gone: what is left is the Clock's.
  EXPECT_EQ(mapped_copies(), 16);
  c.reset();
  EXPECT_EQ(mapped_copies(), 0);
}

// The agent is killed (no chance to retire its copy): readers move to the
// next agent's copy once the old one goes stale.
TEST_F(HostileTest, ReadersFollowAWriterThatWasKilled) {
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    auto w = SegmentWriter::create(path_);
    if (w.ok()) w.value()->publish(live(1, kSec / 2));
    (void)!write(ready[1], "x", 1);
    pause();
    _exit(0);
  }
  char x;
  ASSERT_EQ(read(ready[0], &x, 1), 1);
  auto c = Clock::open(path_);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(reading(c.value()), "ok");
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  auto w2 = SegmentWriter::create(path_);
  ASSERT_TRUE(w2.ok());
  w2.value()->publish(live(2));
  EXPECT_TRUE(reads_epoch(c.value(), 2));
  close(ready[0]);
  close(ready[1]);
}

// Garbage, a wrong version, a truncation: noticed by the next publish,
// rewritten in place; a reader of the file sees an error meanwhile, then
// the time again without reopening anything.
TEST_F(HostileTest, DamagedFileIsRepairedByTheNextPublish) {
  auto w = SegmentWriter::create(path_);
  ASSERT_TRUE(w.ok());
  w.value()->publish(live(1));
  // A reader of the file itself: no socket to get the sealed copy from.
  ASSERT_EQ(unlink((path_ + ".sock").c_str()), 0);
  auto c = Clock::open(path_);
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(reading(c.value()), "ok");
  const PublishReport rebound = w.value()->publish(live(1));
  EXPECT_EQ(rebound.outcome, PublishReport::Outcome::kRepaired);
  EXPECT_NE(rebound.what.find("socket"), std::string::npos) << rebound.what;

  struct Case {
    const char* name;
    std::function<void()> damage;
    const char* says;
  };
  const uint32_t bad_version = layout::kVersion + 6;
  const std::string bad_version_says = "layout version " + std::to_string(bad_version);
  const Case cases[] = {
      {"garbage", [&] { write_junk(path_, layout::kSegmentSize); }, "bad magic"},
      {"version",
       [&] {
         const int fd = ::open(path_.c_str(), O_WRONLY);
         (void)!pwrite(fd, &bad_version, 4, offsetof(layout::Segment, version));
         close(fd);
       },
       bad_version_says.c_str()},
      {"truncate", [&] { (void)!truncate(path_.c_str(), 10); }, "truncated"},
  };
  uint64_t epoch = 1;
  for (const Case& k : cases) {
    SCOPED_TRACE(k.name);
    // The reader asks for the sealed copy again once a second: whichever it
    // reads now, a damaged file is an error, the copy is untouched.
    const bool reads_file = mapped_copies() == 1;
    k.damage();
    EXPECT_EQ(reading(c.value()) != "ok", reads_file);
    const PublishReport r = w.value()->publish(live(++epoch));
    EXPECT_EQ(r.outcome, PublishReport::Outcome::kRepaired);
    EXPECT_TRUE(r.serving());
    EXPECT_NE(r.what.find(k.says), std::string::npos) << r.what;
    EXPECT_TRUE(reads_epoch(c.value(), epoch));
    EXPECT_EQ(w.value()->publish(live(epoch)).outcome, PublishReport::Outcome::kOk);
  }
  // The socket is back since the first publish: the reader of the file takes
  // the sealed copy by itself (one more mapping: the writer's and its own).
  EXPECT_EQ(mapped_copies(), 1);
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (mapped_copies() != 2 && std::chrono::steady_clock::now() < end) {
    EXPECT_EQ(reading(c.value()), "ok");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(mapped_copies(), 2);
  EXPECT_TRUE(reads_epoch(c.value(), epoch));
}

// `rm`, `mv` over it, a second name: a new file at the path; the old one is
// marked retired, so readers holding it move to the new one by themselves.
TEST_F(HostileTest, RemovedOrReplacedFileIsRecreatedAndReadersFollow) {
  auto w = SegmentWriter::create(path_);
  ASSERT_TRUE(w.ok());
  w.value()->publish(live(1));
  struct Case {
    const char* name;
    std::function<void()> damage;
    const char* says;
  };
  const std::string other = dir_ + "/other";
  const Case cases[] = {
      {"rm", [&] { unlink(path_.c_str()); }, "was removed"},
      {"mv",
       [&] {
         write_junk(other, 10);
         rename(other.c_str(), path_.c_str());
       },
       "was replaced"},
      {"ln", [&] { link(path_.c_str(), other.c_str()); }, "second name"},
  };
  uint64_t epoch = 1;
  for (const Case& k : cases) {
    SCOPED_TRACE(k.name);
    unlink(other.c_str());
    // A reader of the file (no socket), and one of the sealed copy.
    const std::string sock = path_ + ".sock";
    ASSERT_EQ(rename(sock.c_str(), (sock + ".away").c_str()), 0);
    auto file_reader = Clock::open(path_);
    ASSERT_EQ(rename((sock + ".away").c_str(), sock.c_str()), 0);
    auto copy_reader = Clock::open(path_);
    ASSERT_TRUE(file_reader.ok() && copy_reader.ok());
    ASSERT_TRUE(reads_epoch(file_reader.value(), epoch));
    k.damage();
    const PublishReport r = w.value()->publish(live(++epoch));
    EXPECT_EQ(r.outcome, PublishReport::Outcome::kRepaired);
    EXPECT_NE(r.what.find(k.says), std::string::npos) << r.what;
    struct stat st {};
    ASSERT_EQ(lstat(path_.c_str(), &st), 0);
    EXPECT_TRUE(S_ISREG(st.st_mode));
    EXPECT_EQ(st.st_nlink, 1u);
    EXPECT_TRUE(reads_epoch(file_reader.value(), epoch));
    EXPECT_TRUE(reads_epoch(copy_reader.value(), epoch));
    auto fresh = Clock::open(path_);
    ASSERT_TRUE(fresh.ok()) << to_string(fresh.error());
    EXPECT_TRUE(reads_epoch(fresh.value(), epoch));
  }
}

// Something the writer cannot replace takes the path: every publish says so
// (not serving) until it is gone, then the file is back.
TEST_F(HostileTest, PublishSaysWhenTheSegmentCannotBeRepaired) {
  auto w = SegmentWriter::create(path_);
  ASSERT_TRUE(w.ok());
  w.value()->publish(live(1));
  ASSERT_EQ(unlink(path_.c_str()), 0);
  ASSERT_EQ(mkdir(path_.c_str(), 0755), 0);
  ASSERT_EQ(mkdir((path_ + "/x").c_str(), 0755), 0);
  for (int i = 0; i < 2; ++i) {
    const PublishReport r = w.value()->publish(live(2));
    EXPECT_EQ(r.outcome, PublishReport::Outcome::kFailed);
    EXPECT_FALSE(r.serving());
    EXPECT_NE(r.what.find("directory"), std::string::npos) << r.what;
  }
  EXPECT_EQ(Clock::open(path_).error(), Error::kNotRegular);
  fs::remove_all(path_);
  const PublishReport r = w.value()->publish(live(3));
  EXPECT_EQ(r.outcome, PublishReport::Outcome::kRepaired);
  auto c = Clock::open(path_);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(reads_epoch(c.value(), 3));
}

// ---- 3. Non-regular files, links -----------------------------------------

TEST_F(HostileTest, FifoAtThePathIsRefusedWithoutBlocking) {
  ASSERT_EQ(mkfifo(path_.c_str(), 0666), 0);
  const std::string seg = path_;
  const std::string got = in_child(
      [&] {
        ts_context* ctx = nullptr;
        const ts_error c = ts_open(seg.c_str(), &ctx);
        return std::string(to_string(Clock::open(seg).error())) + " / " + ts_strerror(c);
      },
      5);
  const std::string want = to_string(Error::kNotRegular);
  EXPECT_EQ(got, want + " / " + want);
}

// A socket (anyone can bind one in /dev/shm), a directory, and as root a
// device: each refused as not a regular file, without opening a device.
TEST_F(HostileTest, SocketDirectoryOrDeviceAtThePathIsRefused) {
  const int s = socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(s, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  ASSERT_LT(path_.size(), sizeof a.sun_path);
  std::memcpy(a.sun_path, path_.c_str(), path_.size());
  ASSERT_EQ(bind(s, reinterpret_cast<const sockaddr*>(&a), sizeof a), 0);
  EXPECT_EQ(Clock::open(path_).error(), Error::kNotRegular);
  close(s);
  ASSERT_EQ(unlink(path_.c_str()), 0);
  ASSERT_EQ(mkdir(path_.c_str(), 0755), 0);
  EXPECT_EQ(Clock::open(path_).error(), Error::kNotRegular);
  ASSERT_EQ(rmdir(path_.c_str()), 0);
  if (geteuid() != 0) return;  // mknod needs root
  ASSERT_EQ(mknod(path_.c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);  // like /dev/null
  EXPECT_EQ(Clock::open(path_).error(), Error::kNotRegular);
}

TEST_F(HostileTest, SymlinkAtThePathIsRefused) {
  const std::string real = dir_ + "/real";
  {
    auto w = SegmentWriter::create(real);
    ASSERT_TRUE(w.ok());
    w.value()->publish(live(1));
    SegmentWriter::detach(std::move(w).value());
  }
  ASSERT_EQ(symlink(real.c_str(), path_.c_str()), 0);
  EXPECT_EQ(Clock::open(path_).error(), Error::kSymlink);
  ts_context* ctx = nullptr;
  EXPECT_EQ(ts_open(path_.c_str(), &ctx), TS_E_SYMLINK);
  EXPECT_TRUE(Clock::open(real).ok());
}

TEST_F(HostileTest, HardLinkedSegmentIsRefused) {
  {
    auto w = SegmentWriter::create(path_);
    ASSERT_TRUE(w.ok());
    w.value()->publish(live(1));
    SegmentWriter::detach(std::move(w).value());
  }
  ASSERT_EQ(link(path_.c_str(), (dir_ + "/second").c_str()), 0);
  EXPECT_EQ(Clock::open(path_).error(), Error::kHardLink);
  EXPECT_EQ(Clock::open(dir_ + "/second").error(), Error::kHardLink);
}

// The writer replaces a link or a FIFO it finds at its path (never following
// or opening it), so the target is untouched.
TEST_F(HostileTest, WriterReplacesALinkOrFifoWithoutTouchingTheTarget) {
  const std::string target = dir_ + "/precious";
  std::ofstream(target) << "precious";
  ASSERT_EQ(symlink(target.c_str(), path_.c_str()), 0);
  const std::string seg = path_;
  EXPECT_EQ(in_child([&] { return SegmentWriter::create(seg).ok() ? "created" : "refused"; }, 5),
            "created");
  std::ifstream in(target);
  std::string content;
  in >> content;
  EXPECT_EQ(content, "precious");
  unlink(path_.c_str());
  ASSERT_EQ(mkfifo(path_.c_str(), 0666), 0);
  EXPECT_EQ(in_child([&] { return SegmentWriter::create(seg).ok() ? "created" : "refused"; }, 5),
            "created");
  struct stat st {};
  ASSERT_EQ(lstat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
}

// ---- 4. The lock file ------------------------------------------------------

TEST_F(HostileTest, LockFileSymlinkIsRefusedAndItsTargetUntouched) {
  const std::string target = dir_ + "/precious";
  std::ofstream(target) << "precious";
  ASSERT_EQ(symlink(target.c_str(), (path_ + ".lock").c_str()), 0);
  std::string why;
  auto w = SegmentWriter::create(path_, &why);
  EXPECT_EQ(w.error(), Error::kSymlink);
  EXPECT_NE(why.find("symbolic link to " + target), std::string::npos) << why;
  std::ifstream in(target);
  std::string content;
  in >> content;
  EXPECT_EQ(content, "precious");
  // Dangling: the link must not create its target either.
  const std::string nowhere = dir_ + "/nowhere";
  unlink((path_ + ".lock").c_str());
  ASSERT_EQ(symlink(nowhere.c_str(), (path_ + ".lock").c_str()), 0);
  EXPECT_EQ(SegmentWriter::create(path_).error(), Error::kSymlink);
  EXPECT_FALSE(fs::exists(nowhere));
}

TEST_F(HostileTest, LockFileThatIsNotAPlainFileOfOursIsRefused) {
  const std::string lock = path_ + ".lock";
  ASSERT_EQ(mkfifo(lock.c_str(), 0666), 0);
  std::string why;
  EXPECT_EQ(SegmentWriter::create(path_, &why).error(), Error::kNotRegular);
  EXPECT_NE(why.find("FIFO"), std::string::npos) << why;
  unlink(lock.c_str());
  std::ofstream(dir_ + "/elsewhere") << "";
  ASSERT_EQ(link((dir_ + "/elsewhere").c_str(), lock.c_str()), 0);
  EXPECT_EQ(SegmentWriter::create(path_, &why).error(), Error::kHardLink);
  unlink(lock.c_str());
  if (geteuid() != 0) return;  // no other user to own it
  std::ofstream(lock) << "";
  ASSERT_EQ(chown(lock.c_str(), kNobody, kNobody), 0);
  EXPECT_EQ(SegmentWriter::create(path_, &why).error(), Error::kWrongOwner);
  EXPECT_NE(why.find("uid 65534"), std::string::npos) << why;
}

// Another process holds the lock: the message names it by pid and name, as
// the kernel knows it, whatever the lock file says.
TEST_F(HostileTest, SecondWriterLearnsWhoHoldsTheLock) {
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    auto w = SegmentWriter::create(path_);
    (void)!write(ready[1], w.ok() ? "y" : "n", 1);
    pause();
    _exit(0);
  }
  char x = 0;
  ASSERT_EQ(read(ready[0], &x, 1), 1);
  ASSERT_EQ(x, 'y');
  std::ofstream(path_ + ".lock", std::ios::trunc) << "1";  // lies about the holder
  std::string why;
  EXPECT_EQ(SegmentWriter::create(path_, &why).error(), Error::kWriterExists);
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  EXPECT_NE(why.find("pid " + std::to_string(pid) + " ("), std::string::npos) << why;
  EXPECT_NE(why.find("(segment_hostile)"), std::string::npos) << why;  // comm: 15 chars
  close(ready[0]);
  close(ready[1]);
}

}  // namespace
}  // namespace timesync
