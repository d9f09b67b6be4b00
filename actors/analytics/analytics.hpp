#pragma once

// Analytics on a node (design §7): the node's batcher and the analytics partitions it owns.
//
//   sv::analytics::analytics a{node};       // after node.start(); every node runs one
//   a.emit(event);                           // from any thread: accepted, or overloaded
//   auto w = a.window("premiere-1", "eu-west", std::chrono::seconds{10});
//
// emit() checks the event's partition (hash of its content id mod analytics.partitions,
// placed by rendezvous hashing over the up members) and hands it to the node's batcher,
// which groups events per partition and sends numbered batches (producer id + sequence)
// when a batch is full or has waited analytics.linger_ms; both double with each degrader
// level. A batch is sent again every analytics.resend_ms until its partition acknowledges
// it; the partition stores it once (history_store) and acknowledges only when it is
// durable. While analytics.max_pending events await acknowledgement, emit() refuses with
// sv::errc::overloaded (counted): backpressure, never a silent drop.
//
// Each partition also keeps the real-time windows (realtime.hpp), sampling heartbeats at L2
// and above. Its history is DATA_DIR/analytics/partition-N.db. When a partition moves (its
// owner left or came back), the node that owns it takes over every batch other nodes hold
// of it and they delete theirs: each batch ends up stored once, at the owner, also when an
// acknowledgement was lost and the batch was stored again elsewhere.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "actors/analytics/analytics_protocol.hpp"
#include "actors/analytics/events.hpp"
#include "actors/analytics/realtime.hpp"
#include "actors/session/session_host.hpp"
#include "caf/actor.hpp"
#include "caf/expected.hpp"
#include "caf/fwd.hpp"
#include "caf/message.hpp"

namespace sv {
class node;
} // namespace sv

namespace sv::analytics {

/// Registers the analytics messages (pass it to sv::node on every node).
void register_message_types(caf::actor_system_config& cfg);

/// Counters of one node's analytics (also exported as metrics).
struct analytics_stats {
  uint64_t emitted = 0;    ///< accepted by emit()
  uint64_t overloaded = 0; ///< refused by emit() (max_pending reached)
  uint64_t batches_sent = 0;
  uint64_t resends = 0;
  uint64_t acked_events = 0; ///< events whose batch a partition acknowledged
  uint64_t pending = 0;      ///< accepted, not yet acknowledged
  // At the partitions on this node:
  uint64_t stored = 0;
  uint64_t refused = 0;           ///< bad events (never stored)
  uint64_t duplicate_batches = 0; ///< resends of batches stored before
  uint64_t handed_off = 0;        ///< batches given to their partition's owner (and deleted here)
  uint64_t adopted = 0;           ///< batches taken over from other nodes, new to this node
  uint64_t sent_home = 0; ///< batches held for another region, handed to its partition owner
};

struct analytics_shared;

/// One minute of a title's history from one viewer region (the events' region), added up
/// over the stores asked.
struct history_minute {
  int64_t minute_ms = 0;
  std::string region;
  uint64_t views = 0; ///< starts
  uint64_t watch_ms = 0;
  uint64_t rebuffer_ms = 0;
  uint64_t errors = 0;
  uint64_t events = 0;
  uint32_t startup_p50_ms = 0; ///< the histogram bucket's upper bound; 0 without starts
  uint32_t startup_p95_ms = 0;
};

/// A region asked for a history: its partition owner, and the error when it did not answer.
struct history_source {
  std::string region;
  std::string node;
  std::string error; ///< "" when it answered
};

struct history_result {
  std::vector<history_minute> minutes; ///< by minute, then region
  std::vector<history_source> sources;
};

/// The region of a history query that asks every region with a node up.
inline const std::string all_regions = "*";

/// From outside the cluster (streamverse-ctl): `content`'s history through the node at
/// host:port (as analytics::history).
caf::expected<history_result> remote_history(caf::actor_system& sys, const std::string& host,
                                             uint16_t port, const std::string& content,
                                             const std::string& region, int64_t from_ms,
                                             int64_t to_ms, std::chrono::milliseconds timeout);

/// From outside the cluster (streamverse-ctl): the real-time window of `content` in
/// `region` through the analytics service of the node at host:port.
caf::expected<window_stats> remote_window(caf::actor_system& sys, const std::string& host,
                                          uint16_t port, const std::string& content,
                                          const std::string& region, std::chrono::seconds w,
                                          std::chrono::milliseconds timeout);

class analytics {
public:
  explicit analytics(node& n);
  ~analytics();
  analytics(const analytics&) = delete;
  analytics& operator=(const analytics&) = delete;

  /// Hands `e` to the batcher. Errors: overloaded (too many unacknowledged events).
  caf::expected<void> emit(viewer_event e);

  /// Hands all of `es` to the batcher in one message (for producers with many events at
  /// hand, such as a session host): all accepted, or none (overloaded).
  caf::expected<void> emit_many(std::vector<viewer_event> es);

  /// Hands a block of session events (as a session host makes them) to the batcher in
  /// one message: all accepted, or none (overloaded, counted).
  caf::expected<void> emit_block(session::session_event_block&& block);

  /// For the node's session hosts (`host_settings.outputs.events`): their blocks of
  /// opens, heartbeats, quality changes and closes go to the batcher as they are (one
  /// message per block, no per-event allocation), become EventBlocks per partition
  /// there, and are stored once each. While `analytics.max_pending` events await
  /// acknowledgement a block is refused whole and counted (overloaded): analytics is bulk
  /// work, playback does not wait for it. Keep this object alive as long as the hosts.
  std::function<void(session::session_event_block&&)> session_events();

  /// The real-time window of `content` in `region` from its partition (with regions: at
  /// the partition's owner among that region's nodes, where its events are stored).
  caf::expected<window_stats> window(const std::string& content, const std::string& region,
                                     std::chrono::seconds w);

  /// The window of `content` in every region that has a node up, asked of all regions at
  /// once: each region's answer, or its error (a region cut off answers request_timeout
  /// or unavailable), so the caller sees which regions answered. Empty when the nodes have
  /// no regions (`node.region`): ask `window` for the viewers' regions instead.
  std::map<std::string, caf::expected<window_stats>> windows(const std::string& content,
                                                             std::chrono::seconds w);

  /// The per-minute history of `content` over the minutes [from_ms, to_ms), from the
  /// rollups of its partition: as `region`'s nodes stored it (at the partition's owner
  /// there; "" this node's region), or with `all_regions` as every region with a node up
  /// stored it, asked at once and added up, `sources` saying which regions answered. A
  /// batch still on its way to the partition's owner (a handoff under way) is not counted
  /// yet. Errors: invalid_argument (no content, an empty range).
  caf::expected<history_result> history(const std::string& content, const std::string& region,
                                        int64_t from_ms, int64_t to_ms);

  /// Sends every open batch now and waits until every accepted event is acknowledged (or
  /// `timeout`). True when nothing is pending.
  bool drain(std::chrono::milliseconds timeout);

  /// For a graceful leave, after node::leave(): sends what is open (drain), then waits until
  /// the nodes that now own this node's partitions (in its region) took over every batch it
  /// holds of them, or `timeout`; at once when no other node of its region is up. True when
  /// this node holds none any more.
  bool hand_over(std::chrono::milliseconds timeout);

  analytics_stats stats();

  /// The service actor (its interface: analytics_protocol.hpp).
  const analytics_actor& handle() const noexcept {
    return service_;
  }

private:
  caf::actor_system& sys_;
  std::function<std::vector<std::string>()> regions_; // of the up members, sorted
  std::shared_ptr<analytics_shared> shared_;
  analytics_actor service_;
  caf::actor batcher_; // detached, known only on this node
};

} // namespace sv::analytics
