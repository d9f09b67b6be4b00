#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "runtime/flow/level.hpp"
#include "runtime/flow/load_cell.hpp"
#include "runtime/flow/service_class.hpp"

namespace sv::flow {

/// Why the gate let a request through or refused it.
enum class verdict : uint8_t {
  admitted,       ///< enqueue it
  over_watermark, ///< the target's depth reached the class's watermark
  shed_by_level,  ///< the node's degradation level turns this class off
  critical_first, ///< the target has a critical backlog; lower classes wait
};

/// The gate's answer for one request. A refusal carries a retry-after hint that grows
/// with how far the target is over its watermark (or with the level).
struct decision {
  verdict why = verdict::admitted;
  std::chrono::milliseconds retry_after{0};

  bool admitted() const noexcept {
    return why == verdict::admitted;
  }
};

struct gate_settings {
  /// Mailbox depth per class at which requests of that class are refused.
  std::array<uint32_t, service_class_count> watermarks = {8192, 1024, 256, 128};
  level_policy policy = default_level_policy();
  /// Retry hint at exactly the watermark; it scales with depth / watermark.
  std::chrono::milliseconds base_retry{50};
  /// Retry hint per level when a class is shed by level (L2 -> 2x this).
  std::chrono::milliseconds level_retry{250};
  /// Upper bound of any hint.
  std::chrono::milliseconds max_retry{5000};
  /// Longest expected queueing delay a non-critical request is admitted into: the
  /// watermark of interactive, best-effort and bulk is lowered to budget / service time
  /// when the target's messages are slow (a deep queue of slow messages delays everyone,
  /// critical work included, since CAF serves its urgent queue only between rounds).
  /// 0 disables the cap.
  std::chrono::milliseconds queue_delay_budget{5};
  /// Critical first: while a target's queued critical work would take longer than this
  /// to serve, it takes no interactive, best-effort or bulk work. CAF's mailbox gives
  /// urgent messages only two of every three turns while normal ones are queued, so
  /// under a spike whose critical share nears two thirds of capacity critical work would
  /// queue up behind its own backlog; refusing lower classes at such a target drains its
  /// normal queue and gives critical work every turn. 0 disables the rule.
  std::chrono::microseconds critical_backlog_budget{1000};
};

/// Admission control before enqueueing (design §4). `check` is a pure function of the
/// request's class, the target's depth and the node's level; `admit` also counts the
/// outcome per class (lock-free). Nothing is dropped silently: every refusal is counted
/// and returned to the caller, who answers the requester with `overloaded`.
class gate {
public:
  explicit gate(gate_settings settings = {});

  /// `service_time`: the target's average time per message (0: unknown, no delay cap and
  /// no critical-first rule); `urgent_depth`: how many of `depth` are critical.
  decision check(service_class c, int64_t depth, level lvl,
                 std::chrono::nanoseconds service_time = std::chrono::nanoseconds{0},
                 int64_t urgent_depth = 0) const noexcept;

  /// The watermark that applies to `c` given the target's service time.
  int64_t effective_watermark(service_class c,
                              std::chrono::nanoseconds service_time) const noexcept;

  /// check() against `cell`'s current depth, counted. On admission the caller enqueues
  /// and calls `cell.on_enqueue()` (flow::send does both).
  decision admit(service_class c, const load_cell& cell, level lvl) noexcept;

  /// Counts a refusal made outside check() (e.g. a caller's own deadline rule), so that
  /// sv_flow_refused_total holds every refusal.
  void count_refusal(service_class c) noexcept {
    refused_[index(c)].fetch_add(1, std::memory_order_relaxed);
  }

  uint64_t admitted(service_class c) const noexcept {
    return admitted_[index(c)].load(std::memory_order_relaxed);
  }
  uint64_t refused(service_class c) const noexcept {
    return refused_[index(c)].load(std::memory_order_relaxed);
  }

  /// The work (count x the target's service time) that admit() refused because of the
  /// level since the previous call: what the node would have to do on top if the level
  /// were lower.
  std::chrono::nanoseconds take_shed_work() noexcept {
    return std::chrono::nanoseconds{shed_work_ns_.exchange(0, std::memory_order_relaxed)};
  }

  const gate_settings& settings() const noexcept {
    return settings_;
  }

private:
  gate_settings settings_;
  std::array<std::atomic<uint64_t>, service_class_count> admitted_{};
  std::array<std::atomic<uint64_t>, service_class_count> refused_{};
  std::atomic<int64_t> shed_work_ns_{0};
};

} // namespace sv::flow
