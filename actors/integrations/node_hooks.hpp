#pragma once

// The integration hooks of a running node, built from its [hooks] settings
// (config/README.md): a webhook where a URL is set, the in-process default otherwise, or
// what the host application passes in.
//
//   sv::integrations::node_hooks hooks{node, catalog};
//   sv::media::media_service media{node, catalog, cache, hooks.entitlement()};
//   hooks.recommendations().get(query, [](std::vector<std::string> ids, bool fresh) { ... });
//
// - entitlement: used by the session verifier on every open (critical); default: the
//   title's "tier:<name>" tag against the viewer's subscription.
// - recommendations and ads: shed (fallback list / no ad) while the node's degrader level
//   refuses best_effort.
// - cdn_purge (when a URL or an override is given): every metadata version this node's
//   catalog replica stores for a title this
//   node owns (rendezvous over the up members, as the catalog places titles) queues the
//   purge key "content:<id>", so one node purges each change (two may, around a
//   membership change: purges are idempotent).
// - cms: polled only while this node is the rendezvous owner of "cms" among the up members;
//   items go to the catalog (an item equal to the stored title but for its version is not
//   written again); the cursor is kept in <data_dir>/cms.cursor.
// On destruction: the catalog watch ends, the CMS poller and the purge queue stop (keys
// not yet purged are counted as unsent), pending hook calls are answered.

#include <memory>

#include "actors/integrations/hooks.hpp"
#include "caf/actor.hpp"

namespace sv {
class node;
} // namespace sv

namespace sv::content {
class catalog;
} // namespace sv::content

namespace sv::integrations {

/// Hooks a host application implements itself; null members come from the settings.
struct hook_overrides {
  std::shared_ptr<entitlement_hook> entitlement;
  std::shared_ptr<recommendation_hook> recommendations;
  std::shared_ptr<ad_hook> ads;
  std::shared_ptr<cdn_purge_hook> cdn_purge;
  std::shared_ptr<cms_hook> cms;
};

class node_hooks {
public:
  node_hooks(node& n, content::catalog& catalog, hook_overrides overrides = {});
  ~node_hooks();
  node_hooks(const node_hooks&) = delete;
  node_hooks& operator=(const node_hooks&) = delete;

  /// Shared with the session verifier (media_service).
  const std::shared_ptr<entitlements>& entitlement() const noexcept {
    return entitlements_;
  }
  recommendations& recommend() noexcept {
    return *recommendations_;
  }
  ads& ad() noexcept {
    return *ads_;
  }
  cdn_purger& purger() noexcept {
    return *purger_;
  }
  /// Null when no CMS is configured (no URL and no override).
  cms_ingest* cms() noexcept {
    return cms_.get();
  }

private:
  node& node_;
  std::shared_ptr<entitlements> entitlements_;
  std::unique_ptr<recommendations> recommendations_;
  std::unique_ptr<ads> ads_;
  std::unique_ptr<cdn_purger> purger_;
  std::unique_ptr<cms_ingest> cms_;
  caf::actor watcher_;
};

} // namespace sv::integrations
