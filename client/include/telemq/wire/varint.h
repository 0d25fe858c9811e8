#pragma once
// Base-128 varints (LEB128) with zigzag for signed values, used inside
// records (docs/log-format.md). Decoders never read past `end`.

#include <cstddef>
#include <cstdint>

namespace telemq::wire {

inline constexpr size_t kMaxVarintBytes = 10;

inline std::byte* PutVarint(std::byte* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<std::byte>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<std::byte>(v);
  return p;
}

inline uint64_t ZigZag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
inline int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

inline std::byte* PutSignedVarint(std::byte* p, int64_t v) { return PutVarint(p, ZigZag(v)); }

inline size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Returns the position after the varint, or nullptr if it is truncated or
// longer than 10 bytes.
inline const std::byte* GetVarint(const std::byte* p, const std::byte* end, uint64_t* out) {
  uint64_t result = 0;
  for (int shift = 0; shift < 64 && p < end; shift += 7) {
    const auto b = static_cast<uint8_t>(*p++);
    result |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      *out = result;
      return p;
    }
  }
  return nullptr;
}

inline const std::byte* GetSignedVarint(const std::byte* p, const std::byte* end, int64_t* out) {
  uint64_t u;
  p = GetVarint(p, end, &u);
  if (p != nullptr) *out = UnZigZag(u);
  return p;
}

}  // namespace telemq::wire
