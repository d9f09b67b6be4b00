#pragma once

#include <atomic>
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

private:
  alignas(64) std::atomic<int64_t> depth_{0};
};

} // namespace sv::flow
