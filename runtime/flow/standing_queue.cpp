#include "runtime/flow/standing_queue.hpp"

namespace sv::flow {

void standing_queue::roll(int64_t now) noexcept {
  auto s = start_.load(std::memory_order_relaxed);
  if (now - s < interval_ || !start_.compare_exchange_strong(s, now)) {
    return; // within the interval, or another thread closed it
  }
  auto m = min_.exchange(none);
  standing_.store(m != none && m > target_, std::memory_order_relaxed);
  last_min_.store(m != none ? m : 0, std::memory_order_relaxed);
}

void standing_queue::record(std::chrono::nanoseconds latency,
                            std::chrono::nanoseconds now) noexcept {
  roll(now.count());
  auto v = latency.count();
  auto m = min_.load(std::memory_order_relaxed);
  while (v < m && !min_.compare_exchange_weak(m, v)) {
  }
}

bool standing_queue::standing(std::chrono::nanoseconds now) noexcept {
  roll(now.count());
  return standing_.load(std::memory_order_relaxed);
}

} // namespace sv::flow
