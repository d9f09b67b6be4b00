#pragma once

// The throughput part of sv-bench-cache: three nodes on loopback in one process (three
// actor systems talking over CAF's network layer), with raw-CAF baselines in the same run.

#include <cstddef>
#include <cstdint>

namespace sv::bench {

struct cache_cluster_figures {
  bool formed = false;
  double l1_gets_per_s = 0;          ///< hot keys read through cache::get on one node
  double raw_caf_map_gets_per_s = 0; ///< the same reads as requests to an actor holding a map
  double l2_get_p50_ms = 0;          ///< cache::get of a key whose shard is on another node
  double l2_get_p99_ms = 0;
  uint64_t l2_samples = 0;
  double raw_caf_hop_p50_ms = 0; ///< request/response with an actor on another node
  double raw_caf_hop_p99_ms = 0;
};

/// Runs each measurement for `seconds`, L1 readers on `threads` threads.
cache_cluster_figures run_cache_cluster(double seconds, size_t threads);

} // namespace sv::bench
