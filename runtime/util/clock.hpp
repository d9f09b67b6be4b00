#pragma once

// The clocks the code base reads, as plain integers. CAF-free, header-only.
//
//   sv::clock::wall_ms()     // Unix time in ms: event times, window starts, what is stored
//   sv::clock::steady_ns()   // monotonic ns: latencies, deadlines, send times
//   sv::clock::actor_ns(self) // an actor's clock in ns: virtual time under the test kit

#include <chrono>
#include <cstdint>

namespace sv::clock {

inline int64_t wall_ms() noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline int64_t steady_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

inline int64_t steady_ms() noexcept {
  return steady_ns() / 1'000'000;
}

/// The time of `self`'s actor clock (CAF's test coordinator makes it virtual).
template <class Self>
int64_t actor_ns(Self* self) noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             self->clock().now().time_since_epoch())
      .count();
}

} // namespace sv::clock
