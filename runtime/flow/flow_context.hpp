#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "runtime/flow/degrader.hpp"
#include "runtime/flow/gate.hpp"
#include "runtime/flow/level.hpp"
#include "runtime/flow/load_cell.hpp"

namespace sv::flow {

/// Everything flow control needs to know, validated (config maps onto it).
struct flow_settings {
  gate_settings gate;
  degrader_settings degrader;
  pressure_budget budget;
  /// How often the load monitor takes a reading.
  std::chrono::milliseconds monitor_interval{100};
  /// The dispatch lag that counts is the smallest of this many readings in a row: one
  /// late timer (the OS ran something else for a moment) raises nothing; a scheduler that
  /// is behind is late at every reading (the standing-queue idea of CoDel).
  size_t lag_readings = 5;
  /// Scheduler worker threads, for utilization (0: unknown, utilization not measured).
  size_t workers = 0;
};

/// Depth statistics of one kind of actor (e.g. "entity_host") at one reading.
struct kind_depth {
  std::string kind;
  size_t cells = 0;
  int64_t max = 0;
  double mean = 0;
};

/// One reading of the load monitor.
struct reading {
  load_sample sample;
  /// Median critical latency and number of critical requests since the last reading.
  std::chrono::nanoseconds critical_p50{0};
  uint64_t critical_count = 0;
  double pressure = 0;
  /// Share of the workers' time spent in entity handlers since the previous reading, and
  /// the same with the work refused by the level added (0 when unknown).
  double utilization = 0;
  double projected_utilization = 0;
  level before = level::l0;
  level after = level::l0;
  std::vector<kind_depth> depths;
};

/// The flow-control state of one node, shared by every sender (gate, level), every
/// entity actor (load cells) and the load monitor (readings). All members may be used
/// from any thread except `observe`, which belongs to the load monitor.
class flow_context {
public:
  explicit flow_context(flow_settings settings = {});

  flow::gate& admission() noexcept {
    return gate_;
  }

  level current_level() const noexcept {
    return level_.load(std::memory_order_relaxed);
  }

  /// A new load cell, watched by the monitor under `kind` for as long as anyone holds it.
  std::shared_ptr<load_cell> make_cell(const std::string& kind);

  /// Records the latency of one critical request (lock-free).
  void record_critical_latency(std::chrono::nanoseconds d) noexcept;

  /// Takes one reading at `now`: mailbox depths by kind, the critical p99 since the last
  /// reading, and `dispatch_lag` as measured by the caller's probe; feeds the degrader and
  /// publishes the new level. Only the load monitor calls this.
  reading observe(std::chrono::nanoseconds dispatch_lag, std::chrono::nanoseconds now);

  /// The projected utilization of the last reading (0 before the second one).
  double utilization() const noexcept {
    return utilization_.load(std::memory_order_relaxed);
  }

  uint64_t level_transitions() const noexcept {
    return transitions_.load(std::memory_order_relaxed);
  }

  const flow_settings& settings() const noexcept {
    return settings_;
  }

  /// Upper bounds (ns) of the buckets critical latencies are counted in: 10 µs to about
  /// 12 s, each 1.25x the previous (a percentile is read as its bucket's upper bound,
  /// so it is at most 25% high).
  static constexpr size_t latency_bucket_count = 64;
  static const std::array<int64_t, latency_bucket_count>& latency_bounds() noexcept;

private:
  flow_settings settings_;
  flow::gate gate_;
  degrader degrader_;
  std::atomic<level> level_{level::l0};
  std::atomic<uint64_t> transitions_{0};
  std::atomic<double> utilization_{0};
  // Critical latencies since the last reading, by bucket (the last one is overflow).
  std::array<std::atomic<uint64_t>, latency_bucket_count + 1> window_{};
  std::optional<std::chrono::nanoseconds> last_reading_;
  std::vector<std::chrono::nanoseconds> lags_; // the last lag_readings probes, oldest first
  std::mutex cells_mtx_;
  std::vector<std::pair<std::string, std::weak_ptr<load_cell>>> cells_;
};

} // namespace sv::flow
