#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "runtime/util/clock.hpp"

namespace sv::flow {

/// The mailbox depth of one entity actor as its senders see it. CAF 0.17's
/// `mailbox().size()` may only be called by the owner, so the flow-control send path
/// counts instead: `on_enqueue()` right before a message is enqueued, `on_dequeue()` at
/// the start of the handler that takes it. The count includes messages still in CAF's
/// inbox. Critical messages (CAF's urgent queue) are also counted on their own, since the
/// gate holds lower classes back while a target has a critical backlog. Relaxed atomics on
/// their own cache line: a statistic read for admission, not a synchronization point.
///
/// Shared (std::shared_ptr) between the actor and everyone holding a flow handle to it.
/// When the actor terminates with messages still queued, `reset()` clears the count.
class load_cell {
public:
  int64_t depth() const noexcept {
    return depth_.load(std::memory_order_relaxed);
  }

  /// How many of depth() are critical (in the urgent queue).
  int64_t urgent_depth() const noexcept {
    return urgent_.load(std::memory_order_relaxed);
  }

  /// `items`: how many requests the message carries (a batch counts as its items, so
  /// that depth and service time stay in requests, whatever the batching).
  void on_enqueue(bool urgent = false, int64_t items = 1) noexcept {
    depth_.fetch_add(items, std::memory_order_relaxed);
    if (urgent) {
      urgent_.fetch_add(items, std::memory_order_relaxed);
    }
  }

  /// Never goes below zero, even if a message bypassed the counted send path.
  void on_dequeue(bool urgent = false, int64_t items = 1) noexcept {
    decrement(depth_, items);
    if (urgent) {
      decrement(urgent_, items);
    }
  }

  void reset() noexcept {
    depth_.store(0, std::memory_order_relaxed);
    urgent_.store(0, std::memory_order_relaxed);
  }

  /// Owner only: how long handling one message of `items` requests took. Kept per
  /// request as a moving average (1/16 of each new sample) that the gate turns into an
  /// expected queueing delay.
  void on_served(std::chrono::nanoseconds took, int64_t items = 1) noexcept {
    auto avg = service_ns_.load(std::memory_order_relaxed);
    auto total = std::max<int64_t>(0, took.count());
    auto x = total / std::max<int64_t>(1, items);
    service_ns_.store(avg == 0 ? x : avg + (x - avg) / 16, std::memory_order_relaxed);
    busy_ns_.fetch_add(total, std::memory_order_relaxed);
  }

  /// Time spent in handlers since the previous call (the load monitor's utilization).
  std::chrono::nanoseconds take_busy() noexcept {
    return std::chrono::nanoseconds{busy_ns_.exchange(0, std::memory_order_relaxed)};
  }

  /// Average time to handle one message (0 until the owner reported one).
  std::chrono::nanoseconds service_time() const noexcept {
    return std::chrono::nanoseconds{service_ns_.load(std::memory_order_relaxed)};
  }

private:
  static void decrement(std::atomic<int64_t>& x, int64_t n) noexcept {
    auto cur = x.load(std::memory_order_relaxed);
    while (cur > 0
           && !x.compare_exchange_weak(cur, std::max<int64_t>(0, cur - n),
                                       std::memory_order_relaxed)) {
      // cur was reloaded by the failed exchange
    }
  }

  alignas(64) std::atomic<int64_t> depth_{0};
  std::atomic<int64_t> urgent_{0};
  std::atomic<int64_t> service_ns_{0};
  std::atomic<int64_t> busy_ns_{0};
};

/// Owner side of a load cell for one message: takes it off the count when created and
/// reports how long the handler took when destroyed. Put one at the top of a handler,
/// made from the actor (`serving s{cell, self}`) so that a critical message leaves the
/// critical count too.
class serving {
public:
  explicit serving(load_cell& cell, bool urgent = false, int64_t items = 1) noexcept
      : cell_(cell), start_(std::chrono::steady_clock::now()), urgent_(urgent), items_(items) {
    cell_.on_dequeue(urgent, items);
  }
  /// `self`: the CAF actor running the handler; its current message says whether it came
  /// through the urgent queue.
  /// `items`: how many requests the message carries (as counted by on_enqueue).
  template <class Self>
  serving(load_cell& cell, Self* self, int64_t items = 1) noexcept
      : serving(cell,
                self->current_mailbox_element() != nullptr
                    && self->current_mailbox_element()->mid.is_urgent_message(),
                items) {}
  ~serving() {
    cell_.on_served(std::chrono::steady_clock::now() - start_, items_);
  }
  serving(const serving&) = delete;
  serving& operator=(const serving&) = delete;

  /// When handling began (steady clock): "now" for the handler, without another read.
  std::chrono::steady_clock::time_point started() const noexcept {
    return start_;
  }

  /// Whether the message came through the urgent queue (critical work).
  bool urgent() const noexcept {
    return urgent_;
  }

  /// How long the message waited: from `sent_at_ns` (steady clock, as steady_now_ns()
  /// reads it) to the start of handling. 0 for an unknown send time.
  std::chrono::nanoseconds waited_since(int64_t sent_at_ns) const noexcept {
    if (sent_at_ns <= 0) {
      return std::chrono::nanoseconds{0};
    }
    auto started = std::chrono::duration_cast<std::chrono::nanoseconds>(start_.time_since_epoch());
    return started - std::chrono::nanoseconds{sent_at_ns};
  }

private:
  load_cell& cell_;
  std::chrono::steady_clock::time_point start_;
  bool urgent_;
  int64_t items_;
};

/// The steady clock in nanoseconds: the send time a message carries for waited_since().
inline int64_t steady_now_ns() noexcept {
  return sv::clock::steady_ns();
}

} // namespace sv::flow
