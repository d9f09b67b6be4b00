#pragma once

// The cache service's interface: what host code, actors and the other nodes' cache
// services send a node's cache service (registered as the cluster service "sv_cache"), as
// a typed actor, and how to reach one from outside the node.
//
//   auto svc = sv::cache::connect_cache(sys, "10.0.0.5", 7400, 2s);   // or cache.handle()
//   sv::cache::get_msg g;
//   g.set_key("meta/premiere-1");
//   auto v = sv::ask<sv::cache::value_msg>(sys, *svc, 2s, g);
//
// Errors travel as CAF errors (sv::errc: not_found, unavailable, request_timeout, or a
// loader's own error). A payload that does not decode is answered undecodable_payload.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "actors/cache/cache.pb.h"
#include "actors/content/content.pb.h"
#include "caf/atom.hpp"
#include "caf/expected.hpp"
#include "caf/fwd.hpp"
#include "caf/replies_to.hpp"
#include "caf/typed_actor.hpp"
#include "runtime/wire/protobuf.hpp" // makes the protobuf messages CAF message types

namespace sv::cache {

/// Messages of the cache's protocol (protobuf, cache.proto).
using get_msg = streamverse::v1::CacheGet;
using value_msg = streamverse::v1::CacheValue;
using put_msg = streamverse::v1::CachePut;
using put_result_msg = streamverse::v1::CachePutResult;
using invalidate_msg = streamverse::v1::CacheInvalidate;
using hot_msg = streamverse::v1::CacheHot;
/// A version a followed catalog stored (content.proto).
using metadata_changed_msg = streamverse::v1::MetadataChanged;

/// `(shard_atom, shard, msg)` between services: for the shard `shard`, which the receiver
/// owns.
using shard_atom = caf::atom_constant<caf::atom("sv_cshard")>;
/// `(apply_atom, invalidate)` between services: apply to this node's L1 and shards only.
using apply_atom = caf::atom_constant<caf::atom("sv_capply")>;
/// `(hot_atom, hot)` from a shard to its node's service: push the key into every L1.
using hot_atom = caf::atom_constant<caf::atom("sv_chot")>;
/// `(stats_atom)`: totals of this node's shards, eight numbers: hits, misses, negative hits,
/// evictions, refused, not admitted, invalidated, bytes.
using stats_atom = caf::atom_constant<caf::atom("sv_cstats")>;

/// The cache service's interface.
using cache_actor = caf::typed_actor<
    // host code and actors on any node
    caf::replies_to<get_msg>::with<value_msg>,       // L1, else the key's shard
    caf::replies_to<put_msg>::with<put_result_msg>,  // to the shard's owner, then every L1
    caf::replies_to<invalidate_msg>::with<uint64_t>, // -> nodes that applied it
    caf::replies_to<stats_atom>::with<std::vector<uint64_t>>,
    caf::reacts_to<metadata_changed_msg>, // from a followed catalog
    // between the nodes' services
    caf::replies_to<shard_atom, uint32_t, get_msg>::with<value_msg>,
    caf::replies_to<shard_atom, uint32_t, put_msg>::with<put_result_msg>,
    caf::replies_to<shard_atom, uint32_t, invalidate_msg>::with<uint64_t>,
    caf::replies_to<apply_atom, invalidate_msg>::with<caf::ok_atom>,
    caf::reacts_to<hot_msg>, // a hot key for this node's L1
    // from this node's shards
    caf::reacts_to<hot_atom, hot_msg>>;

/// The cache service of the node whose cluster endpoint is host:port. `sys` needs the
/// middleman and the runtime's and the cache's message types.
caf::expected<cache_actor> connect_cache(caf::actor_system& sys, const std::string& host,
                                         uint16_t port, std::chrono::milliseconds timeout);

} // namespace sv::cache
