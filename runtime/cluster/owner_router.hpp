#pragma once

// The placement primitive every service that spreads keys over the cluster uses (a
// replicated store's records, a cache's shards, a log's partitions, per-user state): the
// owner of a key is the rendezvous winner among the members that are up right now (in this
// node's region, for a service placed per region), and a
// request for the key is handled here when this node owns it, or relayed to the owner's
// instance of the same service. Peer handles are looked up once through the peer's cluster
// endpoint and cached until they go down (`forget`); callers asking while a lookup is under
// way wait behind it, so what one node sends to one peer keeps its order. Every wait is
// bounded by the timeout the caller passes.
//
// Usage, inside a stateful actor whose state holds `owner_router<Self> router{atom}`:
//
//   st.router.bind(node_name, endpoint, members);
//   st.router.route(self, key, timeout,
//                   [=] { /* this node owns key (or no member is up) */ },
//                   [=](const caf::actor& owner_service, const std::string& owner) { ... },
//                   [=](const caf::error& err, const std::string& owner) { ... });
//   self->set_down_handler([=](caf::down_msg& dm) { self->state.router.forget(dm.source); });

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/cluster/membership.hpp"
#include "runtime/cluster/peer_directory.hpp"
#include "runtime/cluster/placement.hpp"

namespace sv::cluster {

/// Which members a service's keys are placed on.
enum class placement_scope {
  cluster, ///< every up member
  /// The up members of this node's region (node.region): each region holds its own copy of
  /// the service's keys, and a key's owner is never across the WAN. A node without a
  /// region places over every up member, as with `cluster`.
  region,
};

template <class Self>
class owner_router {
public:
  using members_fn = std::function<std::vector<member>()>;
  using here_fn = std::function<void()>;
  using there_fn = std::function<void(const caf::actor& service, const std::string& owner)>;
  using unreachable_fn = std::function<void(const caf::error& why, const std::string& owner)>;

  /// `service`: the name the peers' endpoints know this service by.
  explicit owner_router(caf::atom_value service) : peers_(service) {}

  /// Where this router lives: this node's name, its cluster endpoint and its member view,
  /// and the members its keys are placed on.
  void bind(std::string self_name, caf::actor endpoint, members_fn members,
            placement_scope scope = placement_scope::cluster) {
    self_ = std::move(self_name);
    endpoint_ = std::move(endpoint);
    members_ = std::move(members);
    scope_ = scope;
  }

  const std::string& self_name() const noexcept {
    return self_;
  }

  const caf::actor& endpoint() const noexcept {
    return endpoint_;
  }

  /// The member list as the membership sees it now (empty before `bind`).
  std::vector<member> members() const {
    return members_ ? members_() : std::vector<member>{};
  }

  /// The names of the members that are up, sorted, in every region (whom a change must
  /// reach: an invalidation, a broadcast).
  std::vector<std::string> up() const {
    return up_names(members());
  }

  /// The members keys are placed on now, sorted: up() for the cluster scope; for the
  /// region scope, the up members of this node's region (read from the member list). A
  /// caller that decides many keys at once reads this once and passes it to
  /// `owner`/`owners`.
  std::vector<std::string> placement() const {
    auto ms = members();
    if (scope_ == placement_scope::region) {
      for (auto& m : ms) {
        if (m.name == self_) {
          return up_names_in(ms, m.region);
        }
      }
    }
    return up_names(ms);
  }

  /// The owner of `key` among `up` ("" when `up` is empty).
  static std::string owner(std::string_view key, const std::vector<std::string>& up) {
    return owner_of(key, up);
  }

  /// The owner of `key` among the up members of `region`, for a request about another
  /// region's keys (a service placed per region); placement()'s owner when that region has
  /// no member up or `region` is empty.
  std::string owner_in(std::string_view key, const std::string& region) const {
    if (!region.empty()) {
      if (auto in = up_names_in(members(), region); !in.empty()) {
        return owner_of(key, in);
      }
    }
    return owner(key);
  }

  /// The owner of `key` among the members it is placed on now (placement()).
  std::string owner(std::string_view key) const {
    return owner_of(key, placement());
  }

  /// The `n` best-placed members for `key` among `up`, owner first (for replicas).
  static std::vector<std::string> owners(std::string_view key, const std::vector<std::string>& up,
                                         size_t n) {
    return owners_of(key, up, n);
  }

  /// True when a request for a key `owner` owns is handled here: this node is the owner,
  /// or no member is up (a node alone, or before the first view) and nobody else could be.
  bool is_local(const std::string& owner) const noexcept {
    return owner.empty() || owner == self_;
  }

  /// True when this node owns `key` now.
  bool owns(std::string_view key) const {
    return is_local(owner(key));
  }

  /// Handles a request for `key`: `here()` when this node owns it; else `there(handle,
  /// owner)` with the owner's instance of the service, or `unreachable(why, owner)` when the
  /// owner is not connected or its service cannot be looked up within `wait`. What the
  /// caller does on `unreachable` (fail, retry later, serve a local copy) is its policy.
  void route(Self* self, std::string_view key, std::chrono::milliseconds wait, here_fn here,
             there_fn there, unreachable_fn unreachable) {
    relay(self, owner(key), wait, std::move(here), std::move(there), std::move(unreachable));
  }

  /// `route` for an owner the caller already decided (e.g. from one `up()` for many keys).
  void relay(Self* self, const std::string& owner, std::chrono::milliseconds wait, here_fn here,
             there_fn there, unreachable_fn unreachable) {
    if (is_local(owner)) {
      here();
      return;
    }
    peers_.with(
        self, endpoint_, owner, wait, [there, owner](const caf::actor& svc) { there(svc, owner); },
        [unreachable, owner](const caf::error& err) { unreachable(err, owner); });
  }

  /// Calls `then(handle)` with member `name`'s instance of the service, or `failed(why)`;
  /// in call order per member. The lookup takes at most `wait`; with a `connect_wait`, a
  /// member that is up but not connected yet is waited for that long first
  /// (peer_directory::with).
  void with_peer(Self* self, const std::string& name, std::chrono::milliseconds wait,
                 std::function<void(const caf::actor&)> then,
                 std::function<void(const caf::error&)> failed,
                 std::chrono::milliseconds connect_wait = std::chrono::milliseconds{0}) {
    peers_.with(self, endpoint_, name, wait, std::move(then), std::move(failed), connect_wait);
  }

  /// Drops the cached handle of an actor that went down; true when it was a peer's.
  bool forget(const caf::actor_addr& a) {
    return peers_.forget(a);
  }

private:
  std::string self_;
  caf::actor endpoint_;
  members_fn members_;
  placement_scope scope_ = placement_scope::cluster;
  peer_directory<Self> peers_;
};

} // namespace sv::cluster
