#pragma once

// A soak scenario (streamverse-soak --scenario FILE): the cluster, the viewers, the catalog
// and the phases to go through. CAF-free. The TOML format is documented in
// config/soak/README.md.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sv::soak {

enum class phase_kind {
  ramp,      ///< viewers from the previous count to `viewers` (default: the scenario's)
  steady,    ///< hold
  spike,     ///< `factor` x the scenario's viewers, joining over `ramp_s`
  kill,      ///< SIGKILL `node`, start it again after `restart_after_s`
  stall,     ///< SIGSTOP `node` for `stall_s`, then SIGCONT
  partition, ///< cut `groups` apart (WAN relays, or network namespaces when no relays)
  wan,       ///< `delay_ms` and `jitter_ms` more on every link between nodes (WAN relays)
  storm,     ///< metadata updates at `updates_per_s`
  recovery,  ///< back to the scenario's viewers, no faults
  cpu_thief, ///< a process burns `share` of the machine's CPU (a noisy neighbour, a profiler);
             ///< with `factor` > 0 the viewers go to factor x the scenario's meanwhile
  leave,     ///< SIGTERM `node` (a graceful leave: it hands over, then exits); it stays away
  join,      ///< start `node`: one that left, or one of the cluster's nodes that was not started
             ///< at the beginning (a node whose first phase is a join starts there)
  disk_full, ///< `node`'s data directory (a tmpfs of its own, as root) full for `full_s`
};

const char* to_string(phase_kind k);

struct phase {
  std::string name;
  phase_kind kind = phase_kind::steady;
  double seconds = 10;
  uint64_t viewers = 0;           ///< ramp: the count to reach (0: the scenario's)
  double factor = 3;              ///< spike
  double ramp_s = 3;              ///< spike: how fast the extra viewers join
  double leave_s = -1;            ///< spike: how fast they leave at the phase's end (< 0: ramp_s)
  std::string node;               ///< kill, stall, leave, join: a node, or a region (its nodes)
  std::vector<std::string> nodes; ///< kill, stall, leave, join: `node` resolved at load
  double restart_after_s = 5;
  double stall_s = 3;
  double full_s = 5;        ///< disk_full
  double updates_per_s = 0; ///< storm
  double share = 0.25;      ///< cpu_thief: of all cores (0.25 on 2 cores: half a core)
  uint32_t delay_ms = 0;    ///< wan: one way, on top of the link's own
  uint32_t jitter_ms = 0;   ///< wan: each chunk's extra delay is uniform in [0, jitter_ms]
  /// partition: node names (a region's name stands for its nodes), resolved at load.
  std::vector<std::vector<std::string>> groups;
};

/// The emulated WAN link between two regions ([[link]]): a relay on every connection
/// between a node of one and a node of the other holds each chunk rtt_ms / 2 plus a
/// uniform [0, jitter_ms] in each direction.
struct link_spec {
  std::string a, b;
  uint32_t rtt_ms = 0;
  uint32_t jitter_ms = 0;
};

/// [chaos]: faults from a seeded random schedule, appended after the listed phases, each
/// followed by `gap_s` of steady load, then a recovery phase. The same seed gives the same
/// schedule (phase names say what each fault is: "chaos-07-kill-node-b").
struct chaos_spec {
  bool present = false;
  uint64_t seed = 1;
  uint32_t faults = 20;
  double gap_s = 8;
  /// Kinds drawn from (uniformly): kill, stall, partition, wan, spike, cpu_thief, storm,
  /// disk_full (default: all but disk_full).
  std::vector<phase_kind> kinds;
};

/// [autoscale]: the nodes' [scale] targets, and what `streamverse-soak --autoscale` does as
/// the orchestrator (start and stop node processes to follow sv_cluster_desired_nodes).
struct autoscale_spec {
  bool present = false;     ///< the scenario has an [autoscale] section
  bool on = false;          ///< --autoscale: the controller orchestrates
  bool orchestrate = false; ///< autoscale.orchestrate: as --autoscale, from the scenario
  uint32_t min_nodes = 1;   ///< per region (each region's first nodes run from the start)
  uint32_t sessions_per_node = 1000;
  uint32_t target_utilization_pct = 0;
  uint32_t tolerance_pct = 10;
  uint32_t down_stabilization_s = 20;
  double cooldown_s = 3; ///< between two actions in one region
};

struct scenario {
  std::string name = "soak";
  // [cluster]
  uint32_t nodes = 3;
  uint16_t base_port = 7301; ///< node i listens on base_port + i
  uint32_t scheduler_threads = 1;
  uint32_t partitions = 8;
  /// cluster.regions: node i's region (node.region), one per node; empty: none.
  std::vector<std::string> node_regions;
  std::vector<link_spec> links;
  uint64_t viewers = 1000;
  uint32_t heartbeat_ms = 10'000;
  /// viewers.protocol: "edge" (the edge client, CAF's protocol) or "http" (the nodes'
  /// player API, [http] on each node; soak/session_port.hpp).
  std::string protocol = "edge";
  std::vector<std::pair<std::string, double>> devices{{"tv", 0.4}, {"mobile", 0.4}, {"web", 0.2}};
  std::vector<std::pair<std::string, double>> regions{{"eu-west", 0.5}, {"us-east", 0.5}};
  // [catalog]
  uint32_t titles = 200;
  double zipf = 1.0;
  double updates_per_s = 2; ///< background metadata updates (a sample is traced)
  // [bounds]
  double critical_p99_ms = 500;
  /// What "normal" is after a trigger (a spike, a fault, a CPU thief) ends: the degrader at
  /// L0 and critical p99 at most this, within `recovery_s` (the recovery invariant).
  double steady_p99_ms = 100;
  double recovery_s = 10;
  double metadata_p99_ms = 5000;
  double invalidation_p99_ms = 2000;
  std::vector<phase> phases;
  autoscale_spec autoscale;
  chaos_spec chaos;

  double total_seconds() const;

  /// Turns on --autoscale: "" or why not (no [autoscale], or join/leave phases).
  std::string enable_autoscale();

  /// Node i's region's nodes (all nodes without regions), in index order.
  std::vector<uint32_t> region_peers(uint32_t i) const;

  /// The nodes of each region, in index order ("" holds them all without regions).
  std::map<std::string, std::vector<uint32_t>> nodes_by_region() const;

  /// The kind of the phase named `name` (steady when there is none).
  phase_kind kind_of(const std::string& name) const;

  /// Whether node i runs from the start (false: its first phase is a join).
  bool starts(uint32_t i) const;

  /// Whether node i runs once every phase is over (false: it left and did not join again).
  bool runs_at_end(uint32_t i) const;

  /// Whether nodes reach each other through WAN relays (a [[link]], cluster.regions or a
  /// wan phase): then partitions cut relays instead of using network namespaces.
  bool relayed() const;

  /// Node i's player API port (viewers.protocol "http"): base_port + 200 + i.
  uint16_t http_port(uint32_t i) const {
    return static_cast<uint16_t>(base_port + 200 + i);
  }

  /// Node i's region ("" without cluster.regions).
  std::string region_of(uint32_t i) const;

  /// The link between nodes i and j: none within a region, else their regions' [[link]]
  /// (a pair without one: no added delay).
  link_spec link_between(uint32_t i, uint32_t j) const;
};

/// Reads and checks a scenario; nullopt with the reason (file:line where known) in `error`.
std::optional<scenario> load_scenario(const std::string& path, std::string& error);

/// "node-a", "node-b", ...
std::string node_name(uint32_t index);

/// Appends `c`'s faults to `s.phases` (deterministic in c.seed; a partition splits the
/// nodes in two random groups, a kill or stall picks a node, durations and strengths are
/// drawn from fixed ranges).
void add_chaos_phases(scenario& s, const chaos_spec& c);

} // namespace sv::soak
