#pragma once

// Playback-state sync (design §8): where each user stopped in each title, so that a viewer
// who stops on one device resumes at that position on any other, through any node.
//
//   sv::media::watch_state watch{node};              // every node runs one
//   watch.record("u-1", "premiere-1", 754'000, event_ms, "tv");   // or session_positions()
//   auto p = watch.position("u-1", "premiere-1");    // from any node: p->position_ms
//
// Each user has an owner and a replica (key "watch-<user>"): the owner is placed by
// rendezvous among the up members of the user's home region (the region the session's open
// named; the recording node's when none), the replica among those of another region
// (cluster::holders_across_regions), so losing a whole region loses no position older than
// one sync interval. While the home region has no member up, the replica's region owns
// the user. Without regions, the owner and the replica are the two best-placed up members.
// Records are coalesced on the node where they happen (the latest per user and title) and
// sent to the owner once per sync interval, as bulk work that never competes with playback; the
// owner stores them (SQLite, DATA_DIR/watch_state.db) and sends what changed to the
// replica once per interval. So a node loss loses at most the last interval of
// checkpoints; a close's last position is held by both holders before the close is
// answered (durable_positions()). Concurrent writers (two devices) resolve by event time, then
// device name: the same answer on every node whatever the order of arrival.
//
// Reads stay in the user's home region once the membership has settled: a read asks the owner
// and the next best-placed members of the home region, not the replica in another region. While
// the reading node's view of the up members changed less than `read_settle` ago (a node or a
// region joined, left, was cut off or came back), a read also asks the replica and takes the
// newer answer, because a returning owner may lack what was written while it was away. Within
// a region, a read asks the region's best-placed members, so owners of the past are found.
// Across regions, each node, when a region's last member went down or its first came up,
// sends every position it stores whose owner is now in another region to that owner (which
// keeps the newer and passes it on to its replica: a rebalance, in rounds, behind playback);
// and while its own view is unsettled, a node passes on what it is sent as owner when the
// owner in its view is in another region (a sender whose view lags). `read_settle` must
// exceed the time a member-list change takes to reach every node plus the largest store's
// rebalance: the code does not check that the other nodes are done (docs/architecture.md,
// Playback positions).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "actors/media/watch_protocol.hpp"
#include "actors/media/watch_store.hpp"
#include "actors/session/session_host.hpp"
#include "caf/actor.hpp"
#include "caf/expected.hpp"
#include "caf/fwd.hpp"
#include "runtime/node/detached_children.hpp"

namespace sv {
class node;
} // namespace sv

namespace sv::config {
struct node_settings;
} // namespace sv::config

namespace sv::media {

struct watch_settings {
  std::chrono::milliseconds sync_interval{1000};
  /// Reads stay in the home region once the view has not changed for this long (0: never).
  std::chrono::milliseconds read_settle{10'000};
};

/// sync_interval and read_settle from a node's config ([watch]).
watch_settings watch_settings_from(const config::node_settings& cfg);

/// Registers the watch_state messages (pass it to sv::node on every node).
void register_watch_types(caf::actor_system_config& cfg);

class watch_state {
public:
  explicit watch_state(node& n, watch_settings s = {});
  ~watch_state();
  watch_state(const watch_state&) = delete;
  watch_state& operator=(const watch_state&) = delete;

  /// A position the player reported at `event_ms` (wall clock). Non-blocking; sent to the
  /// user's owner with the next sync.
  /// `region`: the user's home region (empty: this node's).
  void record(const std::string& user, const std::string& content, int64_t position_ms,
              int64_t event_ms, const std::string& device, const std::string& region = {});

  /// Where `user` (whose home region is `region`; empty: this node's) stopped in `content`
  /// (position 0 and event_ms 0: never watched).
  caf::expected<watch_entry> position(const std::string& user, const std::string& content,
                                      const std::string& region = {});

  /// For `host_settings.outputs.positions`: the hosts' position checkpoints (at most one
  /// per session every watch.checkpoint_ms, and at pause, seek and close) reach this
  /// service as blocks, one message each.
  std::function<void(session::position_block&&)> session_positions();

  /// For `host_settings.outputs.durable_positions`: closes are acknowledged once their
  /// positions are held by the users' owner and replica (queued for their stores).
  caf::actor durable_positions() const;

  /// Sends what is coalesced now (tests; a graceful stop does it too).
  void sync();

  /// For a graceful leave, after node::leave(): every position stored here is sent to its
  /// users' holders in the view without this node (read from the store; they keep the
  /// newer). How many, or the error.
  caf::expected<uint64_t> hand_over(std::chrono::milliseconds timeout);

  /// The service actor (its interface: watch_protocol.hpp).
  const watch_actor& handle() const noexcept {
    return actor_;
  }

private:
  caf::actor_system& sys_;
  std::shared_ptr<detached_children> children_ = std::make_shared<detached_children>();
  watch_actor actor_;
};

} // namespace sv::media
