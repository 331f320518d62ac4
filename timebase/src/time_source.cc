#include "timesync/timebase/time_source.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <limits>

namespace timesync {

namespace {

constexpr int64_t kNsPerSec = 1'000'000'000;
// Longest single sleep. Far deadlines (even INT64_MAX) then never need an exact
// far-future conversion, and a step of CLOCK_REALTIME is noticed within ~1 s.
constexpr int64_t kMaxChunkNs = kNsPerSec;

int64_t read_ns(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * kNsPerSec + ts.tv_nsec;
}

timespec to_timespec(int64_t ns) {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(ns / kNsPerSec);
  ts.tv_nsec = static_cast<long>(ns % kNsPerSec);
  return ts;
}

int64_t sat_add(int64_t a, int64_t b) {
  int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) {
    return b > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
  }
  return r;
}

int64_t sat_sub(int64_t a, int64_t b) {
  int64_t r = 0;
  if (__builtin_sub_overflow(a, b, &r)) {
    return b < 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
  }
  return r;
}

// Sleeps `wait_ns` (> 0) on CLOCK_MONOTONIC. Returns false only when woken;
// an EINTR returns true early, which the caller's loop absorbs.
bool wait_monotonic(int64_t wait_ns, const Waker* wake) {
  if (wake != nullptr && wake->fd() >= 0) {
    // ppoll's relative timeout runs on CLOCK_MONOTONIC.
    pollfd p{wake->fd(), POLLIN, 0};
    const timespec rel = to_timespec(wait_ns);
    return ppoll(&p, 1, &rel, nullptr) <= 0;
  }
  const timespec abs = to_timespec(sat_add(read_ns(CLOCK_MONOTONIC), wait_ns));
  clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &abs, nullptr);
  return true;
}

// CLOCK_REALTIME - CLOCK_MONOTONIC_RAW, with the realtime read bracketed by two
// raw reads so the pairing error is half the bracket.
int64_t realtime_minus_raw() {
  const int64_t raw1 = read_ns(CLOCK_MONOTONIC_RAW);
  const int64_t rt = read_ns(CLOCK_REALTIME);
  const int64_t raw2 = read_ns(CLOCK_MONOTONIC_RAW);
  return rt - (raw1 + (raw2 - raw1) / 2);
}

Error errno_to_error(int err) { return err == ENOMEM ? Error::kNoMemory : Error::kIo; }

}  // namespace

// --- Waker -------------------------------------------------------------------

Result<Waker> Waker::create() {
  const int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return errno_to_error(errno);
  return Waker(fd);
}

Waker::Waker(Waker&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

Waker& Waker::operator=(Waker&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

Waker::~Waker() {
  if (fd_ >= 0) close(fd_);
}

void Waker::signal() const noexcept {
  if (fd_ < 0) return;
  const int saved = errno;  // a signal handler must not clobber the interrupted code's errno
  const uint64_t one = 1;
  // EAGAIN means the counter is saturated, i.e. already signalled: nothing to do.
  [[maybe_unused]] const ssize_t n = write(fd_, &one, sizeof one);
  errno = saved;
}

bool Waker::signalled() const noexcept {
  if (fd_ < 0) return false;
  pollfd p{fd_, POLLIN, 0};
  return poll(&p, 1, 0) > 0;
}

void Waker::reset() noexcept {
  if (fd_ < 0) return;
  uint64_t count = 0;
  [[maybe_unused]] const ssize_t n = read(fd_, &count, sizeof count);  // zeroes the counter
}

// --- TimeSource ----------------------------------------------------------------

bool TimeSource::sleep_until_via_host_raw(int64_t deadline_ns, const Waker* wake) const {
  for (;;) {
    const int64_t now = now_ns();
    if (now >= deadline_ns) return true;
    const int64_t target =
        sat_sub(deadline_ns, now) > kMaxChunkNs ? now + kMaxChunkNs : deadline_ns;
    int64_t wait = sat_sub(to_host_raw_ns(target), host_raw_now_ns());
    // NTP may slew CLOCK_MONOTONIC up to 500 ppm against CLOCK_MONOTONIC_RAW.
    // Aim ~1000 ppm short and let the next pass sleep the small remainder,
    // rather than overshoot by the slew.
    if (wait > 1'000'000) wait -= wait / 1024;
    // wait <= 0 only when the deadline passed between the two reads; a minimal
    // sleep then avoids spinning if a mapping (realtime) is slightly inconsistent.
    if (wait < 1) wait = 1;
    if (!wait_monotonic(wait, wake)) return false;
  }
}

int64_t host_raw_now_ns() { return read_ns(CLOCK_MONOTONIC_RAW); }

// --- HostClock -------------------------------------------------------------------

namespace {
class RealHostClock final : public HostClock {
 public:
  int64_t now_ns() const override { return host_raw_now_ns(); }
  bool sleep_until(int64_t deadline_ns, const Waker* wake) const override {
    MonotonicRawSource raw;
    return raw.sleep_until(deadline_ns, wake);
  }
};
}  // namespace

const HostClock& real_host_clock() {
  static const RealHostClock clock;
  return clock;
}

bool VirtualHostClock::sleep_until(int64_t deadline_ns, const Waker* wake) const {
  if (wake != nullptr && wake->signalled()) return false;
  advance_to(deadline_ns);
  return true;
}

void VirtualHostClock::advance_to(int64_t t_ns) const {
  int64_t cur = now_.load(std::memory_order_relaxed);
  while (t_ns > cur && !now_.compare_exchange_weak(cur, t_ns, std::memory_order_acq_rel)) {
  }
}

// --- MonotonicRawSource ----------------------------------------------------------

int64_t MonotonicRawSource::now_ns() const { return host_raw_now_ns(); }

bool MonotonicRawSource::sleep_until(int64_t deadline_ns, const Waker* wake) const {
  return sleep_until_via_host_raw(deadline_ns, wake);
}

std::string MonotonicRawSource::describe() const { return "CLOCK_MONOTONIC_RAW"; }

// --- RealtimeSource --------------------------------------------------------------

int64_t RealtimeSource::now_ns() const { return read_ns(CLOCK_REALTIME); }

int64_t RealtimeSource::to_host_raw_ns(int64_t source_ns) const {
  return sat_sub(source_ns, realtime_minus_raw());
}

int64_t RealtimeSource::from_host_raw_ns(int64_t host_raw_ns) const {
  return sat_add(host_raw_ns, realtime_minus_raw());
}

bool RealtimeSource::sleep_until(int64_t deadline_ns, const Waker* wake) const {
  return sleep_until_via_host_raw(deadline_ns, wake);
}

std::string RealtimeSource::describe() const {
  return "CLOCK_REALTIME (host raw mapping approximate)";
}

std::unique_ptr<TimeSource> make_monotonic_raw_source() {
  return std::make_unique<MonotonicRawSource>();
}

std::unique_ptr<TimeSource> make_realtime_source() { return std::make_unique<RealtimeSource>(); }

}  // namespace timesync
