#pragma once

// The scaling signal a node exports for an orchestrator: sv_cluster_desired_nodes{region},
// the node count its region should have (rule and hysteresis: runtime/flow/scale_advisor.hpp;
// from the region's mean load, which the nodes of a region share: scale_protocol.hpp),
// and sv_sessions_open, this node's open sessions. Configured by [scale] (config/README.md).

#include <cstdint>
#include <memory>

namespace sv {
class node;
} // namespace sv

namespace sv::session {
class service;
} // namespace sv::session

namespace sv::config {

/// [scale]: the targets and bounds of sv_cluster_desired_nodes.
struct scale_node_settings {
  uint32_t target_utilization_pct = 60; ///< workers' projected busy share to aim at (0: unused)
  uint32_t sessions_per_node = 200'000; ///< open sessions per node to aim at (0: unused)
  uint32_t min_nodes = 1;               ///< per region
  uint32_t max_nodes = 64;              ///< per region
  uint32_t tolerance_pct = 10;          ///< no change within this of the target
  uint32_t down_stabilization_s = 300;  ///< scale down only after this long lower
};

} // namespace sv::config

namespace sv {

/// Registers [scale] with the config loader (idempotent).
void register_scale_config();

/// Exports the signal on `n`'s metrics, computed at each scrape from `n`'s member list (the
/// up members of its region), the region's mean utilization and open sessions per node
/// (this node's load monitor and `sessions`, and what the region's other up members'
/// signal services answered within the last 3 s: each asks them once a second,
/// scale_protocol.hpp) and this node's level. Runs the node's signal service (cluster
/// service "sv_scale") until the handle is destroyed, which must happen before `sessions`
/// is: a scrape after that repeats the last value.
std::shared_ptr<void> export_scale_signal(node& n, const session::service& sessions);

} // namespace sv
