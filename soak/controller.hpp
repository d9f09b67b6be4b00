#pragma once

// A soak run end to end: node processes from generated configs, the driver process, the
// phases with their faults, a sample of every node's metrics each second, the invariants
// at the end, and the report. Never leaves a process behind.

#include <cstdint>
#include <string>

#include "soak/scenario.hpp"

namespace sv::soak {

struct run_options {
  std::string scenario_file;
  std::string report_dir;
  std::string bin_dir;    ///< where streamverse-node and streamverse-soak are
  uint64_t viewers = 0;   ///< > 0: instead of the scenario's
  bool live = true;       ///< a progress line each second
  bool autoscale = false; ///< orchestrate: start and stop nodes on sv_cluster_desired_nodes
};

/// Runs the scenario; 0 when every invariant passed, 1 when one failed, 2 on a setup error
/// (bad scenario, a node that does not start). The report is in options.report_dir.
int run_soak(const run_options& options);

/// The largest viewer count for which the scenario passes: doubles the count until a run
/// fails, then bisects (at most `runs` runs in all); each run's report in DIR/run-N,
/// the summary in DIR/find-max.json and DIR/find-max.md.
int find_max(const run_options& options, int runs);

} // namespace sv::soak
