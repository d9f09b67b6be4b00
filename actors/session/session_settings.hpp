#pragma once

// [sessions] and [watch]: viewer sessions and how often their positions are recorded.
// The struct lives in namespace sv::config with the runtime's settings; the loader knows
// the section only once `sv::session::register_config()` has registered it (node_services does
// that), and code reads it with `node_settings::section<T>()`. Keys, defaults and ranges
// are in config/README.md.

#include <cstdint>
#include <string>
#include <vector>

namespace sv::config {

/// Viewer sessions on this node (actors/session reads them).
struct session_node_settings {
  uint32_t idle_timeout_ms = 30'000;
  uint32_t hosts = 16;
  uint32_t gateways = 2; ///< gateway actors that take clients' batches
};

/// Playback positions (actors/media's watch_state reads them).
struct watch_node_settings {
  /// A session's position is recorded at most this often while it plays, and always at
  /// pause, seek and close: a crash loses at most this much of a viewer's progress.
  uint32_t checkpoint_ms = 60'000;
  /// How often recorded positions are sent to their owners (and owners to replicas).
  uint32_t sync_interval_ms = 1000;
  /// Reads go to the user's home region alone once this node's view of the members has
  /// not changed for this long (0: a read always asks the replica's region too).
  uint32_t read_settle_ms = 10'000;
};

} // namespace sv::config

namespace sv::session {

/// Registers [sessions] and [watch] with the config loader (idempotent).
void register_config();

} // namespace sv::session
