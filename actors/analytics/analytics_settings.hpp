#pragma once

// [analytics]: batching, partitions and retention of viewer events.
// The struct lives in namespace sv::config with the runtime's settings; the loader knows
// the section only once `sv::analytics::register_config()` has registered it (node_services does
// that), and code reads it with `node_settings::section<T>()`. Keys, defaults and ranges
// are in config/README.md.

#include <cstdint>
#include <string>
#include <vector>

namespace sv::config {

/// Analytics on this node (actors/analytics reads them).
struct analytics_node_settings {
  uint32_t partitions = 16;       ///< cluster-wide partition count (same on every node)
  uint32_t max_batch = 4096;      ///< events per batch at L0 (doubles per degrader level)
  uint32_t linger_ms = 50;        ///< longest wait to fill a batch at L0 (doubles per level)
  uint32_t max_pending = 200'000; ///< events accepted but not yet acknowledged
  uint32_t max_windows = 8192;    ///< real-time (title, region) windows per partition
  uint32_t resend_ms = 1000;      ///< an unacknowledged batch is sent again after this
  uint32_t sample_rate = 4;       ///< at L2 and above, 1 in this many sessions' heartbeats
  uint32_t max_skew_ms = 300'000; ///< events further from now are refused
  uint32_t retention_hours = 168;
};

} // namespace sv::config

namespace sv::analytics {

/// Registers [analytics] with the config loader (idempotent).
void register_config();

} // namespace sv::analytics
