// The simulated wire backend (see wire_layout.hpp and line.hpp).
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <thread>

#include "timesync/gpio/line.hpp"
#include "wire_layout.hpp"

namespace timesync::gpio {
namespace {

// A slot is a small seqlock (wire_layout.hpp). As in libtimesync's segment,
// ThreadSanitizer cannot model stand-alone fences, so TSan builds order the
// payload accesses themselves instead: strictly stronger, and checkable.
#if defined(__SANITIZE_THREAD__)
constexpr auto kPayloadStore = std::memory_order_release;
constexpr auto kPayloadLoad = std::memory_order_acquire;
inline void fence_release() {}
inline void fence_acquire() {}
#else
constexpr auto kPayloadStore = std::memory_order_relaxed;
constexpr auto kPayloadLoad = std::memory_order_relaxed;
inline void fence_release() { std::atomic_thread_fence(std::memory_order_release); }
inline void fence_acquire() { std::atomic_thread_fence(std::memory_order_acquire); }
#endif

int64_t now_ns(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Maps the wire segment, creating and initialising it when it does not exist.
class WireMap {
 public:
  static std::shared_ptr<WireMap> open(const std::string& path, std::string* error) {
    auto fail = [&](const std::string& what) {
      *error = "wire " + path + ": " + what;
      return nullptr;
    };
    bool creator = true;
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno == EEXIST) {
      creator = false;
      fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    }
    if (fd < 0) {
      const int e = errno;
      return fail(std::string(e == EACCES || e == EPERM ? "permission denied" : "cannot open") +
                  " (" + std::strerror(e) + ")");
    }
    constexpr size_t kSize = sizeof(WireSegment);
    if (creator) {
      fchmod(fd, 0666);  // every process on the host may drive or watch it
      if (ftruncate(fd, kSize) != 0) {
        const int e = errno;
        ::close(fd);
        return fail(std::string("cannot size the segment (") + std::strerror(e) + ")");
      }
    } else {
      // The creator sizes it right after creating it; give it a moment.
      struct stat st {};
      for (int i = 0; i < 1000 && fstat(fd, &st) == 0 && st.st_size == 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      if (fstat(fd, &st) != 0 || static_cast<size_t>(st.st_size) != kSize) {
        ::close(fd);
        return fail("not a timesync wire: size " + std::to_string(st.st_size) + " bytes, expected " +
                    std::to_string(kSize));
      }
    }
    void* p = mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    const int map_errno = errno;
    ::close(fd);
    if (p == MAP_FAILED) return fail(std::string("mmap: ") + std::strerror(map_errno));
    auto map = std::shared_ptr<WireMap>(new WireMap(static_cast<WireSegment*>(p), kSize));
    WireSegment* seg = map->seg;
    if (creator) {
      seg->version = kWireVersion;
      seg->lines = kWireLines;
      seg->ring = kWireRing;
      seg->line_bytes = sizeof(WireLine);
      seg->magic.store(kWireMagic, std::memory_order_release);
      return map;
    }
    for (int i = 0; i < 1000 && seg->magic.load(std::memory_order_acquire) == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (seg->magic.load(std::memory_order_acquire) != kWireMagic) {
      return fail("not a timesync wire (bad magic): remove it if nothing uses it");
    }
    if (seg->version != kWireVersion || seg->lines != kWireLines || seg->ring != kWireRing ||
        seg->line_bytes != sizeof(WireLine)) {
      return fail("layout version " + std::to_string(seg->version) + " with " +
                  std::to_string(seg->lines) + " lines is not the one this program speaks (" +
                  std::to_string(kWireVersion) + ", " + std::to_string(kWireLines) + ")");
    }
    return map;
  }

  ~WireMap() { munmap(seg, size_); }
  WireSegment* seg;

 private:
  WireMap(WireSegment* s, size_t size) : seg(s), size_(size) {}
  size_t size_;
};

std::string load_consumer(const WireLine& l) {
  char buf[kConsumerWords * 8 + 1] = {};
  for (unsigned i = 0; i < kConsumerWords; ++i) {
    const uint64_t w = l.consumer[i].load(std::memory_order_relaxed);
    std::memcpy(buf + i * 8, &w, 8);
  }
  return std::string(buf);
}

void store_consumer(WireLine& l, const std::string& name) {
  char buf[kConsumerWords * 8] = {};
  std::memcpy(buf, name.data(), std::min(name.size(), sizeof(buf) - 1));
  for (unsigned i = 0; i < kConsumerWords; ++i) {
    uint64_t w = 0;
    std::memcpy(&w, buf + i * 8, 8);
    l.consumer[i].store(w, std::memory_order_relaxed);
  }
}

bool pid_alive(int32_t pid) { return kill(pid, 0) == 0 || errno == EPERM; }

class WireOutput final : public OutputLine {
 public:
  WireOutput(std::shared_ptr<WireMap> map, LineSpec spec)
      : map_(std::move(map)), spec_(std::move(spec)), line_(map_->seg->line[spec_.offset]) {}
  ~WireOutput() override {
    (void)set(false);  // leave the wire low, as a released output with a pull-down would
    int32_t me = getpid();
    line_.owner_pid.compare_exchange_strong(me, 0);
  }

  std::string set(bool active) override {
    // Stamp before touching the segment: after a sleep its cache lines and
    // page-table entries are cold, and the first access costs microseconds
    // that belong to this process, not to the wire.
    const int64_t ts = now_ns(CLOCK_MONOTONIC_RAW) + spec_.delay_ns;
    if (line_.level.load(std::memory_order_relaxed) == (active ? 1u : 0u)) return "";
    line_.level.store(active ? 1 : 0, std::memory_order_relaxed);
    const uint64_t n = line_.count.load(std::memory_order_relaxed);  // we are the only driver
    WireSlot& slot = line_.ring[n % kWireRing];
    slot.seq.store(2 * n + 1, std::memory_order_relaxed);
    fence_release();
    slot.timestamp_ns.store(ts, kPayloadStore);
    slot.rising.store(active ? 1 : 0, kPayloadStore);
    slot.seq.store(2 * n + 2, std::memory_order_release);
    line_.count.store(n + 1, std::memory_order_release);
    map_->seg->wake.fetch_add(1, std::memory_order_release);
    syscall(SYS_futex, &map_->seg->wake, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
    return "";
  }
  std::string describe() const override { return spec_.to_string(); }

 private:
  std::shared_ptr<WireMap> map_;
  LineSpec spec_;
  WireLine& line_;
};

class WireInput final : public InputLine {
 public:
  WireInput(std::shared_ptr<WireMap> map, LineSpec spec)
      : map_(std::move(map)), spec_(std::move(spec)), line_(map_->seg->line[spec_.offset]),
        next_(line_.count.load(std::memory_order_acquire)) {}

  Wait wait_edge(std::chrono::nanoseconds timeout, EdgeEvent* event, std::string*) override {
    const int64_t deadline = now_ns(CLOCK_MONOTONIC) + timeout.count();
    std::atomic<uint32_t>& wake = map_->seg->wake;
    for (;;) {
      const uint64_t count = line_.count.load(std::memory_order_acquire);
      if (next_ < count) {
        if (count - next_ > kWireRing) {  // the driver lapped us
          lost_ += count - next_ - kWireRing;
          next_ = count - kWireRing;
        }
        const WireSlot& slot = line_.ring[next_ % kWireRing];
        const uint64_t s1 = slot.seq.load(std::memory_order_acquire);
        const int64_t ts = slot.timestamp_ns.load(kPayloadLoad);
        const uint32_t rising = slot.rising.load(kPayloadLoad);
        fence_acquire();
        const uint64_t s2 = slot.seq.load(std::memory_order_relaxed);
        const uint64_t want = 2 * next_ + 2;
        ++next_;
        if (s1 != want || s2 != want) {  // overwritten while we looked
          ++lost_;
          continue;
        }
        event->edge = rising != 0 ? Edge::kRising : Edge::kFalling;
        event->timestamp_ns = ts;
        return Wait::kEdge;
      }
      const uint32_t seen = wake.load(std::memory_order_acquire);
      if (line_.count.load(std::memory_order_acquire) != count) continue;
      const int64_t left = deadline - now_ns(CLOCK_MONOTONIC);
      if (left <= 0) return Wait::kTimeout;
      const timespec rel{static_cast<time_t>(left / 1'000'000'000),
                         static_cast<long>(left % 1'000'000'000)};
      syscall(SYS_futex, &wake, FUTEX_WAIT, seen, &rel, nullptr, 0);
    }
  }
  EventClock event_clock() const override { return EventClock::kMonotonicRaw; }
  uint64_t lost() const override { return lost_; }
  std::string describe() const override { return spec_.to_string(); }

 private:
  std::shared_ptr<WireMap> map_;
  LineSpec spec_;
  WireLine& line_;
  uint64_t next_;
  uint64_t lost_ = 0;
};

}  // namespace

Opened<OutputLine> open_wire_output(const LineSpec& spec, const std::string& consumer) {
  Opened<OutputLine> r;
  auto map = WireMap::open(spec.wire_path(), &r.error);
  if (!map) return r;
  WireLine& line = map->seg->line[spec.offset];
  const int32_t me = getpid();
  int32_t owner = 0;
  while (!line.owner_pid.compare_exchange_strong(owner, me)) {
    if (owner == me || pid_alive(owner)) {
      r.error = "line " + spec.to_string() + " is busy: driven by pid " + std::to_string(owner) +
                " ('" + load_consumer(line) + "')";
      return r;
    }
    // The previous driver died without releasing the line: take it over.
  }
  store_consumer(line, consumer);
  r.line = std::make_unique<WireOutput>(std::move(map), spec);
  return r;
}

Opened<InputLine> open_wire_input(const LineSpec& spec, const std::string&) {
  Opened<InputLine> r;
  auto map = WireMap::open(spec.wire_path(), &r.error);
  if (map) r.line = std::make_unique<WireInput>(std::move(map), spec);
  return r;
}

}  // namespace timesync::gpio
