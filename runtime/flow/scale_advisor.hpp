#pragma once

// The scaling signal a cluster exports (sv_cluster_desired_nodes): how many nodes this
// node's region should have, from what this node sees, with hysteresis. CAF-free; time is
// passed in. An orchestrator (streamverse-soak --autoscale, a Kubernetes HPA on an external
// metric) starts or stops nodes to match it.
//
// The rule, each time it is asked (per scrape):
//   ratio = max(utilization / target_utilization, held / held_per_node)
//   raw   = nodes            when |ratio - 1| <= tolerance (no change near the target)
//           ceil(nodes * ratio) otherwise
//   raw   = max(raw, nodes + 1) while the degrader is at L2 or above (shedding already)
//   raw   clamped to [min_nodes, max_nodes]
//   desired = the highest raw of the last `down_stabilization`: up at once, down only when
//             every recommendation of that window was lower (the HPA's downscale rule).
// `nodes` is the region's members up now (this node included), `utilization` and `held`
// (entities held; the service exporting the signal chooses which) the mean per node of the
// region: so `nodes * held` is the region's total whether or not the load is spread evenly
// (entities that stick to the node that took them are not: after a scale-up the old nodes
// hold most). The exporter gathers the peers' figures (actors/services/scale_signal.hpp).
// Only the level is this node's own; an orchestrator takes the highest answer of the region.

#include <chrono>
#include <cstdint>
#include <deque>
#include <utility>

namespace sv::flow {

struct scale_settings {
  double target_utilization = 0.6;  ///< busy share of the workers to aim at (0: not used)
  uint64_t held_per_node = 200'000; ///< entities held per node to aim at (0: not used)
  uint32_t min_nodes = 1;
  uint32_t max_nodes = 64;
  double tolerance = 0.1;
  std::chrono::nanoseconds down_stabilization = std::chrono::seconds{300};
};

struct scale_input {
  uint32_t nodes = 1;     ///< up in this node's region, this node included
  double utilization = 0; ///< projected utilization of the workers, the region's mean (0..1+)
  uint64_t held = 0;      ///< entities held, the region's mean per node
  int level = 0;          ///< the degrader's level (0..4)
};

class scale_advisor {
public:
  explicit scale_advisor(scale_settings s = {}) : s_(s) {}

  /// The recommendation at `now` before hysteresis.
  uint32_t raw(const scale_input& in) const;

  /// The desired node count at `now` (see the rule above); `now` must not go back.
  uint32_t desired(const scale_input& in, std::chrono::nanoseconds now);

  const scale_settings& settings() const noexcept {
    return s_;
  }

private:
  scale_settings s_;
  std::deque<std::pair<std::chrono::nanoseconds, uint32_t>> window_; // (when, raw), oldest first
};

} // namespace sv::flow
