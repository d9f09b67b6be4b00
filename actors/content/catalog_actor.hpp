#pragma once

// Internal to actors/content (not an interface): the catalog actor's state and the functions
// its files share. catalog_replica.cpp holds the actor (the replica, routing of updates to
// a title's owner, its message handlers), catalog_consensus.cpp the owner's single-decree
// consensus per update and the voter set, catalog_repair.cpp the anti-entropy repair
// between replicas, and catalog.cpp the host API.

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "actors/content/catalog.hpp"
#include "actors/content/catalog_store.hpp"
#include "actors/content/consensus.hpp"
#include "actors/content/content.pb.h"
#include "actors/content/view_cache.hpp"
#include "caf/actor.hpp"
#include "caf/atom.hpp"
#include "caf/duration.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/response_promise.hpp"
#include "caf/stateful_actor.hpp"
#include "caf/typed_event_based_actor.hpp"
#include "runtime/cluster/membership.hpp"
#include "runtime/cluster/owner_router.hpp"
#include "runtime/cluster/placement.hpp"
#include "runtime/metrics/registry.hpp"
#include "runtime/util/clock.hpp"
#include "runtime/wire/errc.hpp"

namespace sv::content::detail {

using retry_atom = caf::atom_constant<caf::atom("sv_retry")>;
using repair_atom = caf::atom_constant<caf::atom("sv_repair")>;
using ballot_msg = streamverse::v1::Ballot;

// Anti-entropy buckets: a title's bucket is its id's hash modulo this.
inline constexpr size_t digest_buckets = 64;

inline size_t bucket_of(const std::string& id) {
  return static_cast<size_t>(cluster::stable_hash(id) % digest_buckets);
}

// Content and ballot: replicas that hold one version under different ballots repair too.
inline uint64_t fingerprint(const stored_version& v) {
  return cluster::stable_hash(v.value.SerializeAsString() + "\n" + std::to_string(v.accepted.round)
                              + ":" + v.accepted.node);
}

inline uint64_t entry_hash(const stored_version& v) {
  return cluster::rendezvous_weight(v.value.id(), std::to_string(v.value.version()) + ":"
                                                      + std::to_string(fingerprint(v)));
}

// Pause between attempts to reach a peer that is up but not connected yet, and (plus a
// random part) between two attempts of a proposal that a higher ballot interrupted.
inline constexpr auto retry_pause = std::chrono::milliseconds{50};

// Once a majority stored a version, how long the owner still waits for the other members'
// answers before it acknowledges (so that a version is normally readable on every node
// when its update returns, without a stalled member holding the answer up).
inline constexpr auto ack_grace = std::chrono::milliseconds{200};

inline ballot from_msg(const ballot_msg& b) {
  return {b.round(), b.node()};
}

inline void to_msg(const ballot& b, ballot_msg* out) {
  out->set_round(b.round);
  out->set_node(b.node);
}

inline stored_version from_msg(const changed_msg& c) {
  return {c.metadata(), from_msg(c.ballot())};
}

inline changed_msg to_changed(const stored_version& v, const std::string& from) {
  changed_msg c;
  *c.mutable_metadata() = v.value;
  c.set_owner(from);
  to_msg(v.accepted, c.mutable_ballot());
  return c;
}

// An update waiting for (or in) its proposal at the owner.
struct pending_update {
  update_msg update;
  caf::response_promise rp;
  std::chrono::steady_clock::time_point deadline;
  // The version an earlier attempt of this update proposed: when the next attempt finds it
  // as the highest, it proposes the same version again (it may already be chosen).
  std::optional<stored_version> attempted;
};

inline constexpr auto service_name = caf::atom("sv_catalog");

using sv::clock::wall_ms;

// The interface plus what the actor sends itself (repair rounds, delayed continuations).
using catalog_private =
    catalog_actor::extend<caf::reacts_to<repair_atom>, caf::reacts_to<retry_atom, uint64_t>>;

struct catalog_state {
  std::shared_ptr<catalog_store> store;
  std::map<std::string, stored_version> replica;
  view_cache views;
  // The members whose majority an update needs (persisted; see refresh_voters()).
  std::vector<std::string> voters;
  // Updates per title at this owner: the front one is being proposed.
  std::map<std::string, std::deque<pending_update>> queued;
  // The highest ballot round seen per title (ours or a refusal's).
  std::map<std::string, uint64_t> rounds;
  // Titles whose last proposal here was chosen, with that version and ballot: the next
  // update of the title skips phase 1 (consensus::proposal::continuing).
  std::map<std::string, stored_version> leading;
  std::minstd_rand jitter;
  std::chrono::milliseconds timeout{5000};
  // Title owners (this node's name, endpoint and member view) and the peers' catalogs.
  cluster::owner_router<caf::stateful_actor<catalog_state, catalog_private::base>> router{
      service_name};
  // Actors told about every version this replica stores (watch_atom).
  std::vector<caf::actor> watchers;
  // Continuations waiting for retry_pause (see later()).
  std::map<uint64_t, std::function<void()>> delayed;
  uint64_t next_delayed = 0;
  // XOR of entry_hash over the titles of each bucket (anti-entropy digest).
  std::vector<uint64_t> digest = std::vector<uint64_t>(digest_buckets, 0);
  std::chrono::milliseconds repair_interval{1000};
  catalog_stats stats;
  metrics::counter* repaired = nullptr;
  metrics::counter* accepted = nullptr;
  metrics::counter* refused = nullptr;
  metrics::counter* no_majority = nullptr;
  metrics::counter* applied = nullptr;
  metrics::counter* stale = nullptr;
  metrics::histogram* propagation = nullptr;

  static inline const char* name = "sv.content.catalog";
};

using catalog_self = caf::stateful_actor<catalog_state, catalog_private::base>;

// -- shared between the catalog's files -------------------------------------------------

// catalog_replica.cpp
void stored(catalog_self* self, const stored_version& v);
bool apply_version(catalog_self* self, const stored_version& v);
void later(catalog_self* self, std::chrono::milliseconds d, std::function<void()> f);

// catalog_consensus.cpp
void refresh_voters(catalog_self* self);
void attempt(catalog_self* self, const std::string& id);

// catalog_repair.cpp
void repair_round(catalog_self* self);

// Calls `then(handle)` with the catalog of peer `name` (typed: looked up once, then cached), or
// `failed(err)`. A peer that is not connected yet (it joined a moment ago, or a connection
// is being re-established) is tried again every retry_pause until `deadline`. Calls for one
// peer are answered in the order they were made.
template <class Then, class Failed>
void with_peer_catalog(catalog_self* self, const std::string& name, Then then, Failed failed,
                       std::chrono::steady_clock::time_point deadline) {
  auto& st = self->state;
  auto typed = [then](const caf::actor& h) mutable {
    then(caf::actor_cast<catalog_actor>(h));
  };
  st.router.with_peer(self, name, st.timeout, typed, [=](const caf::error& err) mutable {
    if (is(err, errc::unavailable) && std::chrono::steady_clock::now() + retry_pause < deadline) {
      later(self, retry_pause, [=] { with_peer_catalog(self, name, then, failed, deadline); });
    } else {
      failed(err);
    }
  });
}

/// Spawns the catalog actor of a node.
catalog_actor spawn_catalog(caf::actor_system& sys, std::string node_name,
                            std::shared_ptr<catalog_store> store, caf::actor endpoint,
                            std::function<std::vector<cluster::member>()> members,
                            std::chrono::milliseconds timeout, metrics::registry* reg,
                            std::chrono::milliseconds repair_interval = std::chrono::seconds{1});

} // namespace sv::content::detail
