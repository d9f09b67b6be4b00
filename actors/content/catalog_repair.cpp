// Anti-entropy between catalog replicas: each round sends this replica's digest (a hash per
// bucket of titles) to every peer, which answers with the entries of the buckets that
// differ; newer versions are stored here and older ones sent back.

#include "actors/content/catalog_actor.hpp"

#include <algorithm>
#include <set>
#include <vector>

#include <spdlog/spdlog.h>

#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/send.hpp"
#include "runtime/cluster/endpoint.hpp"
#include "runtime/wire/protobuf.hpp"

namespace sv::content::detail {

namespace {

// Anti-entropy, one round: the digest to every connected peer's catalog; the peer answers
// with (id, version) of the titles in the buckets that differ; each side then gets what it
// lacks: newer versions are pushed as MetadataChanged, missing or older ones fetched.
void reconcile(catalog_self* self, const catalog_actor& peer, const entries_msg& theirs) {
  auto& st = self->state;
  // id -> (version, fingerprint) on the peer.
  std::map<std::string, std::pair<uint64_t, uint64_t>> remote;
  std::vector<bool> differing(digest_buckets, false);
  for (auto b : theirs.buckets()) {
    if (b < digest_buckets) {
      differing[b] = true;
    }
  }
  for (auto& e : theirs.entries()) {
    remote[e.id()] = {e.version(), e.fingerprint()};
  }
  // Theirs is newer or we lack it: fetch.
  // Different: a version we lack, or the same version with another content (the store's
  // tie-break decides which one both sides keep).
  auto differs = [](const stored_version& m, std::pair<uint64_t, uint64_t> theirs) {
    return m.value.version() != theirs.first || fingerprint(m) != theirs.second;
  };
  for (auto& [id, v] : remote) {
    auto mine = st.replica.find(id);
    if (mine == st.replica.end() || mine->second.value.version() < v.first
        || (mine->second.value.version() == v.first && differs(mine->second, v))) {
      self->request(peer, caf::duration{st.timeout}, fetch_atom::value, id)
          .then(
              [self](const changed_msg& c) {
                if (apply_version(self, from_msg(c))) {
                  self->state.repaired->inc();
                }
              },
              [](caf::error&) {});
    }
  }
  // In a bucket that differs, ours is newer or they lack it: push.
  for (auto& [id, m] : st.replica) {
    if (!differing[bucket_of(id)]) {
      continue;
    }
    auto theirs_v = remote.find(id);
    if (theirs_v == remote.end() || theirs_v->second.first < m.value.version()
        || (theirs_v->second.first == m.value.version() && differs(m, theirs_v->second))) {
      self->send(peer, to_changed(m, st.router.self_name()));
    }
  }
}

} // namespace

void repair_round(catalog_self* self) {
  auto& st = self->state;
  if (st.store->failing()) {
    // After a failed write (a full disk): learn whether writes work again, so that
    // /readyz recovers without waiting for the next title update.
    st.store->probe();
  }
  refresh_voters(self);
  digest_msg d;
  d.set_from(st.router.self_name());
  for (auto x : st.digest) {
    d.add_buckets(x);
  }
  self->request(st.router.endpoint(), caf::duration{st.timeout}, cluster::peers_atom::value)
      .then(
          [=](const std::vector<std::string>& names, const std::vector<caf::actor>&) {
            for (auto& n : names) {
              with_peer_catalog(
                  self, n,
                  [=](const catalog_actor& cat) {
                    self->request(cat, caf::duration{self->state.timeout}, d)
                        .then([=](const entries_msg& e) { reconcile(self, cat, e); },
                              [](caf::error&) {});
                  },
                  [](const caf::error&) {}, std::chrono::steady_clock::now());
            }
          },
          [](caf::error&) {});
  self->delayed_send(self, st.repair_interval, repair_atom::value);
}

} // namespace sv::content::detail
