#include "timesync/writer.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "files.hpp"
#include "segment.hpp"
#include "share.hpp"

namespace timesync {

namespace {
constexpr mode_t kSegmentMode = 0644;
constexpr size_t kSize = sizeof(layout::Segment);

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

uint64_t random_u64() {
  uint64_t v = 0;
  if (getrandom(&v, sizeof v, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof v)) {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    v = (static_cast<uint64_t>(ts.tv_nsec) * 0x9E3779B97F4A7C15ULL) ^
        (static_cast<uint64_t>(getpid()) << 32) ^ static_cast<uint64_t>(ts.tv_sec);
  }
  return v != 0 ? v : 1;
}

// A fresh image: header, random even generations in both slots.
layout::Segment fresh_image(uint64_t instance) {
  layout::Segment seg;
  segment::init(&seg, static_cast<uint32_t>(getpid()), instance, random_u64() >> 1 << 1);
  return seg;
}

// The lock file, opened without following links and accepted only as a
// regular file of this user with one name.
Error open_lock(const std::string& lock, int* out, std::string* why) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    struct stat st {};
    if (lstat(lock.c_str(), &st) != 0) {
      const int err = errno;
      if (err != ENOENT) return fail(why, errno_error(err), errno_text("cannot examine", lock, err));
      const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                            kSegmentMode);
      if (fd >= 0) {
        (void)fchmod(fd, kSegmentMode);
        *out = fd;
        return Error::kOk;
      }
      if (errno == EEXIST) continue;  // created meanwhile: look again
      const int e2 = errno;
      return fail(why, errno_error(e2), errno_text("cannot create lock file", lock, e2));
    }
    const std::string what = "lock file " + lock + " is " + files::describe(lock, st);
    if (S_ISLNK(st.st_mode)) {
      return fail(why, Error::kSymlink, what + ": not followed; remove it");
    }
    if (!S_ISREG(st.st_mode)) return fail(why, Error::kNotRegular, what + "; remove it");
    if (st.st_uid != geteuid()) {
      return fail(why, Error::kWrongOwner,
                  what + ", not this user's (uid " + std::to_string(geteuid()) + "); remove it");
    }
    if (st.st_nlink != 1) return fail(why, Error::kHardLink, what + "; remove it");
    const int fd = ::open(lock.c_str(), O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      if (err == ELOOP) continue;  // swapped for a link meanwhile: look again
      return fail(why, errno_error(err), errno_text("cannot open lock file", lock, err));
    }
    struct stat got {};
    if (fstat(fd, &got) == 0 && files::same_file(st, got) && S_ISREG(got.st_mode) &&
        got.st_uid == geteuid() && got.st_nlink == 1) {
      *out = fd;
      return Error::kOk;
    }
    ::close(fd);  // swapped meanwhile: look again
  }
  return fail(why, Error::kIo, "lock file " + lock + " keeps changing; refused");
}

std::string contents_damage(const layout::Segment& now, ssize_t n, off_t size) {
  if (size != static_cast<off_t>(kSize) || n != static_cast<ssize_t>(kSize)) {
    return "was truncated or resized to " + std::to_string(size) + " bytes";
  }
  if (now.magic != layout::kMagic) return "was overwritten (bad magic)";
  if (now.version != layout::kVersion) {
    return "was overwritten (layout version " + std::to_string(now.version) + ")";
  }
  if (now.size != layout::kSegmentSize) return "was overwritten (wrong size field)";
  return "was overwritten";
}
}  // namespace

SegmentWriter::SegmentWriter() : shadow_(new layout::Segment{}) {}

Result<std::unique_ptr<SegmentWriter>> SegmentWriter::create(const std::string& path,
                                                             std::string* why) {
  if (path.empty()) return fail(why, Error::kInvalidArgument, "empty segment path");
  const std::string lock_path = path + ".lock";
  int lock_fd = -1;
  if (const Error e = open_lock(lock_path, &lock_fd, why); e != Error::kOk) return e;
  if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    std::string holder = files::flock_holder(lock_fd);
    if (holder.empty()) {
      char buf[32] = {};
      const ssize_t n = pread(lock_fd, buf, sizeof(buf) - 1, 0);
      holder = n > 0 ? "pid " + std::string(buf, static_cast<size_t>(n)) + " (as the lock file says)"
                     : "an unknown process";
    }
    ::close(lock_fd);
    if (err == EWOULDBLOCK) {
      return fail(why, Error::kWriterExists,
                  "segment " + path + " already has a writer: " + holder + " holds " + lock_path);
    }
    return fail(why, Error::kIo, errno_text("cannot lock", lock_path, err));
  }
  const std::string pid = std::to_string(getpid());
  // The pid only helps when /proc/locks cannot name the holder; the flock is
  // what enforces one writer, so a failure to record it is not an error.
  if (ftruncate(lock_fd, 0) == 0) (void)!pwrite(lock_fd, pid.data(), pid.size(), 0);

  std::unique_ptr<SegmentWriter> w(new SegmentWriter());
  w->path_ = path;
  w->lock_fd_ = lock_fd;  // released by the destructor from here on
  w->instance_ = random_u64();
  std::string reason;
  if (!w->open_or_create_file(&reason)) {
    const int err = errno;
    return fail(why, err == EISDIR || err == ENOTEMPTY ? Error::kNotRegular : errno_error(err),
                reason);
  }
  if (!w->start_sharing(&reason)) w->no_sharing_ = reason;
  // Whatever a previous writer left behind is not vouched for by this one.
  TransformSnapshot unsync;
  unsync.epoch = w->previous_epoch_;
  w->publish(unsync);
  return w;
}

bool SegmentWriter::open_or_create_file(std::string* why) {
  // Reuse a valid segment of ours in place: its readers keep it.
  int fd = -1;
  struct stat st {};
  if (files::open_regular(path_, O_RDWR, &fd, &st) == Error::kOk) {
    if (st.st_uid == geteuid() && st.st_size == static_cast<off_t>(kSize) &&
        pread(fd, shadow_.get(), kSize, 0) == static_cast<ssize_t>(kSize) &&
        segment::check_header(shadow_.get(), kSize) == Error::kOk && fchmod(fd, kSegmentMode) == 0) {
      TransformSnapshot old;
      if (segment::read(shadow_.get(), &old) == Error::kOk) previous_epoch_ = old.epoch;
      shadow_->writer_pid = static_cast<uint32_t>(getpid());
      shadow_->instance = instance_;
      shadow_->flags = 0;
      if (pwrite(fd, shadow_.get(), offsetof(layout::Segment, reserved), 0) ==
          static_cast<ssize_t>(offsetof(layout::Segment, reserved))) {
        file_fd_ = fd;
        return true;
      }
    }
    ::close(fd);
  }
  // Anything else there (junk, a link, a FIFO, another user's file) is
  // replaced by a new file; rename() never follows or opens what it replaces.
  const layout::Segment image = fresh_image(instance_);
  if (!create_file(&fd, image, why)) return false;
  *shadow_ = image;
  file_fd_ = fd;
  return true;
}

bool SegmentWriter::create_file(int* out, const layout::Segment& image, std::string* why) {
  // Build the segment in a private file and rename it into place, so a reader
  // sees either no segment or a complete header.
  const std::string tmp = path_ + ".tmp." + std::to_string(getpid());
  (void)unlink(tmp.c_str());
  const int fd =
      ::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, kSegmentMode);
  if (fd < 0) {
    *why = errno_text("cannot create", tmp, errno);
    return false;
  }
  int err = 0;
  if (fchmod(fd, kSegmentMode) != 0 ||
      pwrite(fd, &image, kSize, 0) != static_cast<ssize_t>(kSize)) {
    err = errno != 0 ? errno : EIO;
  } else if (rename(tmp.c_str(), path_.c_str()) != 0) {
    err = errno;
    struct stat st {};
    if (lstat(path_.c_str(), &st) == 0) {
      *why = errno_text("cannot replace " + files::describe(path_, st) + " at", path_, err);
    }
  }
  if (err != 0) {
    const int saved = err;
    ::close(fd);
    unlink(tmp.c_str());
    if (why->empty()) *why = errno_text("cannot create segment", path_, saved);
    errno = saved;
    return false;
  }
  *out = fd;
  return true;
}

bool SegmentWriter::start_sharing(std::string* why) {
  void* map = nullptr;
  copy_fd_ = share::create_sealed(kSize, &map, &copy_ro_fd_, why);
  if (copy_fd_ < 0) return false;
  copy_ = static_cast<layout::Segment*>(map);
  const layout::Segment image = fresh_image(instance_);
  std::memcpy(static_cast<void*>(copy_), &image, kSize);  // before anyone can see it
  server_ = share::Server::start(share::socket_path(path_), copy_ro_fd_, why);
  if (server_ == nullptr) {
    munmap(copy_, kSize);
    if (copy_ro_fd_ != copy_fd_) ::close(copy_ro_fd_);
    ::close(copy_fd_);
    copy_ = nullptr;
    copy_fd_ = copy_ro_fd_ = -1;
    return false;
  }
  set_file_flags(layout::kFlagShared);
  return true;
}

void SegmentWriter::set_file_flags(uint64_t flags) {
  shadow_->flags = flags;
  (void)!pwrite(file_fd_, &shadow_->flags, sizeof shadow_->flags,
                offsetof(layout::Segment, flags));
}

std::string SegmentWriter::sharing() const {
  if (server_ != nullptr) return "sealed copy on " + server_->path();
  return "file only (" + no_sharing_ + ")";
}

SegmentWriter::~SegmentWriter() {
  TransformSnapshot s = last_;
  s.status = ClockStatus::kUnsynchronized;
  server_.reset();  // no new reader gets the copy from here on
  if (copy_ != nullptr) {
    segment::write(copy_, s);
    __atomic_fetch_or(&copy_->flags, layout::kFlagRetired, __ATOMIC_RELEASE);
    munmap(copy_, kSize);
  }
  if (copy_ro_fd_ >= 0 && copy_ro_fd_ != copy_fd_) ::close(copy_ro_fd_);
  if (copy_fd_ >= 0) ::close(copy_fd_);
  if (file_fd_ >= 0) {
    (void)segment::write_file(file_fd_, shadow_.get(), s);
    set_file_flags(shadow_->flags & ~layout::kFlagShared);
    ::close(file_fd_);
  }
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

void SegmentWriter::detach(std::unique_ptr<SegmentWriter> w) {
  if (w == nullptr) return;
  w->server_.reset();
  if (w->copy_ != nullptr) {
    __atomic_fetch_or(&w->copy_->flags, layout::kFlagRetired, __ATOMIC_RELEASE);
    munmap(w->copy_, kSize);
    w->copy_ = nullptr;
  }
  if (w->file_fd_ >= 0) {
    w->set_file_flags(w->shadow_->flags & ~layout::kFlagShared);
    ::close(w->file_fd_);
    w->file_fd_ = -1;
  }
  // The destructor now only closes descriptors and releases the lock.
}

void SegmentWriter::check_and_repair(PublishReport* r) {
  std::string damage;
  bool replace = false;
  struct stat at {}, ours {};
  const bool have_ours = fstat(file_fd_, &ours) == 0;
  if (lstat(path_.c_str(), &at) != 0) {
    const int err = errno;
    damage = err == ENOENT ? "was removed" : "cannot be examined (" + std::string(std::strerror(err)) + ")";
    replace = err == ENOENT;
  } else if (!have_ours || !files::same_file(at, ours)) {
    damage = "was replaced by " + files::describe(path_, at);
    replace = true;
  } else if (ours.st_nlink != 1) {
    damage = "got a second name (hard link: " + std::to_string(ours.st_nlink) + " names)";
    replace = true;
  } else {
    layout::Segment now;
    const ssize_t n = pread(file_fd_, &now, kSize, 0);
    if (ours.st_size != static_cast<off_t>(kSize) || n != static_cast<ssize_t>(kSize) ||
        std::memcmp(&now, shadow_.get(), kSize) != 0) {
      damage = contents_damage(now, n, ours.st_size);
      // Rewrite in place: first with latest 0 (readers: never published),
      // then latest (readers: the last publication again).
      layout::Segment image = *shadow_;
      image.latest = 0;
      const bool ok = ftruncate(file_fd_, static_cast<off_t>(kSize)) == 0 &&
                      pwrite(file_fd_, &image, kSize, 0) == static_cast<ssize_t>(kSize) &&
                      pwrite(file_fd_, &shadow_->latest, sizeof shadow_->latest,
                             offsetof(layout::Segment, latest)) == sizeof shadow_->latest;
      r->outcome = ok ? PublishReport::Outcome::kRepaired : PublishReport::Outcome::kFailed;
      r->what = "segment " + path_ + " " + damage +
                (ok ? ": rewritten in place" : ": cannot rewrite it: " + std::string(std::strerror(errno)));
    }
  }
  if (!damage.empty() && r->what.empty()) {
    std::string why;
    int fd = -1;
    layout::Segment image = fresh_image(instance_);
    image.flags = server_ != nullptr ? layout::kFlagShared : 0;
    if (replace && create_file(&fd, image, &why)) {
      // The old file is no longer at the path: its readers are told to leave.
      TransformSnapshot unsync = last_;
      unsync.status = ClockStatus::kUnsynchronized;
      (void)segment::write_file(file_fd_, shadow_.get(), unsync);
      set_file_flags(shadow_->flags | layout::kFlagRetired);
      ::close(file_fd_);
      file_fd_ = fd;
      *shadow_ = image;
      r->outcome = PublishReport::Outcome::kRepaired;
      r->what = "segment " + path_ + " " + damage + ": created a new one";
    } else {
      // Keep publishing into the old file for whoever still reads it.
      r->outcome = PublishReport::Outcome::kFailed;
      r->what = "segment " + path_ + " " + damage + (replace ? ": " + why : "");
    }
  }
  if (server_ != nullptr && !server_->intact()) {
    std::string why;
    const bool ok = server_->restart(&why);
    if (r->outcome == PublishReport::Outcome::kOk) {
      r->outcome = ok ? PublishReport::Outcome::kRepaired : PublishReport::Outcome::kDegraded;
    }
    if (!r->what.empty()) r->what += "; ";
    r->what += ok ? "socket " + server_->path() + " was missing: bound again"
                  : "socket " + server_->path() + " is missing and cannot be bound again (" + why +
                        "): new readers read the file";
  }
}

PublishReport SegmentWriter::publish(const TransformSnapshot& s) {
  PublishReport r;
  if (file_fd_ >= 0) check_and_repair(&r);
  if (copy_ != nullptr) segment::write(copy_, s);
  if (file_fd_ >= 0 && !segment::write_file(file_fd_, shadow_.get(), s)) {
    const int err = errno;
    r.outcome = PublishReport::Outcome::kFailed;
    if (!r.what.empty()) r.what += "; ";
    r.what += errno_text("cannot write", path_, err);
  }
  last_ = s;
  return r;
}

}  // namespace timesync
