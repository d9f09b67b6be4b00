#pragma once

// [hooks] and [hooks.<name>]: the integration hooks of a node.
// The struct lives in namespace sv::config with the runtime's settings; the loader knows
// the section only once `sv::integrations::register_config()` has registered it (node_services does
// that), and code reads it with `node_settings::section<T>()`. Keys, defaults and ranges
// are in config/README.md.

#include <cstdint>
#include <string>
#include <vector>

namespace sv::config {

/// One integration hook on this node (actors/integrations reads them): an empty URL
/// keeps the in-process default.
struct hook_endpoint_settings {
  std::string url;         ///< http:// or https:// webhook; "" = in-process default
  uint32_t timeout_ms = 0; ///< the longest a caller waits (and the HTTP exchange's limit)
};

/// [hooks] and [hooks.<name>] (issue #8).
struct hooks_node_settings {
  uint32_t failure_threshold = 5; ///< failures in a row that open a hook's breaker
  uint32_t open_ms = 5000;        ///< how long it stays open before one probe
  uint32_t threads = 4;           ///< threads per webhook hook (each waits on one call)
  uint32_t max_queued = 256;      ///< calls per hook waiting for a thread; more fall back
  hook_endpoint_settings entitlement{"", 150};
  uint32_t entitlement_ttl_ms = 60'000;
  uint32_t entitlement_denied_ttl_ms = 10'000;
  bool entitlement_fail_open = true; ///< the answer when billing fails and nothing is cached
  hook_endpoint_settings recommendations{"", 100};
  std::vector<std::string> recommendations_fallback;
  hook_endpoint_settings ads{"", 100};
  hook_endpoint_settings cdn_purge{"", 2000};
  uint32_t cdn_purge_batch = 100;
  uint32_t cdn_purge_max_pending = 100'000;
  uint32_t cdn_purge_max_attempts = 8;
  hook_endpoint_settings cms{"", 2000}; ///< no URL: no CMS polling (host apps may push)
  uint32_t cms_poll_ms = 1000;
};

} // namespace sv::config

namespace sv::integrations {

/// Registers [hooks] with its [hooks.<name>] tables with the config loader (idempotent).
void register_config();

} // namespace sv::integrations
