#pragma once

// The one stable hash of the code base: the same value on every node, in every process and
// every build (placement, shards, partitions, sampling, sketches). CAF-free, header-only.
//
//   sv::hash::stable("key-9")            // a string: FNV-1a, then splitmix64's finalizer
//   sv::hash::splitmix64(x)              // a 64-bit number: the full splitmix64 step
//   sv::hash::fnv1a(b, sv::hash::fnv1a(a)) // several parts hashed as one stream

#include <cstdint>
#include <string_view>

namespace sv::hash {

inline constexpr uint64_t fnv_offset = 0xcbf29ce484222325ULL;
inline constexpr uint64_t fnv_prime = 0x100000001b3ULL;

/// FNV-1a over the bytes of `s`, continuing from `h` (fnv_offset to start).
constexpr uint64_t fnv1a(std::string_view s, uint64_t h = fnv_offset) noexcept {
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= fnv_prime;
  }
  return h;
}

/// splitmix64's finalizer: every input bit affects every output bit.
constexpr uint64_t mix(uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

/// One splitmix64 step: a well-spread hash of a number (also of small, close numbers).
constexpr uint64_t splitmix64(uint64_t x) noexcept {
  return mix(x + 0x9e3779b97f4a7c15ULL);
}

/// A well-spread, stable hash of a string.
constexpr uint64_t stable(std::string_view s) noexcept {
  return mix(fnv1a(s));
}

} // namespace sv::hash
