#include "timesync/writer.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "segment.hpp"

namespace timesync {

namespace {
constexpr mode_t kSegmentMode = 0644;

Error fail(std::string* why, Error e, const std::string& msg) {
  if (why != nullptr) *why = msg;
  return e;
}

std::string errno_text(const std::string& what, const std::string& path, int err) {
  return what + " " + path + ": " + std::strerror(err);
}

Error errno_error(int err) {
  return (err == EACCES || err == EPERM) ? Error::kPermission : Error::kIo;
}

// Maps an existing segment for writing if it is a valid one of ours; returns
// nullptr otherwise (the caller then replaces it).
layout::Segment* map_existing(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return nullptr;
  struct stat st {};
  layout::Segment* seg = nullptr;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
      static_cast<size_t>(st.st_size) == sizeof(layout::Segment)) {
    void* p = mmap(nullptr, sizeof(layout::Segment), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p != MAP_FAILED) {
      seg = static_cast<layout::Segment*>(p);
      if (segment::check_header(seg, sizeof(layout::Segment)) != Error::kOk ||
          fchmod(fd, kSegmentMode) != 0) {
        munmap(p, sizeof(layout::Segment));
        seg = nullptr;
      }
    }
  }
  ::close(fd);
  return seg;
}
}  // namespace

Result<std::unique_ptr<SegmentWriter>> SegmentWriter::create(const std::string& path,
                                                             std::string* why) {
  if (path.empty()) return fail(why, Error::kInvalidArgument, "empty segment path");
  const std::string lock_path = path + ".lock";
  const int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, kSegmentMode);
  if (lock_fd < 0) {
    const int err = errno;
    return fail(why, errno_error(err), errno_text("cannot open lock file", lock_path, err));
  }
  if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char buf[32] = {};
    const ssize_t n = pread(lock_fd, buf, sizeof(buf) - 1, 0);
    ::close(lock_fd);
    if (err == EWOULDBLOCK) {
      const std::string owner = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "unknown";
      return fail(why, Error::kWriterExists,
                  "segment " + path + " already has a writer (pid " + owner + " holds " +
                      lock_path + ")");
    }
    return fail(why, Error::kIo, errno_text("cannot lock", lock_path, err));
  }
  const std::string pid = std::to_string(getpid());
  // The pid only feeds the second writer's error message; the flock is what
  // enforces one writer, so a failure to record it is not an error.
  if (ftruncate(lock_fd, 0) == 0) (void)!pwrite(lock_fd, pid.data(), pid.size(), 0);

  uint64_t previous_epoch = 0;
  layout::Segment* seg = map_existing(path);
  if (seg != nullptr) {
    TransformSnapshot old;
    if (segment::read(seg, &old) == Error::kOk) previous_epoch = old.epoch;
    __atomic_store_n(&seg->writer_pid, static_cast<uint32_t>(getpid()), __ATOMIC_RELAXED);
  } else {
    // Build the segment in a private file and rename it into place, so a reader
    // sees either no segment or a complete header.
    const std::string tmp = path + ".tmp." + pid;
    const int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, kSegmentMode);
    if (fd < 0) {
      const int err = errno;
      ::close(lock_fd);
      return fail(why, errno_error(err), errno_text("cannot create", tmp, err));
    }
    void* p = MAP_FAILED;
    int err = 0;
    if (fchmod(fd, kSegmentMode) != 0 || ftruncate(fd, sizeof(layout::Segment)) != 0) {
      err = errno;
    } else {
      p = mmap(nullptr, sizeof(layout::Segment), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      if (p == MAP_FAILED) err = errno;
    }
    ::close(fd);
    if (p != MAP_FAILED) {
      seg = static_cast<layout::Segment*>(p);
      segment::init(seg, static_cast<uint32_t>(getpid()));
      if (rename(tmp.c_str(), path.c_str()) != 0) {
        err = errno;
        munmap(p, sizeof(layout::Segment));
        seg = nullptr;
      }
    }
    if (seg == nullptr) {
      unlink(tmp.c_str());
      ::close(lock_fd);
      return fail(why, errno_error(err), errno_text("cannot create segment", path, err));
    }
  }
  std::unique_ptr<SegmentWriter> w(new SegmentWriter(path, lock_fd, seg));
  w->previous_epoch_ = previous_epoch;
  // Whatever a previous writer left behind is not vouched for by this one.
  TransformSnapshot unsync;
  unsync.epoch = previous_epoch;
  w->publish(unsync);
  return w;
}

SegmentWriter::~SegmentWriter() {
  if (seg_ != nullptr) {
    TransformSnapshot s = last_;
    s.status = ClockStatus::kUnsynchronized;
    segment::write(seg_, s);
    munmap(seg_, sizeof(layout::Segment));
  }
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

void SegmentWriter::detach(std::unique_ptr<SegmentWriter> w) {
  if (w == nullptr) return;
  munmap(w->seg_, sizeof(layout::Segment));
  w->seg_ = nullptr;  // the destructor now only releases the lock
}

void SegmentWriter::publish(const TransformSnapshot& s) {
  segment::write(seg_, s);
  last_ = s;
}

}  // namespace timesync
