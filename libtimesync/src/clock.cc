#include "timesync/clock.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>
#include <new>
#include <type_traits>

#include "files.hpp"
#include "segment.hpp"
#include "share.hpp"

namespace timesync {

namespace {
constexpr size_t kMapLen = sizeof(layout::Segment);
// How long open() (or a look) waits for the agent to hand over its copy.
constexpr int kFetchTimeoutMs = 200;
// A look at the path when the segment says so (retired, or a new writer
// offers a copy), and a probe for a changed path when reads fail otherwise.
constexpr int64_t kLookEveryNs = 100'000'000;
constexpr int64_t kProbeEveryNs = 1'000'000'000;

enum Mode : int { kMapped = 0, kFile = 1 };

int64_t now_ns() {
  LocalTime t;
  return read_local_clock(&t) ? t.ns : 0;
}

// True at most once per interval, whichever thread asks.
bool due(std::atomic<int64_t>* next, int64_t now, int64_t interval) {
  int64_t n = next->load(std::memory_order_relaxed);
  return now >= n &&
         next->compare_exchange_strong(n, now + interval, std::memory_order_relaxed);
}

// What a Clock reading the file points to: bad magic sends every read to the
// slow path, which reads the file.
const layout::Segment kBlank{};

// Distinct sealed copies (one per agent instance: each agent start makes a
// new one) a Clock maps in its life. A reader thread may have loaded the
// pointer to a copy just before the Clock moved on and still be reading it,
// and the hot path records nothing a reclaimer could wait for, so a copy is
// never unmapped nor its address reused while the Clock lives: at most
// kMaxCopies mappings of one page each. After that, a Clock that must move
// reads the file with pread instead (slower, equally correct) for the rest of
// its life.
constexpr int kMaxCopies = 16;

template <class T>
T relaxed(const T* p) {
  return __atomic_load_n(p, __ATOMIC_RELAXED);
}
}  // namespace

namespace detail {

// Everything but the hot path. A reader may still be reading a copy after
// the Clock moved on, so copies are never unmapped, and their addresses never
// reused for anything else, while the Clock lives (at most kMaxCopies of them,
// see above); the file's descriptor is only ever retargeted (dup3), never
// closed.
struct ClockState {
  std::string path;
  Clock* owner = nullptr;  // whose seg_ is the current copy (kept up to date on moves)
  int fd = -1;             // the file at the path, read-only
  std::atomic<int> mode{kFile};
  std::atomic<uint64_t> copy_instance{0};   // writer of the current copy
  std::atomic<uint64_t> tried_instance{0};  // file mode: last writer asked for a copy
  std::atomic<int64_t> next_look{0};
  std::atomic<int64_t> next_probe{0};
  std::mutex mu;  // one look at a time; readers only try_lock it
  // Every copy ever mapped, with the memfd it maps (a copy handed out again
  // is its old mapping again). Guarded by mu (and the destructor).
  struct Copy {
    void* map = nullptr;
    dev_t dev = 0;
    ino_t ino = 0;
  };
  Copy copies[kMaxCopies] = {};
  int n_copies = 0;

  ~ClockState() {
    for (int i = 0; i < n_copies; ++i) munmap(copies[i].map, kMapLen);
    if (fd >= 0) ::close(fd);
  }

  const layout::Segment* current() const {
    return __atomic_load_n(&owner->seg_, __ATOMIC_ACQUIRE);
  }
  void set_current(const layout::Segment* seg) {
    __atomic_store_n(&owner->seg_, seg, __ATOMIC_RELEASE);
  }
  template <class Out>
  Error read(Out* out, int* mode_used, segment::FileHeader* h);
  bool attach_copy(uid_t owner_uid);
  bool look();
  bool maybe_look(int mode_used, const segment::FileHeader& h, bool failed);
  TimestampWithError timestamp(const LocalTime* at);
  Result<TransformSnapshot> snapshot();
};

template <class Out>
Error ClockState::read(Out* out, int* mode_used, segment::FileHeader* h) {
  *mode_used = mode.load(std::memory_order_acquire);
  if (*mode_used == kMapped) {
    const layout::Segment* page = current();
    Error e;
    if constexpr (std::is_same_v<Out, TransformSnapshot>) {
      e = segment::read(page, out);
    } else {
      e = segment::read_transform(page, out);
    }
    h->header_ok = true;
    h->instance = relaxed(&page->instance);
    h->flags = relaxed(&page->flags);
    return e;
  }
  if constexpr (std::is_same_v<Out, TransformSnapshot>) {
    return segment::read_file(fd, out, h);
  } else {
    return segment::read_file_transform(fd, out, h);
  }
}

bool ClockState::attach_copy(uid_t owner_uid) {
  const int m = share::fetch(share::socket_path(path), owner_uid, kMapLen, kFetchTimeoutMs);
  if (m < 0) return false;
  struct stat st {};
  void* p = nullptr;
  bool fresh = false;
  if (fstat(m, &st) == 0) {
    // The copy we already map (the agent re-created its file, or we moved
    // to the file and back): its old mapping, same memory.
    for (int i = 0; i < n_copies && p == nullptr; ++i) {
      if (copies[i].dev == st.st_dev && copies[i].ino == st.st_ino) p = copies[i].map;
    }
    // A new one, while there is room; else it is refused and the caller
    // reads the file.
    if (p == nullptr && n_copies < kMaxCopies) {
      p = mmap(nullptr, kMapLen, PROT_READ, MAP_SHARED, m, 0);
      fresh = p != MAP_FAILED;
      if (!fresh) p = nullptr;
    }
  }
  ::close(m);
  if (p == nullptr) return false;
  const auto* seg = static_cast<const layout::Segment*>(p);
  if (segment::check_header(seg, kMapLen) != Error::kOk ||
      (relaxed(&seg->flags) & layout::kFlagRetired) != 0) {
    if (fresh) munmap(p, kMapLen);  // no reader has seen it
    return false;  // an old one stays mapped: a reader may still hold it
  }
  if (fresh) copies[n_copies++] = Copy{p, st.st_dev, st.st_ino};
  copy_instance.store(relaxed(&seg->instance), std::memory_order_relaxed);
  set_current(seg);
  mode.store(kMapped, std::memory_order_release);
  return true;
}

// The path again: its agent's copy if one is offered, else its file.
bool ClockState::look() {
  std::unique_lock<std::mutex> lock(mu, std::try_to_lock);
  if (!lock.owns_lock()) return false;
  int nfd = -1;
  struct stat st {};
  if (files::open_regular(path, O_RDONLY, &nfd, &st) != Error::kOk) return false;
  const bool mapped = attach_copy(st.st_uid);
  if (!mapped) {
    layout::Segment f{};
    const ssize_t n = pread(nfd, &f, sizeof f, 0);
    const bool has_instance = n >= static_cast<ssize_t>(offsetof(layout::Segment, reserved));
    tried_instance.store(has_instance ? f.instance : 0, std::memory_order_relaxed);
  }
  (void)dup3(nfd, fd, O_CLOEXEC);
  ::close(nfd);
  if (!mapped && mode.load(std::memory_order_relaxed) == kMapped) {
    mode.store(kFile, std::memory_order_release);
    set_current(&kBlank);
  }
  return true;
}

bool ClockState::maybe_look(int m, const segment::FileHeader& h, bool failed) {
  bool hint = false;
  if (m == kMapped) {
    hint = (h.flags & layout::kFlagRetired) != 0;
  } else if (h.header_ok) {
    hint = (h.flags & layout::kFlagRetired) != 0 ||
           ((h.flags & layout::kFlagShared) != 0 &&
            h.instance != tried_instance.load(std::memory_order_relaxed));
  }
  // Reading the file while its writer offers a copy (its socket was missing
  // when we last asked, or kMaxCopies are mapped): ask again now and then,
  // even while the file gives times, so a Clock does not stay on the slow
  // path for good after a passing failure.
  const bool retry = m == kFile && h.header_ok && (h.flags & layout::kFlagShared) != 0;
  if (!hint && !failed && !retry) return false;  // a time, and nothing to act on
  const int64_t now = now_ns();
  if (hint) return due(&next_look, now, kLookEveryNs) && look();
  if (!due(&next_probe, now, kProbeEveryNs)) return false;
  struct stat at {}, ours {};
  if (lstat(path.c_str(), &at) != 0) return false;  // nothing there now: keep what we have
  if (fstat(fd, &ours) != 0 || !files::same_file(at, ours)) return look();
  if (m == kMapped) {  // does the file name another writer than our copy's?
    layout::Segment f;
    return pread(fd, &f, sizeof f, 0) == static_cast<ssize_t>(sizeof f) &&
           segment::check_header(&f, sizeof f) == Error::kOk &&
           f.instance != copy_instance.load(std::memory_order_relaxed) && look();
  }
  // Its writer offers a copy we did not get: ask again.
  return retry && look();
}

TimestampWithError ClockState::timestamp(const LocalTime* at) {
  TimestampWithError r;
  for (int pass = 0; pass < 3; ++pass) {
    Transform s;
    int m = kFile;
    segment::FileHeader h;
    const Error e = read(&s, &m, &h);
    r = TimestampWithError{};
    if (e != Error::kOk) {
      r.error = e;
      if (at != nullptr) r.local = *at;
    } else {
      LocalTime now;
      if (at != nullptr) {
        now = *at;
      } else if (!read_local_clock(&now)) {
        r.error = Error::kClock;
        return r;
      }
      r = evaluate(s, now);
    }
    if (mode.load(std::memory_order_acquire) != m) continue;  // moved under us: again
    if (!maybe_look(m, h, !r.ok()) || r.ok()) return r;
  }
  return r;
}

Result<TransformSnapshot> ClockState::snapshot() {
  TransformSnapshot s;
  Error e = Error::kOk;
  for (int pass = 0; pass < 3; ++pass) {
    int m = kFile;
    segment::FileHeader h;
    e = read(&s, &m, &h);
    if (mode.load(std::memory_order_acquire) != m) continue;
    LocalTime now;
    const bool usable = e == Error::kOk && read_local_clock(&now) && evaluate(s, now).ok();
    if (!maybe_look(m, h, !usable) || usable) break;
  }
  if (e != Error::kOk) return e;
  return s;
}

}  // namespace detail

bool read_local_clock(LocalTime* out) {
  timespec ts{};
  if (clock_gettime(CLOCK_MONOTONIC_RAW, &ts) != 0) return false;
  out->ns = static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
  return true;
}

Result<Clock> Clock::open(const std::string& path) {
  auto* st = new (std::nothrow) detail::ClockState;
  if (st == nullptr) return Error::kNoMemory;
  st->path = path;
  struct stat sb {};
  if (const Error e = files::open_regular(path, O_RDONLY, &st->fd, &sb); e != Error::kOk) {
    delete st;
    return e;
  }
  Clock c(&kBlank, st);  // owns the state from here
  if (st->attach_copy(sb.st_uid)) return c;
  // No copy offered: read the file, which must be a segment now.
  layout::Segment f{};
  const ssize_t n = pread(st->fd, &f, sizeof f, 0);
  if (n < 0) return files::from_errno(errno);
  if (const Error e = segment::check_header(&f, static_cast<size_t>(n)); e != Error::kOk) return e;
  st->tried_instance.store(f.instance, std::memory_order_relaxed);
  return c;
}

Clock::Clock(const layout::Segment* seg, detail::ClockState* state) : seg_(seg), state_(state) {
  state_->owner = this;
}

void Clock::release() {
  delete state_;  // unmaps every copy
  seg_ = nullptr;
  state_ = nullptr;
}

Clock::Clock(Clock&& other) noexcept : seg_(other.seg_), state_(other.state_) {
  if (state_ != nullptr) state_->owner = this;
  other.seg_ = nullptr;
  other.state_ = nullptr;
}

Clock& Clock::operator=(Clock&& other) noexcept {
  if (this != &other) {
    release();
    seg_ = other.seg_;
    state_ = other.state_;
    if (state_ != nullptr) state_->owner = this;
    other.seg_ = nullptr;
    other.state_ = nullptr;
  }
  return *this;
}

Clock::~Clock() { release(); }

namespace {
const layout::Segment* load_current(const layout::Segment* const* seg) {
  return __atomic_load_n(seg, __ATOMIC_ACQUIRE);
}
}  // namespace

Result<TransformSnapshot> Clock::snapshot() const {
  const layout::Segment* seg = load_current(&seg_);
  if (seg == nullptr) return Error::kInvalidArgument;
  TransformSnapshot s;
  LocalTime now;
  if (segment::read(seg, &s) == Error::kOk && read_local_clock(&now) && evaluate(s, now).ok()) {
    return s;
  }
  return state_->snapshot();
}

UtcWithError Clock::get_utc_with_error() const {
  UtcWithError r;
  const layout::Segment* seg = load_current(&seg_);
  if (seg == nullptr) {
    r.error = Error::kInvalidArgument;
    return r;
  }
  TransformSnapshot s;
  LocalTime now;
  if (segment::read(seg, &s) == Error::kOk && read_local_clock(&now)) {
    r = evaluate_utc(s, now);
    if (r.ok() || r.error == Error::kNoUtc) return r;
  }
  // No UTC from the mapped copy: the slow path's reads and looks at the path.
  const Result<TransformSnapshot> snap = state_->snapshot();
  r = UtcWithError{};
  if (!snap.ok()) {
    r.error = snap.error();
    return r;
  }
  if (!read_local_clock(&now)) {
    r.error = Error::kClock;
    return r;
  }
  return evaluate_utc(snap.value(), now);
}

TimestampWithError Clock::timestamp_at(LocalTime local) const {
  const layout::Segment* seg = load_current(&seg_);
  Transform s;
  const bool read = seg != nullptr && segment::read_transform(seg, &s) == Error::kOk;
  // One result object for every return, as in get_timestamp_with_error().
  TimestampWithError r = read ? evaluate(s, local) : TimestampWithError{};
  if (r.ok()) return r;
  if (seg == nullptr) {
    r = TimestampWithError{};
    r.local = local;
    r.error = Error::kInvalidArgument;
  } else {
    r = state_->timestamp(&local);
  }
  return r;
}

TimestampWithError Clock::read_slow() const {
  if (load_current(&seg_) == nullptr) {  // moved from
    TimestampWithError r;
    r.error = Error::kInvalidArgument;
    return r;
  }
  // No time from the inline path: the page again with retries, the file, or a
  // look at the path.
  return state_->timestamp(nullptr);
}

namespace {
// get_timestamp_with_error() was out of line in libtimesync.so.0 before it
// moved to the header; programs linked then still call the library's copy.
// Taking its address here emits that copy, with the same exported symbol.
[[gnu::used]] TimestampWithError (Clock::*const kKeepOutOfLineCopy)() const =
    &Clock::get_timestamp_with_error;
}  // namespace

Result<SyncTime> Clock::get_timestamp() const {
  const TimestampWithError r = get_timestamp_with_error();
  if (!r.ok()) return r.error;
  return r.time;
}

bool Clock::is_synchronized() const { return get_timestamp_with_error().ok(); }

}  // namespace timesync
