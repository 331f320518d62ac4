// Big-endian field access for the wire formats (internal). Callers check
// lengths first; these never read or write outside the span they are given
// beyond what the caller checked.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace timesync::reference::detail {

inline uint16_t be16(std::span<const uint8_t> b, std::size_t at) {
  return static_cast<uint16_t>((unsigned{b[at]} << 8) | b[at + 1]);
}
inline uint32_t be32(std::span<const uint8_t> b, std::size_t at) {
  return (uint32_t{b[at]} << 24) | (uint32_t{b[at + 1]} << 16) | (uint32_t{b[at + 2]} << 8) | b[at + 3];
}
inline uint64_t be64(std::span<const uint8_t> b, std::size_t at) {
  return (uint64_t{be32(b, at)} << 32) | be32(b, at + 4);
}
inline void put16(std::span<uint8_t> b, std::size_t at, uint16_t v) {
  b[at] = static_cast<uint8_t>(v >> 8);
  b[at + 1] = static_cast<uint8_t>(v);
}
inline void put32(std::span<uint8_t> b, std::size_t at, uint32_t v) {
  put16(b, at, static_cast<uint16_t>(v >> 16));
  put16(b, at + 2, static_cast<uint16_t>(v));
}
inline void put64(std::span<uint8_t> b, std::size_t at, uint64_t v) {
  put32(b, at, static_cast<uint32_t>(v >> 32));
  put32(b, at + 4, static_cast<uint32_t>(v));
}

// Seconds (any finite double) to ns, saturating at the int64 range.
int64_t seconds_to_ns(double seconds);
// |a| + |b| + ... without overflow: saturates at INT64_MAX.
int64_t saturating_add(int64_t a, int64_t b);
int64_t saturating_abs(int64_t v);

// CLOCK_REALTIME now, ns since the Unix epoch (the one clock read of the clients).
int64_t realtime_now_ns();

}  // namespace timesync::reference::detail
