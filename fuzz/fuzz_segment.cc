// libtimesync's segment reader on arbitrary bytes, through its public API: the
// bytes become the contents of a regular file in a private directory (the
// reader refuses symbolic links such as /proc/self/fd/N), which Clock::open()
// checks and reads, and snapshot() / timestamp_at() / get_timestamp_with_error() read as
// an application would. The same bytes also drive the pure half directly:
// validate(), evaluate(), to_sync() and bound_at() on a Transform of any field
// values, at any instant. A segment is written by another process (the agent,
// or whoever could write the file), so nothing in it may crash a reader.
//
// Input: [mode 1][t 8][file...]. mode bit 0 set: the file's header (magic,
// version, size) is forced valid and the file at least a segment long, so the
// fuzzer spends its time in the slots rather than on the magic.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "timesync/clock.hpp"
#include "timesync/segment_layout.hpp"
#include "timesync/transform.hpp"

namespace {

using timesync::Error;
using timesync::LocalTime;

template <class T>
T take(const uint8_t*& p, const uint8_t* end) {
  T v{};
  const size_t n = std::min(sizeof(T), static_cast<size_t>(end - p));
  if (n > 0) std::memcpy(&v, p, n);  // p may be null when empty
  p += n;
  return v;
}

// The segment file, in a directory of this process's own.
const std::string& the_path() {
  static const std::string path = [] {
    char dir[] = "/tmp/fuzz_segment-XXXXXX";
    if (mkdtemp(dir) == nullptr) std::abort();
    return std::string(dir) + "/segment";
  }();
  return path;
}

int the_file() {
  static const int fd = open(the_path().c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) std::abort();
  return fd;
}

// A reading the library returned must be self-consistent.
void check(const timesync::TimestampWithError& r) {
  if (r.ok() && r.status == timesync::ClockStatus::kUnsynchronized) std::abort();
  if (!r.ok() && r.time.ns != 0) std::abort();
}

// UTC: a time only with a synchronized or holdover timeline and UTC in the
// snapshot, never a bound below the timeline's.
void check_utc(const timesync::UtcWithError& u) {
  if (u.ok() && u.status == timesync::ClockStatus::kUnsynchronized) std::abort();
  if (!u.ok() && u.utc_ns != 0) std::abort();
  if (u.ok() && u.bound_ns == 0) std::abort();
}

void pure(const uint8_t* p, const uint8_t* end, LocalTime t) {
  timesync::TransformSnapshot s;
  s.epoch = take<uint64_t>(p, end);
  s.as_of.ns = take<int64_t>(p, end);
  s.void_after.ns = take<int64_t>(p, end);
  s.ref_local.ns = take<int64_t>(p, end);
  s.ref_sync.ns = take<int64_t>(p, end);
  s.freq_adj_q48 = take<int64_t>(p, end);
  s.bound_at_as_of_ns = take<uint64_t>(p, end);
  s.bound_growth_ppb = take<uint64_t>(p, end);
  s.max_error_ns = take<uint64_t>(p, end);
  s.status = static_cast<timesync::ClockStatus>(take<uint32_t>(p, end));
  s.master_instance = take<uint64_t>(p, end);
  s.utc.flags = take<uint32_t>(p, end);
  s.utc.offset_ns = take<int64_t>(p, end);
  s.utc.as_of.ns = take<int64_t>(p, end);
  s.utc.error_ns = take<uint64_t>(p, end);
  s.utc.rate_ppb = take<int64_t>(p, end);
  s.utc.rate_error_ppb = take<uint64_t>(p, end);
  s.utc.tai_minus_utc_s = take<int32_t>(p, end);
  s.utc.next_leap_utc_s = take<int64_t>(p, end);
  s.utc.next_tai_minus_utc_s = take<int32_t>(p, end);
  const size_t n = std::min(s.master_id.size(), static_cast<size_t>(end - p));
  if (n > 0) std::memcpy(s.master_id.data(), p, n);
  (void)timesync::validate(static_cast<const timesync::Transform&>(s));
  if (timesync::validate(s) == Error::kOk) (void)s.master_name();
  timesync::SyncTime out;
  // to_sync() is only defined on a validated transform (evaluate() validates
  // first); bound_at() and evaluate() take any.
  const bool valid = timesync::validate(s) == Error::kOk;
  for (LocalTime at : {t, s.as_of, s.void_after, s.ref_local, LocalTime{INT64_MIN},
                       LocalTime{INT64_MAX}}) {
    check(timesync::evaluate(s, at));
    check_utc(timesync::evaluate_utc(s, at));
    if (valid) (void)timesync::to_sync(s, at, &out);
    (void)timesync::bound_at(s, at);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const uint8_t* p = data;
  const uint8_t* end = data + size;
  const uint8_t mode = take<uint8_t>(p, end);
  const LocalTime t{take<int64_t>(p, end)};
  std::vector<uint8_t> file(p, end);
  if (mode & 1) {
    namespace L = timesync::layout;
    if (file.size() < L::kSegmentSize) file.resize(L::kSegmentSize);
    std::memcpy(file.data() + offsetof(L::Segment, magic), &L::kMagic, 4);
    std::memcpy(file.data() + offsetof(L::Segment, version), &L::kVersion, 4);
    std::memcpy(file.data() + offsetof(L::Segment, size), &L::kSegmentSize, 4);
  }
  pure(file.data(), file.data() + file.size(), t);

  const int fd = the_file();
  if (ftruncate(fd, 0) != 0) std::abort();
  if (!file.empty() &&
      pwrite(fd, file.data(), file.size(), 0) != static_cast<ssize_t>(file.size()))
    std::abort();
  timesync::Result<timesync::Clock> clock = timesync::Clock::open(the_path());
  if (!clock.ok()) return 0;
  (void)clock.value().snapshot();
  check(clock.value().timestamp_at(t));
  check(clock.value().get_timestamp_with_error());
  check_utc(clock.value().get_utc_with_error());
  (void)clock.value().is_synchronized();
  return 0;
}
