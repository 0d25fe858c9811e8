#pragma once
// Little-endian fixed-width loads and stores on unaligned byte buffers. The
// formats are little endian on purpose: every machine we run on is, so these
// compile to plain moves.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace telemq::wire {

static_assert(std::endian::native == std::endian::little, "telemq formats assume a little-endian host");

template <typename T>
inline T LoadLE(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

template <typename T>
inline void StoreLE(std::byte* p, T v) {
  std::memcpy(p, &v, sizeof(T));
}

}  // namespace telemq::wire
