#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "caf/expected.hpp"
#include "caf/fwd.hpp"
#include "runtime/config/node_settings.hpp"

namespace sv::metrics {
class registry;
} // namespace sv::metrics

namespace sv::cluster {
struct peer_info;
struct member;
} // namespace sv::cluster

namespace sv::flow {
class flow_context;
} // namespace sv::flow

namespace spdlog {
class formatter;
} // namespace spdlog

namespace sv {

class readiness;

/// The body of /readyz: "ready", or "not ready" and a line per unready service.
std::string readyz_body(bool started,
                        const std::vector<std::pair<std::string, std::string>>& unready);

/// The StreamVerse release this runtime was built from, e.g. "0.1.0".
const char* version();

/// A snapshot of a running node for status lines and tests.
struct node_status {
  std::string name;
  size_t peers = 0;   ///< peers with which a hello was exchanged and still connected
  size_t members = 0; ///< members listed (any state, this node included)
  size_t members_up = 0;
  size_t actors = 0;    ///< actors running in this node's actor system
  int load_level = 0;   ///< degrader level L0 (normal) .. L4 (critical work only)
  bool started = false; ///< start() succeeded and stop() was not called
  bool ready = false;   ///< started and every service ready
  /// Services not ready (a store whose writes fail) and why; empty when all are.
  std::vector<std::pair<std::string, std::string>> unready;
};

/// One StreamVerse node: a CAF actor system with its middleman, the cluster endpoint
/// published on the cluster port, and the metrics endpoint. Host applications create
/// one in-process; streamverse-node runs one until SIGTERM.
///
/// Lifecycle: the constructor builds the actor system (threads start, no port opens);
/// start() opens ports and dials seeds; stop() (also run by the destructor) stops the
/// services in reverse start order and waits until every actor has exited. The caller
/// must stop its own actors before, or ~actor_system would wait for them.
class node {
public:
  /// Registers more message types on the node's actor system (the domain's protobuf
  /// messages, e.g. sv::content::register_message_types), next to the runtime's own.
  using type_registrar = void (*)(caf::actor_system_config&);

  explicit node(config::node_settings settings, std::vector<type_registrar> extra_types = {});
  ~node();
  node(const node&) = delete;
  node& operator=(const node&) = delete;

  /// Publishes the cluster endpoint, starts the metrics server and dials the seeds.
  /// Returns an empty string on success, else one line saying what failed; nothing is
  /// left listening then.
  std::string start();

  /// Stops everything started by start(). Idempotent.
  void stop();

  /// The first half of a graceful leave: tells the cluster this node is leaving. Every
  /// member (this one included) then places no key here, while this node still serves and
  /// its services hand over what it holds (node_services::leave); stop() completes the
  /// leave. True when the endpoint took it within `timeout`.
  bool leave(std::chrono::milliseconds timeout = std::chrono::milliseconds{1000});

  node_status status() const;
  std::vector<cluster::peer_info> peers() const;
  /// The member list as this node sees it (this node first).
  std::vector<cluster::member> members() const;

  /// The cluster port actually bound (differs from the config when it says 0).
  uint16_t cluster_port() const;
  /// The metrics port actually bound, 0 when disabled.
  uint16_t metrics_port() const;

  const config::node_settings& settings() const;
  caf::actor_system& system();
  metrics::registry& metrics();
  /// Services report here when they stop or start working again (e.g. a store whose disk
  /// is full); status().ready and /readyz follow. Shared: detached actors keep it.
  std::shared_ptr<readiness> service_readiness() const;
  /// Flow control of this node: the gate, load cells, the current level.
  flow::flow_context& flow();
  /// The cluster endpoint actor (valid between start() and stop()): ask it for peers
  /// (cluster::peers_atom) or, on another node, for a service (cluster::lookup_atom).
  caf::actor cluster_endpoint() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Makes `n`'s metrics readable with fetch_metrics() from other processes
/// (streamverse-node does this). Keep the handle while the node runs; release it before
/// the node stops.
std::shared_ptr<void> serve_metrics(node& n);

/// The metrics of the node whose cluster endpoint is host:port (serve_metrics), in the
/// Prometheus text format (what its metrics endpoint serves), over the cluster transport:
/// for tools that watch a cluster (streamverse-soak) without an HTTP client.
caf::expected<std::string> fetch_metrics(caf::actor_system& sys, const std::string& host,
                                         uint16_t port, std::chrono::milliseconds timeout);

/// The formatter `setup_logging` installs: text, or one JSON object per line with the
/// fields ts, level, node and msg (the message escaped as a JSON string).
std::unique_ptr<spdlog::formatter> make_log_formatter(const config::node_settings& settings);

/// Applies the log settings to spdlog's default logger (text or JSON lines on stdout,
/// tagged with the node name). Safe to call more than once.
void setup_logging(const config::node_settings& settings);

/// What a process adds to the node it runs: domain message types, and services started
/// after the node (a returned handle is destroyed, stopping them, before the node stops).
struct run_options {
  std::vector<node::type_registrar> types;
  std::function<std::shared_ptr<void>(node&)> start_services;
  /// On SIGTERM, before the services stop: a graceful leave (node_services::leave), given
  /// the node, what start_services returned and cluster.leave_timeout_ms; true when all was
  /// handed over. Unset: node::leave() only.
  std::function<bool(node&, const std::shared_ptr<void>&, std::chrono::milliseconds)> leave;
};

/// The body of `streamverse-node --config FILE`: runs a node until SIGINT or SIGTERM,
/// logging a status line every `log.status_interval_ms`. Returns the process exit code:
/// 0 after a clean stop, 1 when the node or its services could not start.
int run_until_signal(const config::node_settings& settings, const run_options& options = {});

} // namespace sv
