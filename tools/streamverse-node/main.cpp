// streamverse-node: runs one StreamVerse cluster node from a TOML config file.

#include <cstring>
#include <iostream>
#include <string>

#include "actors/analytics/analytics.hpp"
#include "actors/cache/cache.hpp"
#include "actors/content/catalog.hpp"
#include "actors/content/content_types.hpp"
#include "actors/integrations/node_hooks.hpp"
#include "actors/media/media_service.hpp"
#include "actors/media/watch_state.hpp"
#include "actors/session/session_gateway.hpp"
#include "actors/session/session_service.hpp"
#include "runtime/config/node_settings.hpp"
#include "runtime/node/node.hpp"

namespace {

constexpr int exit_usage = 2;

const char* usage = "usage: streamverse-node --config FILE      run a node until SIGINT/SIGTERM\n"
                    "       streamverse-node --check-config FILE validate FILE and exit\n"
                    "       streamverse-node --version\n"
                    "Config keys: config/README.md. Exit codes: 0 ok, 1 runtime failure, "
                    "2 bad arguments or config.\n";

} // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "--help") == 0) {
    std::cout << usage;
    return 0;
  }
  if (argc == 2 && std::strcmp(argv[1], "--version") == 0) {
    std::cout << "streamverse-node " << sv::version() << "\n";
    return 0;
  }
  if (argc != 3
      || (std::strcmp(argv[1], "--config") != 0 && std::strcmp(argv[1], "--check-config") != 0)) {
    std::cerr << usage;
    return exit_usage;
  }
  auto loaded = sv::config::load_file(argv[2]);
  if (!loaded) {
    std::cerr << "streamverse-node: " << loaded.error->to_string() << "\n";
    return exit_usage;
  }
  if (std::strcmp(argv[1], "--check-config") == 0) {
    std::cout << argv[2] << ": ok (node " << loaded.settings->name << ")\n";
    return 0;
  }
  // Every node keeps a catalog replica (and owns its share of the titles) and runs the
  // cache (its near cache and the shards it owns), with the catalog as origin of "meta/",
  // analytics (its batcher and the partitions it owns), and viewer sessions with their
  // gateway for clients outside the cluster (opens verified against the catalog), the
  // sessions' positions going to watch_state and their events to analytics.
  struct services {
    std::unique_ptr<sv::content::catalog> catalog;
    std::unique_ptr<sv::cache::cache> cache;
    std::unique_ptr<sv::analytics::analytics> analytics;
    std::unique_ptr<sv::integrations::node_hooks> hooks;
    std::unique_ptr<sv::media::media_service> media;
    std::unique_ptr<sv::media::watch_state> watch;
    std::unique_ptr<sv::session::service> sessions;
    std::unique_ptr<sv::session::gateway> gateway;
    std::shared_ptr<void> metrics; // destroyed first
  };
  sv::run_options options;
  options.types = {sv::content::register_message_types, sv::cache::register_message_types,
                   sv::analytics::register_message_types, sv::session::register_message_types,
                   sv::media::register_watch_types};
  options.start_services = [](sv::node& n) -> std::shared_ptr<void> {
    auto s = std::make_shared<services>();
    s->catalog = std::make_unique<sv::content::catalog>(n);
    s->cache = std::make_unique<sv::cache::cache>(n);
    s->cache->follow(*s->catalog);
    s->analytics = std::make_unique<sv::analytics::analytics>(n);
    s->watch =
        std::make_unique<sv::media::watch_state>(n, sv::media::watch_settings_from(n.settings()));
    auto ss = sv::session::service_settings_from(n.settings());
    // The hosts' outputs (session_host.hpp): events to analytics, position checkpoints
    // to watch_state (resume on any device).
    ss.host.outputs.events = s->analytics->session_events();
    ss.host.outputs.positions = s->watch->session_positions();
    s->sessions = std::make_unique<sv::session::service>(n, ss);
    // Integration hooks from [hooks]: webhooks where a URL is set, in-process defaults
    // otherwise (CDN purges for the titles this node owns, CMS polling on one node).
    s->hooks = std::make_unique<sv::integrations::node_hooks>(n, *s->catalog);
    // Opens through the gateway are verified against the catalog (region, window, a
    // ready rendition) and the entitlement hook; playlists come from the cache.
    s->media = std::make_unique<sv::media::media_service>(n, *s->catalog, *s->cache,
                                                          s->hooks->entitlement());
    s->gateway = std::make_unique<sv::session::gateway>(n, *s->sessions, s->media->verifier());
    s->metrics = sv::serve_metrics(n); // for streamverse-soak
    return s;
  };
  return sv::run_until_signal(*loaded.settings, options);
}
