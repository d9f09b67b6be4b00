#pragma once

// The two-level cache of a node (design §6).
//
//   sv::cache::cache cache{node};                       // after node.start()
//   cache.set_loader("user", my_loader);                // origin for keys "user/..."
//   cache.follow(catalog);                              // "meta/<id>": metadata JSON
//   auto v = cache.get("meta/premiere-1");              // L1, else L2, else origin
//   cache.invalidate_tag("content:premiere-1");
//
// L1 is this node's near cache, read directly by the calling thread; it holds the keys that
// turned hot (below). L2 is the cache shard
// that owns the key: shard = hash(key) mod cache.shards, placed on a node by rendezvous
// hashing over the up members, one cache_shard actor each. A miss at L2 asks the origin: the
// loader registered for the key's prefix (up to the first '/') on the shard's node; every
// node must register the same loaders. Concurrent misses for a key become one origin fetch
// at each level. A key the shard sees requested often (cache.hot_threshold) is pushed into
// every node's L1 and dropped there again when its hits fall below cache.cool_below_hits.
//
// Consistency: entries carry the version they were filled from; invalidations (by key, by
// tag, and for every metadata version the node's catalog stores, when following a catalog)
// reach L1 and the shards on every node; fences refuse a fill that is older than an
// invalidation or raced one (store.hpp). When a member comes back after being suspect or
// down (it may have missed invalidations, or others missed its), every node empties its
// L1 and its shards.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "actors/cache/cache_protocol.hpp"
#include "actors/cache/near_cache.hpp"
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

struct loader_table;
struct cache_counters;

/// What an origin returns for a key.
struct loaded {
  std::string value;
  uint64_t version = 0; ///< 0: unversioned (fenced by time only)
  std::vector<std::string> tags;
};

/// Called with the load's outcome, from any thread, exactly once. An error of
/// sv::errc::not_found is cached as a negative entry; any other error is passed to the
/// waiting callers and not cached.
using load_done = std::function<void(caf::expected<loaded>)>;

/// An origin: starts loading `key` and calls `done` later. It runs inside a shard actor and
/// must not block: wrap blocking code in `blocking_loader`.
using loader = std::function<void(const std::string& key, load_done done)>;

/// A loader that runs `fetch` on one of `threads` worker threads of its own.
loader blocking_loader(std::function<caf::expected<loaded>(const std::string& key)> fetch,
                       size_t threads = 4);

/// A value from the cache.
struct cached {
  std::shared_ptr<const std::string> value;
  uint64_t version = 0;
  std::string source; ///< "l1", "l2" or "origin"
};

/// Counters of one node's cache (also exported as metrics).
struct cache_stats {
  store_stats l1;
  store_stats l2; ///< the shards on this node, together
  uint64_t l1_bytes = 0;
  uint64_t l2_bytes = 0;
  uint64_t origin_fetches = 0;
  uint64_t coalesced = 0;        ///< requests that waited for another's fetch
  uint64_t hot_replications = 0; ///< hot keys this node's shards pushed to the nodes
  uint64_t hot_received = 0;     ///< hot keys pushed into this node's L1
  uint64_t cooled = 0;           ///< pushed keys dropped from this L1 again
  uint64_t loader_errors = 0;
  uint64_t flushes = 0; ///< times this node emptied its cache after a member came back
};

/// Registers the cache messages under their proto names (pass it to sv::node, like
/// sv::content::register_message_types).
void register_message_types(caf::actor_system_config& cfg);

/// From outside the cluster (streamverse-ctl): `key` through the cache of the node at
/// host:port (its L1, else the key's shard, else the origin).
caf::expected<cached> remote_get(caf::actor_system& sys, const std::string& host, uint16_t port,
                                 const std::string& key, std::chrono::milliseconds timeout);

class cache {
public:
  /// Spawns the node's cache service (registered as the cluster service "sv_cache") with
  /// the node's [cache] settings.
  explicit cache(node& n);
  ~cache();
  cache(const cache&) = delete;
  cache& operator=(const cache&) = delete;

  /// The origin for keys "prefix/...".
  void set_loader(const std::string& prefix, loader l);

  /// Keys "meta/<id>" load the title's metadata (JSON, the catalog's version, tag
  /// "content:<id>") from `c`, and every version `c` stores invalidates "meta/<id>" and
  /// the tag "content:<id>" on this node.
  void follow(content::catalog& c);

  /// L1, else L2, else the origin. Errors: not_found (the origin has no such key, maybe
  /// cached briefly), the loader's error, unavailable, request_timeout.
  caf::expected<cached> get(const std::string& key);

  /// Writes `key` at `version` into its shard; every L1 drops older versions. Returns the
  /// fill result ("stored", "not_admitted", "stale_version", "too_large", ...).
  caf::expected<std::string> put(const std::string& key, std::string value, uint64_t version,
                                 std::vector<std::string> tags = {});

  /// Invalidates `key` (entries older than `version`; all when 0) on every up node; returns
  /// how many nodes applied it.
  caf::expected<uint64_t> invalidate(const std::string& key, uint64_t version = 0);
  /// Invalidates every entry tagged `tag` on every up node.
  caf::expected<uint64_t> invalidate_tag(const std::string& tag);

  /// Loads each of `keys` into its shard (a new release); returns how many are cached.
  caf::expected<uint64_t> prewarm(const std::vector<std::string>& keys);

  cache_stats stats();

  /// The near cache (for benchmarks and tests).
  near_cache& l1() noexcept {
    return *l1_;
  }

  /// The service actor (its interface: cache_protocol.hpp).
  const cache_actor& handle() const noexcept {
    return service_;
  }

private:
  caf::actor_system& sys_;
  std::chrono::milliseconds timeout_;
  std::shared_ptr<near_cache> l1_;
  std::shared_ptr<loader_table> loaders_;
  std::shared_ptr<cache_counters> count_;
  cache_actor service_;
};

} // namespace sv::cache
