#pragma once

// Internal to actors/cache (not an interface): what the cache's actors share with each other
// and with the host API in cache.cpp. cache_shard.cpp holds the L2 shard actor, and
// cache_service.cpp the node's cache service (L1, routing to shard owners, invalidation
// broadcast, hot keys).

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "actors/cache/cache.hpp"
#include "actors/cache/cache_protocol.hpp"
#include "actors/cache/cache_settings.hpp"
#include "actors/cache/near_cache.hpp"
#include "actors/cache/store.hpp"
#include "actors/content/content.pb.h"
#include "caf/actor.hpp"
#include "caf/atom.hpp"
#include "caf/fwd.hpp"
#include "runtime/cluster/membership.hpp"
#include "runtime/util/clock.hpp"

namespace sv::cache {

inline std::string prefix_of(const std::string& key) {
  return key.substr(0, key.find('/'));
}

// Counters shared by the service, its shards and the host API (and read by the metrics
// registry, which may outlive them: it holds a reference).
struct cache_counters {
  std::atomic<uint64_t> l2_hits{0}, l2_misses{0}, l2_evictions{0}, l2_not_admitted{0},
      l2_invalidated{0}, l2_bytes{0}, origin_fetches{0}, coalesced{0}, hot_replications{0},
      hot_received{0}, cooled{0}, loader_errors{0}, flushes{0};
  // Refused fills by reason (fill_result values), at either level.
  std::array<std::atomic<uint64_t>, 8> refused{};
};

struct loader_table {
  std::mutex mutex;
  std::map<std::string, loader> by_prefix;

  loader find(const std::string& key) {
    std::lock_guard<std::mutex> guard{mutex};
    auto i = by_prefix.find(prefix_of(key));
    return i == by_prefix.end() ? loader{} : i->second;
  }
};

namespace detail {

using changed_msg = metadata_changed_msg;

using loaded_atom = caf::atom_constant<caf::atom("sv_loaded")>;
using load_timeout_atom = caf::atom_constant<caf::atom("sv_ldtmo")>;
using flush_atom = caf::atom_constant<caf::atom("sv_cflush")>;
using view_tick_atom = caf::atom_constant<caf::atom("sv_cview")>;
using cool_tick_atom = caf::atom_constant<caf::atom("sv_ccool")>;
using retry_atom = caf::atom_constant<caf::atom("sv_cretry")>;

// The interface plus what the service sends itself.
using cache_private =
    cache_actor::extend<caf::reacts_to<retry_atom, get_msg>, caf::reacts_to<view_tick_atom>,
                        caf::reacts_to<cool_tick_atom>>;

inline constexpr auto service_name = caf::atom("sv_cache");
// How often the service looks at the membership (ownership moves, members coming back).
inline constexpr auto view_interval = std::chrono::milliseconds{200};

inline time_ns now_ns() {
  return sv::clock::steady_ns();
}

inline value_msg value_of(const entry& e, const char* source, bool hot) {
  value_msg v;
  v.set_found(!e.negative());
  if (!e.negative()) {
    v.set_value(*e.value);
  }
  v.set_version(e.version);
  for (auto& t : e.tags) {
    v.add_tags(t);
  }
  v.set_source(source);
  v.set_hot(hot);
  return v;
}

inline std::vector<std::string> tags_of(const google::protobuf::RepeatedPtrField<std::string>& in) {
  return {in.begin(), in.end()};
}

/// Spawns an L2 shard linked to `service` (the node's cache service, which it reports hot
/// keys to).
caf::actor spawn_shard(caf::local_actor* service, store_settings s, config::cache_node_settings cfg,
                       std::shared_ptr<loader_table> loaders,
                       std::shared_ptr<cache_counters> count);

/// Spawns the node's cache service.
cache_actor spawn_service(caf::actor_system& sys, std::string node_name,
                          config::cache_node_settings cfg, std::shared_ptr<near_cache> l1,
                          std::shared_ptr<loader_table> loaders,
                          std::shared_ptr<cache_counters> count, caf::actor endpoint,
                          std::function<std::vector<cluster::member>()> members);

} // namespace detail

} // namespace sv::cache
