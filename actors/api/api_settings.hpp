#pragma once

// [http]: the player API on this node (actors/api). Off unless `port` is set. The struct
// lives in namespace sv::config with the runtime's settings; the loader knows the section
// once `sv::api::register_config()` has registered it (node_services does that). Keys,
// defaults and ranges are in config/README.md.

#include <cstdint>
#include <string>

namespace sv::config {

struct http_api_settings {
  std::string bind = "127.0.0.1";
  uint32_t port = 0; ///< 0: no HTTP API on this node
  uint32_t max_connections = 4096;
  uint32_t header_limit_bytes = 8192;
  uint32_t body_limit_bytes = 1024 * 1024;
  uint32_t read_timeout_ms = 15'000;   ///< a request must arrive whole within this
  uint32_t request_timeout_ms = 5'000; ///< every request is answered within this
  uint32_t threads = 1;
  /// The HS256 key of the bearer tokens (at least 32 bytes); required with a port.
  std::string token_key_file;
  uint32_t cache_max_age_s = 5;          ///< Cache-Control max-age of titles and playlists
  uint32_t token_cache_entries = 16'384; ///< verified tokens kept (0: verify every request)
  /// Best-effort and bulk requests are refused (429) while critical ones queue: the fastest
  /// critical request of an interval took longer than this (0: off).
  uint32_t critical_queue_target_ms = 5;
  uint32_t critical_queue_interval_ms = 100;
};

} // namespace sv::config

namespace sv::api {

/// Registers [http] with the config loader (idempotent).
void register_config();

} // namespace sv::api
