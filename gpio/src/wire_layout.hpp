// The simulated wire's shared-memory layout (private to the gpio library).
//
// One segment holds kWireLines lines. Each line has one driver (the process
// whose pid is in owner_pid) and any number of watchers. The driver appends
// every edge to the line's ring: a slot's seq is odd while it is written and
// 2n+2 once edge n is in it, and `count` is published after the slot, so a
// watcher never reads a half-written edge and notices an overwritten one. Every
// edge bumps the segment's `wake` word and FUTEX_WAKEs it; watchers sleep on it
// (a shared futex, so across processes).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace timesync::gpio {

inline constexpr uint64_t kWireMagic = 0x3145524957535425ull;  // "%TSWIRE1" little-endian
inline constexpr uint32_t kWireVersion = 1;
inline constexpr unsigned kWireLines = 16;
inline constexpr unsigned kWireRing = 1024;
inline constexpr unsigned kConsumerWords = 6;  // 48 bytes of consumer name

struct WireSlot {
  std::atomic<uint64_t> seq;
  std::atomic<int64_t> timestamp_ns;
  std::atomic<uint32_t> rising;
  uint32_t pad;
};

struct WireLine {
  std::atomic<int32_t> owner_pid;  // 0: not driven
  std::atomic<uint32_t> level;
  std::atomic<uint64_t> count;     // edges ever written
  std::atomic<uint64_t> consumer[kConsumerWords];
  WireSlot ring[kWireRing];
};

struct WireSegment {
  std::atomic<uint64_t> magic;  // stored last, with release, by the creator
  uint32_t version;
  uint32_t lines;
  uint32_t ring;
  uint32_t line_bytes;
  std::atomic<uint32_t> wake;   // futex word
  uint32_t pad;
  WireLine line[kWireLines];
};

static_assert(std::atomic<uint32_t>::is_always_lock_free && sizeof(std::atomic<uint32_t>) == 4,
              "the futex word must be a plain 32-bit integer");
static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(sizeof(WireSlot) == 24);
static_assert(offsetof(WireSegment, line) == 32);

}  // namespace timesync::gpio
