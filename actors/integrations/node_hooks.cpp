#include "actors/integrations/node_hooks.hpp"
#include "actors/integrations/hooks_settings.hpp"

#include "actors/content/catalog.hpp"
#include "actors/content/content.pb.h"
#include "caf/event_based_actor.hpp"
#include "caf/scoped_actor.hpp"
#include "google/protobuf/util/message_differencer.h"
#include "runtime/cluster/membership.hpp"
#include "runtime/cluster/placement.hpp"
#include "runtime/config/node_settings.hpp"
#include "runtime/flow/flow_context.hpp"
#include "runtime/flow/gate.hpp"
#include "runtime/node/node.hpp"
#include "runtime/wire/errc.hpp"
#include "runtime/wire/undecodable.hpp"
#include "spdlog/spdlog.h"

namespace sv::integrations {

namespace {

std::vector<std::string> up_members(node& n) {
  return cluster::up_names(n.members());
}

guard_settings guard_for(const config::hooks_node_settings& hs, const char* name,
                         const config::hook_endpoint_settings& e) {
  auto g = guarded(name, std::chrono::milliseconds{e.timeout_ms});
  g.breaker.failure_threshold = hs.failure_threshold;
  g.breaker.open_for = std::chrono::milliseconds{hs.open_ms};
  g.threads = hs.threads;
  g.max_queued = hs.max_queued;
  return g;
}

webhook_settings webhook_for(const config::hook_endpoint_settings& e) {
  webhook_settings w;
  w.url = e.url;
  w.timeout = std::chrono::milliseconds{e.timeout_ms};
  return w;
}

// The override, else the webhook when a URL is set, else the default.
template <class Hook, class Webhook, class Default>
std::shared_ptr<Hook> pick(std::shared_ptr<Hook> given, const config::hook_endpoint_settings& e,
                           Webhook webhook, Default fallback) {
  if (given) {
    return given;
  }
  if (!e.url.empty()) {
    return webhook(webhook_for(e));
  }
  return fallback();
}

// Equal but for what the catalog assigns (version, time of acceptance).
bool same_title(content::metadata a, content::metadata b) {
  a.set_version(0);
  b.set_version(0);
  a.set_updated_at_ms(0);
  b.set_updated_at_ms(0);
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

apply_result apply_to_catalog(content::catalog& catalog, const content::metadata& m) {
  if (auto current = catalog.get(m.id()); current && same_title(*current, m)) {
    return apply_result::applied; // already there (a repeated page)
  }
  auto item = m;
  item.set_version(0);
  auto v = catalog.update(std::move(item));
  if (v) {
    return apply_result::applied;
  }
  if (is(v.error(), errc::invalid_argument)) {
    spdlog::warn("cms: {} refused: {}", m.id(), caf::to_string(v.error()));
    return apply_result::rejected;
  }
  return apply_result::try_later;
}

} // namespace

node_hooks::node_hooks(node& n, content::catalog& catalog, hook_overrides o) : node_(n) {
  auto& hs = n.settings().section<config::hooks_node_settings>();
  auto* reg = &n.metrics();
  auto* np = &n;
  shed_fn shed = [np] {
    auto& gate = np->flow().admission();
    return gate.settings().policy.refuses(np->flow().current_level(),
                                          flow::service_class::best_effort);
  };

  entitlement_settings es;
  es.guard = guard_for(hs, "entitlement", hs.entitlement);
  es.ttl = std::chrono::milliseconds{hs.entitlement_ttl_ms};
  es.denied_ttl = std::chrono::milliseconds{hs.entitlement_denied_ttl_ms};
  es.allow_when_unavailable = hs.entitlement_fail_open;
  entitlements_ = std::make_shared<entitlements>(
      pick(o.entitlement, hs.entitlement, entitlement_webhook, tier_entitlement), es, reg);

  recommendation_settings rs;
  rs.guard = guard_for(hs, "recommendations", hs.recommendations);
  rs.fallback = hs.recommendations_fallback;
  auto fallback = rs.fallback;
  recommendations_ = std::make_unique<recommendations>(
      pick(o.recommendations, hs.recommendations, recommendation_webhook,
           [fallback] { return static_recommendations(fallback); }),
      rs, shed, reg);

  ad_settings as;
  as.guard = guard_for(hs, "ads", hs.ads);
  ads_ = std::make_unique<ads>(pick(o.ads, hs.ads, ad_webhook, no_ads), as, shed, reg);

  cdn_purge_settings cs;
  cs.guard = guard_for(hs, "cdn_purge", hs.cdn_purge);
  cs.batch = hs.cdn_purge_batch;
  cs.max_pending = hs.cdn_purge_max_pending;
  cs.max_attempts = hs.cdn_purge_max_attempts;
  purger_ = std::make_unique<cdn_purger>(pick(o.cdn_purge, hs.cdn_purge, cdn_purge_webhook, no_cdn),
                                         cs, reg);

  std::shared_ptr<cms_hook> feed = o.cms;
  if (!feed && !hs.cms.url.empty()) {
    feed = cms_webhook(webhook_for(hs.cms));
  }
  if (feed) {
    cms_settings ms;
    ms.guard = guard_for(hs, "cms", hs.cms);
    ms.poll = std::chrono::milliseconds{hs.cms_poll_ms};
    ms.cursor_file = n.settings().data_dir + "/cms.cursor";
    auto* cat = &catalog;
    auto self_name = n.settings().name;
    cms_ = std::make_unique<cms_ingest>(
        feed, [cat](const content::metadata& m) { return apply_to_catalog(*cat, m); },
        [np, self_name] { return cluster::owner_of("cms", up_members(*np)) == self_name; }, ms,
        reg);
  }

  // Purges for the titles this node owns, as its replica stores their new versions (when
  // there is a CDN to purge).
  if (!o.cdn_purge && hs.cdn_purge.url.empty()) {
    return;
  }
  auto* purger = purger_.get();
  auto name = n.settings().name;
  auto cat = catalog.handle();
  watcher_ = n.system().spawn([purger, np, name](caf::event_based_actor* self) {
    wire::answer_undecodable(self, "CDN purge watcher"); // never renders what it does not know
    return caf::behavior{
        [purger, np, name](const streamverse::v1::MetadataChanged& c) {
          auto& id = c.metadata().id();
          if (cluster::owner_of(id, up_members(*np)) == name) {
            purger->purge({"content:" + id});
          }
        },
    };
  });
  // Registered before the constructor returns: no change after it goes unpurged.
  caf::scoped_actor self{n.system()};
  self->request(cat, std::chrono::seconds{5}, content::watch_atom::value, watcher_)
      .receive([](caf::ok_atom) {},
               [](caf::error& err) {
                 spdlog::error("cdn purge: cannot watch the catalog: {}", caf::to_string(err));
               });
}

node_hooks::~node_hooks() {
  if (watcher_) {
    caf::scoped_actor self{node_.system()};
    self->send_exit(watcher_, caf::exit_reason::user_shutdown);
    self->wait_for(watcher_);
  }
  cms_.reset();
}

} // namespace sv::integrations
