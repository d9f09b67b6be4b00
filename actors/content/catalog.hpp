#pragma once

// The content catalog of one node (design §5): a replica of every title's metadata,
// persisted in the node's data directory, and the owner role for the titles that
// rendezvous hashing places on this node.
//
//   sv::content::catalog catalog{node};          // after node.start()
//   auto v = catalog.update(m);                  // from any node: goes to the owner
//   auto m = catalog.get("title-1");             // this node's replica
//
// An update goes to the content's owner (the up member with the highest rendezvous weight
// for its id), which validates it and runs the title's consensus (consensus.hpp) with the
// replicas: a majority of the voters promise its ballot and report their version; the
// owner checks the expected version, assigns the next one, and a majority store it durably
// before the update is answered. Each replica applies only versions that supersede its own
// and raises the fence of the title's cached views; anti-entropy repairs what it missed.
// Without a majority of the voters reachable (the minority side of a partition) an update
// is refused as unavailable and nothing changes.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "actors/content/metadata.hpp"
#include "caf/actor.hpp"
#include "caf/atom.hpp"
#include "caf/expected.hpp"
#include "caf/replies_to.hpp"
#include "caf/typed_actor.hpp"
#include "runtime/wire/protobuf.hpp" // makes the protobuf messages CAF message types

namespace sv {
class node;
} // namespace sv

namespace sv::content {

/// `(watch_atom, caf::actor w)` to a catalog (local or remote): from then on `w` gets a
/// MetadataChanged (owner field: the node that stored it) for every version the replica
/// stores, until `w` terminates. Answers ok_atom.
using watch_atom = caf::atom_constant<caf::atom("sv_watch")>;

/// Messages of the catalog's protocol (protobuf, content.proto).
using update_msg = streamverse::v1::MetadataUpdate;
using changed_msg = streamverse::v1::MetadataChanged;
using digest_msg = streamverse::v1::CatalogDigest;
using entries_msg = streamverse::v1::CatalogEntries;
using prepare_msg = streamverse::v1::CatalogPrepare;
using promise_msg = streamverse::v1::CatalogPromise;
using accept_msg = streamverse::v1::CatalogAccept;
using accepted_msg = streamverse::v1::CatalogAccepted;

/// `(view_atom, id)`: the cached rendered view (JSON) of a title.
using view_atom = caf::atom_constant<caf::atom("sv_view")>;
/// `(size_atom)`: titles in the replica.
using size_atom = caf::atom_constant<caf::atom("sv_size")>;
/// `(stats_atom)`: catalog_stats as five numbers, in its field order.
using stats_atom = caf::atom_constant<caf::atom("sv_stats")>;
/// `(fetch_atom, id)` between replicas: the replica's stored version of a title.
using fetch_atom = caf::atom_constant<caf::atom("sv_fetch")>;

/// The catalog actor's interface: what host code and the other nodes' catalogs send it.
/// Errors travel as CAF errors (sv::errc: not_found, invalid_argument, version_conflict,
/// unavailable).
using catalog_actor = caf::typed_actor<
    // host code and any node
    caf::replies_to<update_msg>::with<uint64_t>,                 // -> the version assigned
    caf::replies_to<caf::get_atom, std::string>::with<metadata>, // this replica's version
    caf::replies_to<view_atom, std::string>::with<std::string>,
    caf::replies_to<size_atom>::with<uint64_t>,
    caf::replies_to<stats_atom>::with<std::vector<uint64_t>>,
    caf::replies_to<watch_atom, caf::actor>::with<caf::ok_atom>,
    // between replicas: a stored version, consensus phases, anti-entropy
    caf::replies_to<changed_msg>::with<caf::ok_atom>,
    caf::replies_to<prepare_msg>::with<promise_msg>,
    caf::replies_to<accept_msg>::with<accepted_msg>,
    caf::replies_to<fetch_atom, std::string>::with<changed_msg>,
    caf::replies_to<digest_msg>::with<entries_msg>, caf::reacts_to<caf::ok_atom>>;

/// Counters of one catalog (also exported as metrics).
struct catalog_stats {
  uint64_t updates_accepted = 0; ///< versions this node assigned as owner
  uint64_t updates_refused = 0;  ///< invalid or version conflicts, as owner
  uint64_t changes_applied = 0;  ///< newer versions stored by the replica
  uint64_t changes_stale = 0;    ///< versions the replica already had
  uint64_t forwarded = 0;        ///< updates sent on to their owner
};

class catalog {
public:
  /// Spawns the catalog actor of `n` (started) and registers it as the cluster service
  /// "sv_catalog". Loads `n`'s data_dir/catalog.db, so a restarted node serves its last
  /// state at once. Throws std::runtime_error when the store cannot be opened.
  /// `repair_interval`: how often it runs anti-entropy with every connected peer.
  explicit catalog(node& n, std::chrono::milliseconds timeout = std::chrono::seconds{5},
                   std::chrono::milliseconds repair_interval = std::chrono::seconds{1});
  ~catalog();
  catalog(const catalog&) = delete;
  catalog& operator=(const catalog&) = delete;

  /// Sends an update to the owner of `m.id()` and waits for the version it assigned.
  /// `expected_version` 0 skips the check. Errors: invalid_argument (with the reason),
  /// version_conflict, unavailable (owner unreachable, or no majority of the voters),
  /// request_timeout.
  caf::expected<uint64_t> update(metadata m, uint64_t expected_version = 0,
                                 std::string origin = "host");

  /// This node's replica of `id`. A title the replica lacks (the node joined and has not
  /// caught up) is read through from other replicas: not_found when every one asked said
  /// so, unavailable when one of them could not be asked in time.
  caf::expected<metadata> get(const std::string& id);

  /// The cached rendered view (JSON) of `id`, filled from the replica on a miss.
  caf::expected<std::string> view(const std::string& id);

  catalog_stats stats();

  /// Titles in this node's replica.
  size_t size();

  /// The catalog actor (for actors that send MetadataUpdate or get requests directly).
  const catalog_actor& handle() const noexcept {
    return actor_;
  }

private:
  caf::actor_system& sys_;
  std::chrono::milliseconds timeout_;
  catalog_actor actor_;
};

} // namespace sv::content
