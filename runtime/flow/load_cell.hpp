#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace sv::flow {

/// The mailbox depth of one entity actor as its senders see it. CAF 0.17's
/// `mailbox().size()` may only be called by the owner, so the flow-control send path
/// counts instead: `on_enqueue()` right before a message is enqueued, `on_dequeue()` at
/// the start of the handler that takes it. The count includes messages still in CAF's
/// inbox. Relaxed atomics on their own cache line: a statistic read for admission, not a
/// synchronization point.
///
/// Shared (std::shared_ptr) between the actor and everyone holding a flow handle to it.
/// When the actor terminates with messages still queued, `reset()` clears the count.
class load_cell {
public:
  int64_t depth() const noexcept {
    return depth_.load(std::memory_order_relaxed);
  }

  void on_enqueue() noexcept {
    depth_.fetch_add(1, std::memory_order_relaxed);
  }

  /// Never goes below zero, even if a message bypassed the counted send path.
  void on_dequeue() noexcept {
    auto cur = depth_.load(std::memory_order_relaxed);
    while (cur > 0 && !depth_.compare_exchange_weak(cur, cur - 1, std::memory_order_relaxed)) {
      // cur was reloaded by the failed exchange
    }
  }

  void reset() noexcept {
    depth_.store(0, std::memory_order_relaxed);
  }

  /// Owner only: how long handling one message took. Kept as a moving average (1/16 of
  /// each new sample) that the gate turns into an expected queueing delay.
  void on_served(std::chrono::nanoseconds took) noexcept {
    auto avg = service_ns_.load(std::memory_order_relaxed);
    auto x = std::max<int64_t>(0, took.count());
    service_ns_.store(avg == 0 ? x : avg + (x - avg) / 16, std::memory_order_relaxed);
  }

  /// Average time to handle one message (0 until the owner reported one).
  std::chrono::nanoseconds service_time() const noexcept {
    return std::chrono::nanoseconds{service_ns_.load(std::memory_order_relaxed)};
  }

private:
  alignas(64) std::atomic<int64_t> depth_{0};
  std::atomic<int64_t> service_ns_{0};
};

/// Owner side of a load cell for one message: takes it off the count when created and
/// reports how long the handler took when destroyed. Put one at the top of a handler.
class serving {
public:
  explicit serving(load_cell& cell) noexcept
      : cell_(cell), start_(std::chrono::steady_clock::now()) {
    cell_.on_dequeue();
  }
  ~serving() {
    cell_.on_served(std::chrono::steady_clock::now() - start_);
  }
  serving(const serving&) = delete;
  serving& operator=(const serving&) = delete;

  /// When handling began (steady clock): "now" for the handler, without another read.
  std::chrono::steady_clock::time_point started() const noexcept {
    return start_;
  }

private:
  load_cell& cell_;
  std::chrono::steady_clock::time_point start_;
};

} // namespace sv::flow
