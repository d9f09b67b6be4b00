#pragma once

// [cache]: the two-level cache on this node.
// The struct lives in namespace sv::config with the runtime's settings; the loader knows
// the section only once `sv::cache::register_config()` has registered it (node_services does
// that), and code reads it with `node_settings::section<T>()`. Keys, defaults and ranges
// are in config/README.md.

#include <cstdint>
#include <string>
#include <vector>

namespace sv::config {

/// The two-level cache on this node (actors/cache reads them).
struct cache_node_settings {
  uint64_t l1_bytes = 16ull << 20;  ///< the near cache
  uint64_t l2_bytes = 128ull << 20; ///< the cache shards this node owns, together
  uint64_t max_entry_bytes = 1ull << 20;
  uint32_t shards = 64; ///< cluster-wide shard count (same on every node)
  uint32_t negative_ttl_ms = 2000;
  uint32_t load_timeout_ms = 5000;
  /// A key whose admission-sketch estimate at its shard reaches this (1..15) is hot and
  /// pushed into every node's near cache.
  uint32_t hot_threshold = 12;
  /// A pushed hot key with fewer near-cache hits than this per cool interval is dropped.
  uint32_t cool_below_hits = 10;
  uint32_t cool_interval_ms = 2000;
};

} // namespace sv::config

namespace sv::cache {

/// Registers [cache] with the config loader (idempotent).
void register_config();

} // namespace sv::cache
