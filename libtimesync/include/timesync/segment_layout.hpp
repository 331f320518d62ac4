// The shared-memory segment: the one and only definition of its layout.
//
// One writer (timesync-agent) and any number of readers (libtimesync) share a
// 576-byte segment. All multi-byte fields are native endian (the segment never
// leaves the host). The writer keeps two copies with the same layout:
//   - the file at the segment's path (by default /dev/shm/timesync): what a
//     reader finds by name, what outlives the writer;
//   - a sealed copy (a memfd sealed against shrinking, growing and any new
//     writer) that it hands to readers over the Unix socket "<path>.sock".
//     Nobody can truncate or overwrite it, so a reader mapping it can never
//     take a SIGBUS; readers that cannot get it read the file with pread.
// Both carry the writer's `instance`; `flags` says what the reader should do
// (see kFlag*), and is only looked at on a reader's error path.
//
// Concurrency: two slots, each a seqlock, plus a publish counter. Publish n
// writes slot n % 2 (its `generation` odd while writing, even after), then sets
// `latest` = n. Readers read slot latest % 2. A writer preempted mid-update
// therefore never stalls readers: they read the other, complete slot. A reader
// retries only when the writer completed two publishes during its read. Every
// field is accessed with atomic loads/stores; the fences are in segment.cc.
// Readers never write, so they cannot block the writer.
//
// Validity: as_of/void_after are in the reader host's CLOCK_MONOTONIC_RAW, so
// a reader notices by itself when the writer stops updating.
//
// Versioning: kVersion changes whenever a field changes meaning, moves, or the
// size changes (a reader refuses a version it does not know). Fields may be
// added in reserved words without a new version only if 0, what every earlier
// writer left there, means "as before" (instance and flags were added so).
#pragma once

#include <cstddef>
#include <cstdint>

namespace timesync::layout {

inline constexpr uint32_t kMagic = 0x4E595354;  // bytes "TSYN" on little endian
// 2: the UTC section (issue 18) and the counter map (issue 20); version 1
// (448 bytes) had neither.
inline constexpr uint32_t kVersion = 2;
inline constexpr uint32_t kSegmentSize = 576;
inline constexpr size_t kMasterIdWords = 8;  // 64 bytes of name

// One published transform. Meanings of the fields in transform.hpp.
struct alignas(64) Slot {
  uint64_t generation;  // seqlock counter: odd while this slot is written
  uint64_t epoch;
  int64_t as_of_local_ns;
  int64_t void_after_local_ns;
  int64_t ref_local_ns;
  int64_t ref_sync_ns;
  int64_t freq_adj_q48;
  uint64_t bound_at_as_of_ns;
  uint64_t bound_growth_ppb;
  uint64_t max_error_ns;
  uint32_t status;
  uint32_t flags;  // reserved, 0
  uint64_t master_instance;
  uint64_t master_id[kMasterIdWords];  // NUL-terminated name, as 8-byte words
  // UTC beside the timeline (transform.hpp, UtcInfo): the master's reference.
  int64_t utc_offset_ns;
  int64_t utc_as_of_sync_ns;
  uint64_t utc_error_ns;
  int64_t utc_rate_ppb;
  uint64_t utc_rate_error_ppb;
  int64_t utc_next_leap_s;
  int32_t utc_tai_minus_utc_s;
  int32_t utc_next_tai_minus_utc_s;
  uint32_t utc_flags;                  // kUtc* in transform.hpp; 0: no UTC
  uint32_t utc_reserved;               // 0
  // The CPU counter's map to CLOCK_MONOTONIC_RAW (counter.hpp, CounterMap);
  // counter_ns_per_count_q56 0: none, readers call clock_gettime.
  uint64_t counter_ref;
  int64_t counter_ref_raw_ns;
  uint64_t counter_ns_per_count_q56;
  uint64_t counter_error_ns;
};

struct alignas(64) Segment {
  // Header: written once at creation; checked when a reader maps a copy
  // (sealed: it cannot change after) and again on the slow path.
  uint32_t magic;
  uint32_t version;
  uint32_t size;
  uint32_t writer_pid;  // informational only
  uint64_t latest;      // number of the last complete publish; 0 = never
  uint64_t instance;    // random per writer, the same in the file and its sealed copy
  uint64_t flags;       // kFlag* below
  uint64_t reserved[3];
  Slot slots[2];
};

// In the file: its writer serves a sealed copy on "<path>.sock".
inline constexpr uint64_t kFlagShared = 1;
// This copy is no longer updated (its writer stopped, or replaced the file by a
// new one): a reader that gets no time from it looks at the path again.
inline constexpr uint64_t kFlagRetired = 2;

static_assert(sizeof(Slot) == 256);
static_assert(offsetof(Slot, generation) == 0);
static_assert(offsetof(Slot, epoch) == 8);
static_assert(offsetof(Slot, as_of_local_ns) == 16);
static_assert(offsetof(Slot, void_after_local_ns) == 24);
static_assert(offsetof(Slot, ref_local_ns) == 32);
static_assert(offsetof(Slot, ref_sync_ns) == 40);
static_assert(offsetof(Slot, freq_adj_q48) == 48);
static_assert(offsetof(Slot, bound_at_as_of_ns) == 56);
static_assert(offsetof(Slot, bound_growth_ppb) == 64);
static_assert(offsetof(Slot, max_error_ns) == 72);
static_assert(offsetof(Slot, status) == 80);
static_assert(offsetof(Slot, flags) == 84);
static_assert(offsetof(Slot, master_instance) == 88);
static_assert(offsetof(Slot, master_id) == 96);
static_assert(offsetof(Slot, utc_offset_ns) == 160);
static_assert(offsetof(Slot, utc_as_of_sync_ns) == 168);
static_assert(offsetof(Slot, utc_error_ns) == 176);
static_assert(offsetof(Slot, utc_rate_ppb) == 184);
static_assert(offsetof(Slot, utc_rate_error_ppb) == 192);
static_assert(offsetof(Slot, utc_next_leap_s) == 200);
static_assert(offsetof(Slot, utc_tai_minus_utc_s) == 208);
static_assert(offsetof(Slot, utc_next_tai_minus_utc_s) == 212);
static_assert(offsetof(Slot, utc_flags) == 216);
static_assert(offsetof(Slot, counter_ref) == 224);
static_assert(offsetof(Slot, counter_ref_raw_ns) == 232);
static_assert(offsetof(Slot, counter_ns_per_count_q56) == 240);
static_assert(offsetof(Slot, counter_error_ns) == 248);

static_assert(sizeof(Segment) == kSegmentSize);
static_assert(offsetof(Segment, magic) == 0);
static_assert(offsetof(Segment, version) == 4);
static_assert(offsetof(Segment, size) == 8);
static_assert(offsetof(Segment, writer_pid) == 12);
static_assert(offsetof(Segment, latest) == 16);
static_assert(offsetof(Segment, instance) == 24);
static_assert(offsetof(Segment, flags) == 32);
static_assert(offsetof(Segment, reserved) == 40);
static_assert(offsetof(Segment, slots) == 64);
static_assert(alignof(Segment) == 64);

}  // namespace timesync::layout
