#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sv::config {

/// Output format of the node's log.
enum class log_format { text, json };

/// A seed node to join through: "host:port" in the config.
struct seed_address {
  std::string host;
  uint16_t port = 0;
  std::string to_string() const;
};

/// Mailbox-depth watermarks per service class (used by flow control from issue #3 on).
/// A request of a class is refused with `overloaded` once the target's depth reaches the
/// class's watermark. Validation keeps bulk <= best_effort <= interactive <= critical.
struct watermark_settings {
  uint32_t critical = 8192;
  uint32_t interactive = 1024;
  uint32_t best_effort = 256;
  uint32_t bulk = 128;
};

/// Load monitoring, degradation and shedding (issue #3). Validation keeps `enter`
/// ascending, `exit_gap` below the first entry point and every level shedding at least
/// what the level below it sheds; critical is never shed by level.
struct flow_control_settings {
  uint32_t monitor_interval_ms = 100;
  uint32_t dispatch_lag_budget_ms = 50;
  uint32_t critical_budget_ms = 100;
  /// Longest expected queueing delay a non-critical request is admitted into (0: off).
  uint32_t queue_delay_budget_ms = 5;
  /// Critical backlog at a target above which it takes no lower-class work (0: off).
  uint32_t critical_backlog_budget_us = 1000;
  /// Pressure at which L1..L4 are entered (1.0 = a signal at its budget).
  std::array<double, 4> enter = {0.7, 0.8, 0.9, 1.0};
  double exit_gap = 0.15;
  /// A level holds while projected utilization is at least this (0: off).
  double exit_utilization = 0.9;
  uint32_t hold_ms = 1000;
  /// Service classes (by name) that L1..L4 refuse.
  std::array<std::vector<std::string>, 4> sheds = {
      std::vector<std::string>{"bulk"}, std::vector<std::string>{"bulk", "best_effort"},
      std::vector<std::string>{"bulk", "best_effort"},
      std::vector<std::string>{"bulk", "best_effort", "interactive"}};
};

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
};

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

/// Analytics on this node (actors/analytics reads them).
struct analytics_node_settings {
  uint32_t partitions = 16;       ///< cluster-wide partition count (same on every node)
  uint32_t max_batch = 4096;      ///< events per batch at L0 (doubles per degrader level)
  uint32_t linger_ms = 50;        ///< longest wait to fill a batch at L0 (doubles per level)
  uint32_t max_pending = 200'000; ///< events accepted but not yet acknowledged
  uint32_t resend_ms = 1000;      ///< an unacknowledged batch is sent again after this
  uint32_t sample_rate = 4;       ///< at L2 and above, 1 in this many sessions' heartbeats
  uint32_t max_skew_ms = 300'000; ///< events further from now are refused
  uint32_t retention_hours = 168;
};

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

/// "" if `url` is an http:// or https:// URL with a host, else why not.
std::string check_http_url(const std::string& url);

/// The validated settings of one node. Every field has the default documented in
/// config/README.md; `load_file` only returns settings that passed every rule.
struct node_settings {
  // [node]
  std::string name = "streamverse";
  std::string data_dir = "data";
  uint32_t scheduler_threads = 2;
  /// Messages an actor handles before it yields its worker (CAF scheduler.max-throughput;
  /// 0 = unlimited, CAF's default).
  uint32_t max_throughput = 64;
  // [cluster]
  std::string bind_address = "127.0.0.1";
  uint16_t cluster_port = 7100;
  std::vector<seed_address> seeds;
  uint32_t heartbeat_interval_ms = 500;
  uint32_t connection_timeout_ms = 3000;
  uint32_t seed_retry_ms = 500;
  /// Membership: gossip period and the failure detector's timeouts.
  uint32_t gossip_interval_ms = 500;
  uint32_t suspect_after_ms = 1500;
  uint32_t down_after_ms = 3000;
  /// Mutual TLS between nodes (caf_openssl): PEM files; all three set, or none (plain TCP).
  std::string tls_certificate;
  std::string tls_key;
  std::string tls_ca;
  // [metrics]
  std::string metrics_bind_address = "127.0.0.1";
  uint16_t metrics_port = 0; ///< 0: no HTTP endpoint
  // [log]
  std::string log_level = "info";
  log_format log_format_value = log_format::text;
  uint32_t status_interval_ms = 0; ///< 0: no periodic status line
  // [flow.watermarks]
  watermark_settings watermarks;
  // [flow], [flow.degrader], [flow.levels]
  flow_control_settings flow;
  // [sessions]
  session_node_settings sessions;
  // [watch]
  watch_node_settings watch;
  // [cache]
  cache_node_settings cache;
  // [analytics]
  analytics_node_settings analytics;
  // [hooks]
  hooks_node_settings hooks;
  /// Where the settings came from (a file path or a name given to load_string).
  std::string source;
};

/// Why a config was refused: one line, "FILE:LINE: KEY: MESSAGE".
struct config_error {
  std::string file;
  uint32_t line = 0; ///< 0 when the problem has no line (e.g. a missing file)
  std::string key;   ///< dotted key, e.g. "cluster.port"; empty for whole-file problems
  std::string message;
  std::string to_string() const;
};

/// Either settings or the first error found.
struct load_result {
  std::optional<node_settings> settings;
  std::optional<config_error> error;
  explicit operator bool() const noexcept {
    return settings.has_value();
  }
};

/// Reads and validates a TOML file. Unknown keys, wrong types and out-of-range values
/// are errors; nothing is guessed.
load_result load_file(const std::string& path);

/// Same as load_file for text in memory; `source_name` stands in for the file name.
load_result load_string(std::string_view toml_text, const std::string& source_name);

/// Parses "host:port" or "[v6]:port". Returns nullopt with `why` set on failure.
std::optional<seed_address> parse_host_port(std::string_view text, std::string& why);

} // namespace sv::config
