#include "actors/services/node_services.hpp"

#include <algorithm>
#include <stdexcept>

#include "actors/analytics/analytics.hpp"
#include "actors/analytics/analytics_settings.hpp"
#include "actors/api/api_settings.hpp"
#include "actors/api/http_api.hpp"
#include "actors/cache/cache_settings.hpp"
#include "actors/content/catalog.hpp"
#include "actors/content/content_types.hpp"
#include "actors/integrations/hooks_settings.hpp"
#include "actors/media/media_service.hpp"
#include "actors/media/watch_state.hpp"
#include "actors/services/scale_signal.hpp"
#include "actors/session/session_gateway.hpp"
#include "actors/session/session_service.hpp"
#include "actors/session/session_settings.hpp"

namespace sv {

// Members in start order; stop() resets them in the reverse order.
struct node_services::impl {
  std::unique_ptr<content::catalog> catalog;
  std::unique_ptr<cache::cache> cache;
  std::unique_ptr<analytics::analytics> analytics;
  std::unique_ptr<media::watch_state> watch;
  std::unique_ptr<session::service> sessions;
  std::unique_ptr<integrations::node_hooks> hooks;
  std::unique_ptr<media::media_service> media;
  std::unique_ptr<session::gateway> gateway;
  std::unique_ptr<api::http_api> api; // [http]: the player API (off without a port)
  std::shared_ptr<void> metrics;
  std::shared_ptr<void> scale; // sv_cluster_desired_nodes (reads the sessions service)
  std::shared_ptr<void> host;

  void stop() {
    host.reset();
    scale.reset();
    metrics.reset();
    api.reset();
    gateway.reset();
    media.reset();
    hooks.reset();
    sessions.reset();
    watch.reset();
    analytics.reset();
    cache.reset();
    catalog.reset();
  }
};

std::vector<node::type_registrar> node_services::message_types() {
  return {content::register_message_types, cache::register_message_types,
          analytics::register_message_types, session::register_message_types,
          media::register_watch_types};
}

void node_services::register_config() {
  session::register_config();
  cache::register_config();
  analytics::register_config();
  integrations::register_config();
  api::register_config();
  register_scale_config();
}

config::load_result node_services::load_config(const std::string& path) {
  register_config();
  return config::load_file(path);
}

node_services::node_services(node& n, services_options options) : impl_(std::make_unique<impl>()) {
  auto& s = *impl_;
  try {
    s.catalog = std::make_unique<content::catalog>(n);
    s.cache = std::make_unique<cache::cache>(n);
    s.cache->follow(*s.catalog);
    for (auto& [prefix, load] : options.cache_loaders) {
      s.cache->set_loader(prefix, std::move(load));
    }
    s.analytics = std::make_unique<analytics::analytics>(n);
    s.watch = std::make_unique<media::watch_state>(n, media::watch_settings_from(n.settings()));
    auto ss = session::service_settings_from(n.settings());
    ss.host.outputs.events = s.analytics->session_events();
    ss.host.outputs.positions = s.watch->session_positions();
    ss.host.outputs.durable_positions = s.watch->durable_positions();
    s.sessions = std::make_unique<session::service>(n, ss);
    s.hooks = std::make_unique<integrations::node_hooks>(n, *s.catalog, std::move(options.hooks));
    s.media =
        std::make_unique<media::media_service>(n, *s.catalog, *s.cache, s.hooks->entitlement());
    s.gateway = std::make_unique<session::gateway>(n, *s.sessions, s.media->verifier());
    s.api = std::make_unique<api::http_api>(n, api::api_parts{s.catalog.get(), s.cache.get(),
                                                              s.watch.get(), s.analytics.get(),
                                                              s.gateway.get()});
    if (options.serve_metrics) {
      s.metrics = serve_metrics(n);
    }
    s.scale = export_scale_signal(n, *s.sessions);
    if (options.host_services) {
      s.host = options.host_services(n, *this);
    }
  } catch (...) {
    s.stop();
    throw;
  }
}

node_services::~node_services() {
  stop();
}

void node_services::stop() {
  impl_->stop();
}

bool node_services::leave(node& n, std::chrono::milliseconds timeout) {
  auto& s = *impl_;
  if (s.api) {
    // Players first: no new connections; what is under way is answered (up to 5 s).
    s.api->drain(std::min<std::chrono::milliseconds>(timeout, std::chrono::seconds{5}));
  }
  if (!n.leave()) {
    return false;
  }
  if (s.watch) {
    s.watch->hand_over(timeout); // positions it stores go to their new holders
  }
  return !s.analytics || s.analytics->hand_over(timeout);
}

namespace {

template <class T>
T& started(const std::unique_ptr<T>& p, const char* name) {
  if (!p) {
    throw std::logic_error(std::string{"node_services: "} + name + " is stopped");
  }
  return *p;
}

} // namespace

content::catalog& node_services::catalog() {
  return started(impl_->catalog, "the catalog");
}
cache::cache& node_services::cache() {
  return started(impl_->cache, "the cache");
}
analytics::analytics& node_services::analytics() {
  return started(impl_->analytics, "analytics");
}
media::watch_state& node_services::watch() {
  return started(impl_->watch, "watch state");
}
session::service& node_services::sessions() {
  return started(impl_->sessions, "the session service");
}
integrations::node_hooks& node_services::hooks() {
  return started(impl_->hooks, "the hooks");
}
media::media_service& node_services::media() {
  return started(impl_->media, "the media service");
}
session::gateway& node_services::gateway() {
  return started(impl_->gateway, "the gateway");
}
const std::shared_ptr<void>& node_services::host() const noexcept {
  return impl_->host;
}

} // namespace sv
