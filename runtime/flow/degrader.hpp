#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>

#include "runtime/flow/level.hpp"

namespace sv::flow {

/// One reading of a node's load, as the load monitor takes it every ~100 ms.
struct load_sample {
  /// Deepest mailbox relative to its watermark (1.0 = at the watermark).
  double depth_ratio = 0;
  /// How late a probe message ran compared to when it was due (scheduler saturation).
  std::chrono::nanoseconds dispatch_lag{0};
  /// p99 latency of critical requests over the last interval.
  std::chrono::nanoseconds critical_p99{0};
  /// Share of the scheduler threads' time spent in this node's handlers over the last
  /// interval (0..1; 0 when unknown).
  double utilization = 0;
};

/// What counts as "full" for each signal: pressure 1.0 means at budget.
struct pressure_budget {
  std::chrono::nanoseconds dispatch_lag{std::chrono::milliseconds{50}};
  std::chrono::nanoseconds critical_p99{std::chrono::milliseconds{100}};
  /// The most the dispatch lag can add on its own. A late timer means the node's
  /// threads did not run on time, which is the node's own backlog only when something
  /// else says so too (critical p99 or a mailbox at half its budget, or the workers at
  /// least `busy_utilization` busy); otherwise the OS gave the cores to other processes
  /// (a noisy neighbour, a profiler) and shedding critical work would not bring them back.
  /// Alone, the lag can shed bulk and best-effort work (0.8 = L2 at the default entry
  /// points), never interactive or more. A value >= the L4 entry point turns the cap off.
  double lag_alone_cap = 0.8;
  double busy_utilization = 0.5;
};

/// A node's pressure: the worst of its signals, each relative to its budget (0 = idle,
/// 1 = at budget, above 1 = over), the dispatch lag capped at `lag_alone_cap` unless
/// another signal corroborates it. Negative inputs count as 0.
double pressure(const load_sample& s, const pressure_budget& b) noexcept;

struct degrader_settings {
  /// Pressure at which L1, L2, L3 and L4 are entered (ascending).
  std::array<double, 4> enter = {0.7, 0.8, 0.9, 1.0};
  /// A level is left only when pressure is below its entry point minus this gap...
  double exit_gap = 0.15;
  /// ...continuously for this long. Escalation needs no wait.
  std::chrono::nanoseconds hold{std::chrono::seconds{1}};
  /// ...and while the node would be at least this busy with the shed work added back
  /// (projected utilization, 1.0 = every worker busy), the level holds: the demand that
  /// made it shed is still there, and stepping down would only bring the pressure back
  /// (a flap per hold time during a long spike). 0 turns this condition off.
  double exit_utilization = 0.9;
};

/// Turns pressure readings into a degradation level with hysteresis (design §4).
///
/// Up: at once, to the highest level whose entry point the pressure reaches. Down: only
/// after the pressure stayed below (entry - exit_gap) of the current level, and the
/// projected utilization below `exit_utilization`, for `hold`; then straight to the level
/// the pressure still justifies. A signal that oscillates around one entry point
/// therefore causes one transition, not a flap per oscillation, and a spike that lasts
/// keeps its level until the load is gone. Time is passed in (any monotonic origin), so
/// tests drive it with virtual time.
class degrader {
public:
  explicit degrader(degrader_settings settings = {});

  /// Feeds one reading taken at `now`; returns the level after it. `projected_utilization`:
  /// how busy the workers were plus the work the level refused (0 when unknown).
  level update(double pressure, std::chrono::nanoseconds now,
               double projected_utilization = 0) noexcept;

  level current() const noexcept {
    return level_;
  }

  /// Level changes since construction, in either direction.
  uint64_t transitions() const noexcept {
    return transitions_;
  }

  const degrader_settings& settings() const noexcept {
    return settings_;
  }

private:
  // The highest level whose threshold (entry point minus `gap`) `pressure` reaches.
  level justified(double pressure, double gap) const noexcept;

  degrader_settings settings_;
  level level_ = level::l0;
  uint64_t transitions_ = 0;
  std::optional<std::chrono::nanoseconds> calm_since_;
};

} // namespace sv::flow
