#pragma once

// A standing queue told from latencies (the rule of CoDel, RFC 8289): the smallest latency
// of each interval is kept; when even that one exceeded `target`, every request of the
// interval waited, so the queue in front of them did not drain in a whole interval (a
// burst lets some request through fast; a queue that stands does not). No CAF; any thread,
// lock-free.
//
//   sv::flow::standing_queue q{5ms, 100ms};
//   q.record(latency, now);          // as each watched request finishes
//   if (q.standing(now)) { /* refuse the work that can wait */ }

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>

namespace sv::flow {

class standing_queue {
public:
  standing_queue(std::chrono::nanoseconds target, std::chrono::nanoseconds interval) noexcept
      : target_(target.count()), interval_(interval.count()) {}

  /// A watched request took `latency`, finishing at `now` (any monotonic clock).
  void record(std::chrono::nanoseconds latency, std::chrono::nanoseconds now) noexcept;

  /// Whether the last whole interval before `now` had a standing queue (an interval
  /// without any request had none).
  bool standing(std::chrono::nanoseconds now) noexcept;

  /// The fastest latency of the last whole interval (0: it had no request).
  std::chrono::nanoseconds last_min() const noexcept {
    return std::chrono::nanoseconds{last_min_.load(std::memory_order_relaxed)};
  }

private:
  void roll(int64_t now) noexcept;

  static constexpr int64_t none = std::numeric_limits<int64_t>::max();
  int64_t target_;
  int64_t interval_;
  std::atomic<int64_t> start_{0};
  std::atomic<int64_t> min_{none};
  std::atomic<bool> standing_{false};
  std::atomic<int64_t> last_min_{0};
};

} // namespace sv::flow
