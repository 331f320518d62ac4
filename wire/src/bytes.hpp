// Big-endian loads and stores at an offset of a span, shared by the packet
// and seal code. Callers check the span's length first; these index without
// checking, so they stay cheap and the checks stay in one visible place.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace timesync::wire::detail {

inline uint64_t load_be(std::span<const uint8_t> b, size_t off, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v = v << 8 | b[off + i];
  return v;
}
inline uint16_t load_u16(std::span<const uint8_t> b, size_t off) {
  return static_cast<uint16_t>(load_be(b, off, 2));
}
inline uint32_t load_u32(std::span<const uint8_t> b, size_t off) {
  return static_cast<uint32_t>(load_be(b, off, 4));
}
inline uint64_t load_u64(std::span<const uint8_t> b, size_t off) { return load_be(b, off, 8); }
// Two's complement, as the sender wrote it (the conversion is defined in C++20).
inline int64_t load_i64(std::span<const uint8_t> b, size_t off) {
  return static_cast<int64_t>(load_u64(b, off));
}

inline void store_be(std::span<uint8_t> b, size_t off, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; ++i) b[off + i] = static_cast<uint8_t>(v >> (8 * (n - 1 - i)));
}
inline void store_u16(std::span<uint8_t> b, size_t off, uint16_t v) { store_be(b, off, v, 2); }
inline void store_u32(std::span<uint8_t> b, size_t off, uint32_t v) { store_be(b, off, v, 4); }
inline void store_u64(std::span<uint8_t> b, size_t off, uint64_t v) { store_be(b, off, v, 8); }
inline void store_i64(std::span<uint8_t> b, size_t off, int64_t v) {
  store_u64(b, off, static_cast<uint64_t>(v));
}

inline bool all_zero(std::span<const uint8_t> b, size_t off, size_t n) {
  uint8_t acc = 0;
  for (size_t i = 0; i < n; ++i) acc = static_cast<uint8_t>(acc | b[off + i]);
  return acc == 0;
}

}  // namespace timesync::wire::detail
