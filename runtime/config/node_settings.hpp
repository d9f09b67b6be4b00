#pragma once

#include <any>
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <typeindex>
#include <utility>
#include <vector>

namespace sv::config {

struct loader;

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

/// "" if `url` is an http:// or https:// URL with a host, else why not.
std::string check_http_url(const std::string& url);

/// The validated settings of one node. Every field has the default documented in
/// config/README.md (sections registered by modules too); `load_file` only returns settings that
/// passed every rule.
struct node_settings {
  // [node]
  std::string name = "streamverse";
  /// Where the node runs (optional): members of different regions are told apart by the
  /// failure detector (remote thresholds) and shown by `streamverse-ctl members`.
  std::string region;
  std::string zone;
  std::string data_dir = "data";
  uint32_t scheduler_threads = 2;
  /// Messages an actor handles before it yields its worker (CAF scheduler.max-throughput;
  /// 0 = unlimited, CAF's default).
  uint32_t max_throughput = 64;
  // [cluster]
  std::string bind_address = "127.0.0.1";
  uint16_t cluster_port = 7100;
  std::vector<seed_address> seeds;
  /// Dial a node's address through another one (a relay, a proxy, a NAT): a connection to
  /// `first` goes to `second`. Seeds and addresses learned from gossip alike; the member
  /// list still shows each node's own address. Empty: every address is dialed as it is.
  std::vector<std::pair<seed_address, seed_address>> dial_via;
  uint32_t heartbeat_interval_ms = 500;
  uint32_t connection_timeout_ms = 3000;
  uint32_t seed_retry_ms = 500;
  /// The cluster port's guard (issue #18): largest BASP frame payload after the
  /// handshake, most accepted connections at once, most of them still without handshake
  /// (the oldest is pushed out), and how long a new connection may take to complete its
  /// handshake.
  uint32_t max_frame_bytes = 16u << 20;
  uint32_t max_connections = 512;
  uint32_t max_pending_connections = 64;
  uint32_t handshake_timeout_ms = 5000;
  /// Graceful leave (SIGTERM): how long the node waits for the other nodes of its region to
  /// take over what it holds before it stops anyway.
  uint32_t leave_timeout_ms = 10'000;
  /// Membership: gossip period and the failure detector's timeouts.
  uint32_t gossip_interval_ms = 500;
  uint32_t suspect_after_ms = 1500;
  uint32_t down_after_ms = 3000;
  /// The same for members in another region (WAN links: more latency and jitter).
  uint32_t remote_suspect_after_ms = 2000;
  uint32_t remote_down_after_ms = 3000;
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
  /// Where the settings came from (a file path or a name given to load_string).
  std::string source;

  /// The settings of a section a module registered (config/section.hpp), as loaded; the
  /// type's defaults when the file did not set it or the section is not registered.
  template <class T>
  const T& section() const {
    if (auto i = sections_.find(typeid(T)); i != sections_.end()) {
      return std::any_cast<const T&>(i->second);
    }
    static const T defaults{};
    return defaults;
  }

  /// The same, to change before a node starts (tests and host code setting values).
  template <class T>
  T& section() {
    auto& a = sections_[typeid(T)];
    if (!a.has_value()) {
      a = T{};
    }
    return std::any_cast<T&>(a);
  }

private:
  friend struct loader;
  std::map<std::type_index, std::any> sections_;
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
