#pragma once

// Every service of a full StreamVerse node, started in one call, in a declared order, and
// stopped in the reverse order, each waiting for its actors:
//
//   auto loaded = sv::node_services::load_config("node.toml");  // every section, validated
//   sv::run_options options;
//   options.types = sv::node_services::message_types();   // before the node is built
//   sv::node node{settings, options.types};
//   node.start();
//   sv::node_services services{node};                      // catalog .. gateway, metrics
//   services.sessions().open(request);                     // host code uses them directly
//   services.stop();                                       // or let the destructor do it
//
// Order (each needs the ones before it): catalog (metadata replica; owns its share of the
// titles), cache (origin of "meta/" is the catalog, which invalidates it), analytics
// (batcher, owned partitions), watch state (resume positions), sessions (hosts; their
// events go to analytics, their positions to watch state), hooks (from [hooks], or the
// host's overrides), media (verifies opens: title, region, window, rendition,
// entitlement), gateway (for clients outside the cluster), the player API over HTTP
// ([http], when it has a port; drained first on a leave), then the metrics handle that
// streamverse-soak reads, and last the host's own services. Stop: the exact reverse.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "actors/cache/cache.hpp"
#include "actors/integrations/node_hooks.hpp"
#include "runtime/config/node_settings.hpp"
#include "runtime/node/node.hpp"

namespace sv::content {
class catalog;
} // namespace sv::content
namespace sv::analytics {
class analytics;
} // namespace sv::analytics
namespace sv::media {
class media_service;
class watch_state;
} // namespace sv::media
namespace sv::session {
class service;
class gateway;
} // namespace sv::session

namespace sv {

class node_services;

/// What a host application changes in a full node.
struct services_options {
  /// Hooks the host implements itself (null members: from the node's [hooks] settings).
  integrations::hook_overrides hooks;
  /// More origins for the cache: keys "prefix/..." load through the loader.
  std::vector<std::pair<std::string, cache::loader>> cache_loaders;
  /// The host's own services (e.g. its entity types: sv::entities<T>(node, "name")),
  /// started last, after every node service; the returned handle is destroyed first.
  std::function<std::shared_ptr<void>(node&, node_services&)> host_services;
  /// Whether other processes may read this node's metrics over the cluster transport
  /// (sv::fetch_metrics; streamverse-soak does). streamverse-node turns it on.
  bool serve_metrics = false;
};

class node_services {
public:
  /// The message types of every service: pass them to sv::node (or run_options.types).
  static std::vector<node::type_registrar> message_types();

  /// Registers every service's config section ([sessions], [watch], [cache], [analytics],
  /// [hooks]) with the config loader; idempotent. `load_config` calls it.
  static void register_config();

  /// config::load_file after register_config(): a node config with every section checked.
  static config::load_result load_config(const std::string& path);

  /// Starts every service on `n` (which must be started and built with message_types()).
  /// When a service's constructor throws, the ones already started are stopped again, in
  /// reverse order, and the exception passes on.
  explicit node_services(node& n, services_options options = {});
  ~node_services();
  node_services(const node_services&) = delete;
  node_services& operator=(const node_services&) = delete;

  /// Stops the host's services, then every node service in reverse start order, waiting
  /// for each. Safe to call more than once; the accessors must not be used afterwards.
  void stop();

  /// A graceful leave (streamverse-node on SIGTERM), before stop(): tells the cluster that
  /// node `n` is leaving (node::leave), so that the keys it owned move to other members,
  /// sends every position it stores to the users' new holders, and waits up to `timeout`
  /// until the other nodes of
  /// its region took over every analytics batch it holds (its acknowledged events are then
  /// in their history, not stranded in this node's files). The services keep serving
  /// meanwhile. True when everything was handed over in time.
  bool leave(node& n, std::chrono::milliseconds timeout);

  content::catalog& catalog();
  cache::cache& cache();
  analytics::analytics& analytics();
  media::watch_state& watch();
  session::service& sessions();
  integrations::node_hooks& hooks();
  media::media_service& media();
  session::gateway& gateway();
  /// The handle host_services returned (null without one).
  const std::shared_ptr<void>& host() const noexcept;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace sv
