#pragma once

// The media patterns on a node (design §8), wired to its catalog and cache:
//
//   sv::media::media_service media{node, catalog, cache};
//   sv::session::gateway gw{node, sessions, media.verifier()};   // opens are verified
//   auto text = media.master_playlist("premiere-1", "mobile");   // HLS, through the cache
//
// - The verifier answers a session gateway's `(verify_atom, open_request)`: the title from
//   this node's catalog replica (kept in the verifier once asked for, current through the
//   catalog's watch), then check_availability() (region rights, availability
//   window, a ready rendition), then the viewer's entitlement through the entitlement hook
//   (critical; cached with a TTL; see actors/integrations/hooks.hpp). Refusals carry the
//   reason as the error code (errc::not_found, not_in_region, outside_window,
//   no_ready_rendition, not_entitled), which the gateway returns to the player.
// - Master playlists are cache entries "hls/<level>/<device>/<content id>", rendered from
//   the catalog on a miss (version: the metadata's; tag content:<id>), so a metadata
//   update (cache::follow) invalidates them on every node. The level is the node's
//   degrader level when asked.

#include <memory>
#include <string>

#include "caf/actor.hpp"
#include "caf/expected.hpp"
#include "caf/fwd.hpp"

namespace sv {
class node;
} // namespace sv

namespace sv::content {
class catalog;
} // namespace sv::content

namespace sv::cache {
class cache;
} // namespace sv::cache

namespace sv::integrations {
class entitlements;
} // namespace sv::integrations

namespace sv::media {

class media_service {
public:
  /// `entitlement`: checked on every open after the title's own checks (refusal
  /// not_entitled); null: no entitlement check (integrations::node_hooks makes one).
  media_service(node& n, content::catalog& catalog, cache::cache& cache,
                std::shared_ptr<integrations::entitlements> entitlement = nullptr);
  ~media_service();
  media_service(const media_service&) = delete;
  media_service& operator=(const media_service&) = delete;

  /// For session::gateway.
  const caf::actor& verifier() const noexcept {
    return verifier_;
  }

  /// The HLS master playlist of `content` for a `device` class at this node's current
  /// degrader level. Errors: not_found, no_ready_rendition, the cache's.
  caf::expected<std::string> master_playlist(const std::string& content, const std::string& device);
  /// The same at a given level (0..4).
  caf::expected<std::string> master_playlist(const std::string& content, const std::string& device,
                                             int level);

private:
  node& node_;
  cache::cache& cache_;
  caf::actor verifier_;
};

} // namespace sv::media
