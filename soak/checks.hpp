#pragma once

// Internal to soak/ (not an interface): the invariants a soak run checks at its end, each
// from what the driver saw (driver-load.json, driver-meta.json, acked-batches.tsv) and what
// the nodes hold afterwards (their partition files), independently of the nodes' counters.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "soak/report.hpp"
#include "soak/scenario.hpp"

namespace sv::soak {

// When a trigger (spike, fault, thief) ended, for the recovery invariant.
struct trigger {
  std::string name;
  double start_s = 0;
  double end_s = 0;
};

struct analytics_check {
  uint64_t acked_batches = 0, acked_events = 0, missing = 0, duplicates = 0, stored_driver = 0,
           unacked_present = 0, unacked_duplicates = 0, files = 0, other_events = 0,
           other_duplicates = 0;
  std::map<std::string, uint64_t> batches_by_node; ///< batches in each node's files
  std::string error;
};

/// Every driver event in every partition file under DIR/nodes, against the batches the
/// driver saw acknowledged (DIR/acked-batches.tsv).
analytics_check check_analytics(const std::string& dir);

/// How long after `t.end_s` the cluster was normal again (-1: not before `until_s`).
double recovered_after(const std::vector<sample>& timeline, const trigger& t, double bound_ms,
                       double until_s);

/// What the run's end knows, for the checks below.
struct run_outcome {
  std::string load;          ///< driver-load.json
  std::string meta;          ///< driver-meta.json
  analytics_check analytics; ///< from the partition files
  bool driver_done = false;  ///< the driver finished its checks in time
  bool handoff_done = false; ///< no node held batches of a partition it does not own
};

/// Adds the invariants' checks to `rep` (and fills its phase rows from the driver's
/// figures), then its headline figures.
void add_checks(report& rep, const run_outcome& out, const scenario& sc,
                const std::vector<trigger>& triggers);

} // namespace sv::soak
