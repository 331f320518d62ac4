// Publication protocol: two seqlocked slots and a publish counter (see
// segment_layout.hpp). Fences, after Boehm, "Can seqlocks get along with
// programming language memory models?":
//
//   writer (publish n, slot = n % 2)     reader
//   g = slot.gen & ~1 (owner, relaxed)   n = latest.load(acquire); 0 -> never published
//   slot.gen.store(g+1, relaxed)         g1 = slot.gen.load(acquire); odd -> retry
//   fence(release)                       payload loads (relaxed)
//   payload stores (relaxed)             fence(acquire)
//   slot.gen.store(g+2, release)         g2 = slot.gen.load(relaxed); g1 != g2 -> retry
//   latest.store(n, release)
//
// The release fence keeps the odd store ahead of the payload stores; the acquire
// fence keeps the payload loads ahead of the second generation load. Every
// access is atomic, so concurrent access is defined behaviour.
//
// ThreadSanitizer cannot model stand-alone fences, so TSan builds put the same
// ordering on the accesses themselves (release payload stores, acquire payload
// loads). That is strictly stronger, and lets TSan check the protocol.
#include "segment.hpp"

#include <unistd.h>

#include <atomic>
#include <cstring>
#include <type_traits>

#include "timesync/read_path.hpp"

namespace timesync::segment {

static_assert(sizeof(layout::Slot::master_id) == kMasterIdSize);

namespace {
#if defined(__SANITIZE_THREAD__)
constexpr int kPayloadStore = __ATOMIC_RELEASE;
constexpr int kPayloadLoad = __ATOMIC_ACQUIRE;
inline void fence_release() {}
#else
constexpr int kPayloadStore = __ATOMIC_RELAXED;
constexpr int kPayloadLoad = __ATOMIC_RELAXED;
inline void fence_release() { std::atomic_thread_fence(std::memory_order_release); }
#endif

template <class T>
T load(const T* p, int order = kPayloadLoad) {
  return __atomic_load_n(p, order);
}
template <class T>
void store(T* p, T v, int order = kPayloadStore) {
  __atomic_store_n(p, v, order);
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

template <class Out>
void load_slot(const layout::Slot* sl, Out* out) {
  detail::load_payload(sl, out, [](const auto* p) { return load(p); });
}

Error check_fixed_header(const layout::Segment* seg) {
  if (load(&seg->magic) != layout::kMagic) return Error::kBadMagic;
  if (load(&seg->version) != layout::kVersion) return Error::kBadVersion;
  if (load(&seg->size) != layout::kSegmentSize) return Error::kSizeMismatch;
  return Error::kOk;
}

// Out is a Transform or a TransformSnapshot; the latter also gets the identity.
template <class Out>
Error read_consistent(const layout::Segment* seg, Out* out) {
  // The header is re-checked on every read: a segment overwritten after open
  // must be refused, not interpreted.
  if (const Error e = check_fixed_header(seg); e != Error::kOk) return e;
  for (int attempt = 0; attempt < kMaxReadAttempts; ++attempt) {
    // The same attempt the inline read path makes (read_path.hpp).
    switch (detail::read_slot(seg, out)) {
      case detail::SlotRead::kOk:
        return Error::kOk;
      case detail::SlotRead::kNeverPublished:
        return Error::kNotInitialized;
      case detail::SlotRead::kRetry:
        break;
    }
    cpu_relax();
  }
  return Error::kBusy;
}

// The file with pread: the whole segment, then the slot's generation again.
// The buffer is private, so the slot is read from it directly.
template <class Out>
Error read_file_consistent(int fd, Out* out, FileHeader* h) {
  *h = FileHeader{};
  layout::Segment buf;
  for (int attempt = 0; attempt < kMaxFileReadAttempts; ++attempt) {
    const ssize_t n = pread(fd, &buf, sizeof buf, 0);
    if (n < 0) return Error::kIo;
    if (const Error e = check_header(&buf, static_cast<size_t>(n)); e != Error::kOk) return e;
    h->header_ok = true;
    h->instance = buf.instance;
    h->flags = buf.flags;
    const uint64_t latest = buf.latest;
    if (latest == 0) return Error::kNotInitialized;
    const layout::Slot* sl = &buf.slots[latest & 1];
    const uint64_t g1 = sl->generation;
    if ((g1 & 1) == 0) {
      uint64_t g2 = 0;
      const auto at = static_cast<off_t>(offsetof(layout::Segment, slots) +
                                         (latest & 1) * sizeof(layout::Slot));
      if (pread(fd, &g2, sizeof g2, at) != sizeof g2) return Error::kTruncated;
      if (g2 == g1) {
        load_slot(sl, out);
        return Error::kOk;
      }
    }
    cpu_relax();
  }
  return Error::kBusy;
}

void store_payload(layout::Slot* sl, const TransformSnapshot& s) {
  store(&sl->epoch, s.epoch);
  store(&sl->as_of_local_ns, s.as_of.ns);
  store(&sl->void_after_local_ns, s.void_after.ns);
  store(&sl->ref_local_ns, s.ref_local.ns);
  store(&sl->ref_sync_ns, s.ref_sync.ns);
  store(&sl->freq_adj_q48, s.freq_adj_q48);
  store(&sl->bound_at_as_of_ns, s.bound_at_as_of_ns);
  store(&sl->bound_growth_ppb, s.bound_growth_ppb);
  store(&sl->max_error_ns, s.max_error_ns);
  store(&sl->status, static_cast<uint32_t>(s.status));
  store(&sl->master_instance, s.master_instance);
  uint64_t words[layout::kMasterIdWords];
  std::memcpy(words, s.master_id.data(), sizeof(words));
  for (size_t i = 0; i < layout::kMasterIdWords; ++i) store(&sl->master_id[i], words[i]);
  const UtcInfo& u = s.utc;
  store(&sl->utc_offset_ns, u.offset_ns);
  store(&sl->utc_as_of_sync_ns, u.as_of.ns);
  store(&sl->utc_error_ns, u.error_ns);
  store(&sl->utc_rate_ppb, u.rate_ppb);
  store(&sl->utc_rate_error_ppb, u.rate_error_ppb);
  store(&sl->utc_next_leap_s, u.next_leap_utc_s);
  store(&sl->utc_tai_minus_utc_s, u.tai_minus_utc_s);
  store(&sl->utc_next_tai_minus_utc_s, u.next_tai_minus_utc_s);
  store(&sl->utc_flags, u.flags);
  store(&sl->counter_ref, s.counter.ref_count);
  store(&sl->counter_ref_raw_ns, s.counter.ref_raw_ns);
  store(&sl->counter_ns_per_count_q56, s.counter.ns_per_count_q56);
  store(&sl->counter_error_ns, s.counter.error_ns);
}
}  // namespace

Error check_header(const layout::Segment* seg, size_t file_size) {
  // Enough bytes to read the fixed header fields at all?
  if (file_size < offsetof(layout::Segment, latest) + sizeof(uint64_t)) {
    return Error::kTruncated;
  }
  if (load(&seg->magic) != layout::kMagic) return Error::kBadMagic;
  if (load(&seg->version) != layout::kVersion) return Error::kBadVersion;
  const uint32_t size = load(&seg->size);
  if (size != layout::kSegmentSize) return Error::kSizeMismatch;
  if (file_size < size) return Error::kTruncated;
  return Error::kOk;
}

Error read(const layout::Segment* seg, TransformSnapshot* out) {
  const Error e = read_consistent(seg, out);
  return e == Error::kOk ? validate(*out) : e;
}

Error read_transform(const layout::Segment* seg, Transform* out) {
  return read_consistent(seg, out);
}

void write(layout::Segment* seg, const TransformSnapshot& s) {
  const uint64_t n = load(&seg->latest, __ATOMIC_RELAXED) + 1;
  layout::Slot* sl = &seg->slots[n & 1];
  // A previous writer may have died mid-update and left this slot odd.
  const uint64_t g = load(&sl->generation, __ATOMIC_RELAXED) & ~uint64_t{1};
  store(&sl->generation, g + 1, __ATOMIC_RELAXED);
  fence_release();
  store_payload(sl, s);
  store(&sl->generation, g + 2, __ATOMIC_RELEASE);
  store(&seg->latest, n, __ATOMIC_RELEASE);
}

bool write_file(int fd, layout::Segment* shadow, const TransformSnapshot& s) {
  const uint64_t n = shadow->latest + 1;
  layout::Slot* sl = &shadow->slots[n & 1];
  const auto slot_at =
      static_cast<off_t>(offsetof(layout::Segment, slots) + (n & 1) * sizeof(layout::Slot));
  constexpr size_t kPayload = sizeof(layout::Slot) - sizeof(uint64_t);
  const uint64_t g = sl->generation & ~uint64_t{1};
  sl->generation = g + 1;
  bool ok = pwrite(fd, &sl->generation, 8, slot_at) == 8;
  store_payload(sl, s);
  ok = ok && pwrite(fd, reinterpret_cast<const char*>(sl) + 8, kPayload, slot_at + 8) ==
                 static_cast<ssize_t>(kPayload);
  sl->generation = g + 2;
  ok = ok && pwrite(fd, &sl->generation, 8, slot_at) == 8;
  shadow->latest = n;
  return ok && pwrite(fd, &shadow->latest, 8, offsetof(layout::Segment, latest)) == 8;
}

Error read_file(int fd, TransformSnapshot* out, FileHeader* h) {
  const Error e = read_file_consistent(fd, out, h);
  return e == Error::kOk ? validate(*out) : e;
}

Error read_file_transform(int fd, Transform* out, FileHeader* h) {
  return read_file_consistent(fd, out, h);
}

void init(layout::Segment* seg, uint32_t writer_pid, uint64_t instance, uint64_t gen_base) {
  std::memset(static_cast<void*>(seg), 0, sizeof(*seg));
  seg->magic = layout::kMagic;
  seg->version = layout::kVersion;
  seg->size = layout::kSegmentSize;
  seg->writer_pid = writer_pid;
  seg->latest = 0;
  seg->instance = instance;
  for (layout::Slot& sl : seg->slots) sl.generation = gen_base & ~uint64_t{1};
}

}  // namespace timesync::segment
