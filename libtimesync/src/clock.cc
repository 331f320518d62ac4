#include "timesync/clock.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

#include "segment.hpp"

namespace timesync {

namespace {
Error errno_to_error(int err) {
  switch (err) {
    case ENOENT:
      return Error::kNoSegment;
    case EACCES:
    case EPERM:
      return Error::kPermission;
    case ENOMEM:
      return Error::kNoMemory;
    default:
      return Error::kIo;
  }
}
}  // namespace

bool read_local_clock(LocalTime* out) {
  timespec ts{};
  if (clock_gettime(CLOCK_MONOTONIC_RAW, &ts) != 0) return false;
  out->ns = static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
  return true;
}

Result<Clock> Clock::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_to_error(errno);
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return errno_to_error(err);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Error::kIo;
  }
  const auto file_size = static_cast<size_t>(st.st_size);
  if (file_size < offsetof(layout::Segment, latest) + sizeof(uint64_t)) {
    ::close(fd);
    return Error::kTruncated;
  }
  // The segment is smaller than a page, so the whole mapping is backed by the
  // file's first page even when the file is short: no SIGBUS while checking it.
  const size_t len = sizeof(layout::Segment);
  void* p = mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, 0);
  const int map_err = errno;
  ::close(fd);
  if (p == MAP_FAILED) return errno_to_error(map_err);
  const auto* seg = static_cast<const layout::Segment*>(p);
  if (const Error e = segment::check_header(seg, file_size); e != Error::kOk) {
    munmap(p, len);
    return e;
  }
  return Clock(seg, len);
}

Clock::Clock(Clock&& other) noexcept : seg_(other.seg_), len_(other.len_) {
  other.seg_ = nullptr;
  other.len_ = 0;
}

Clock& Clock::operator=(Clock&& other) noexcept {
  if (this != &other) {
    if (seg_ != nullptr) munmap(const_cast<layout::Segment*>(seg_), len_);
    seg_ = other.seg_;
    len_ = other.len_;
    other.seg_ = nullptr;
    other.len_ = 0;
  }
  return *this;
}

Clock::~Clock() {
  if (seg_ != nullptr) munmap(const_cast<layout::Segment*>(seg_), len_);
}

Result<TransformSnapshot> Clock::snapshot() const {
  if (seg_ == nullptr) return Error::kInvalidArgument;
  TransformSnapshot s;
  if (const Error e = segment::read(seg_, &s); e != Error::kOk) return e;
  return s;
}

TimestampWithError Clock::timestamp_at(LocalTime local) const {
  Transform s;
  const Error e = seg_ == nullptr ? Error::kInvalidArgument : segment::read_transform(seg_, &s);
  if (e != Error::kOk) {
    TimestampWithError r;
    r.local = local;
    r.error = e;
    return r;
  }
  return evaluate(s, local);
}

TimestampWithError Clock::get_timestamp_with_error() const {
  Transform s;
  const Error e = seg_ == nullptr ? Error::kInvalidArgument : segment::read_transform(seg_, &s);
  TimestampWithError r;
  if (e != Error::kOk) {
    r.error = e;
    return r;
  }
  // Read the clock after the snapshot, so now >= as_of in the common case.
  LocalTime now;
  if (!read_local_clock(&now)) {
    r.error = Error::kClock;
    return r;
  }
  return evaluate(s, now);
}

Result<SyncTime> Clock::get_timestamp() const {
  const TimestampWithError r = get_timestamp_with_error();
  if (!r.ok()) return r.error;
  return r.time;
}

bool Clock::is_synchronized() const { return get_timestamp_with_error().ok(); }

}  // namespace timesync
