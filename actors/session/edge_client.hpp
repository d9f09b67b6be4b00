#pragma once

// The edge client: what an edge or API server (or a load driver, or streamverse-ctl) uses
// to speak to a cluster's session gateways for many viewers at once.
//
//   sv::session::edge_settings s;
//   s.nodes = {{"node-a", "127.0.0.1", 7101}, {"node-b", "127.0.0.1", 7102}};
//   sv::session::edge_client client{sys, s, [](std::vector<sv::session::edge_result>& rs) {
//     for (auto& r : rs) { /* r.cookie, r.error (none: ok), r.node, r.latency */ }
//   }};
//   client.open(request, cookie);          // from any thread; never blocks
//   client.heartbeat(report, cookie);
//   client.command(cmd, cookie);
//   auto err = client.heartbeat_sync(report);   // blocking form, for tools
//
// - Batching: items for one node are sent together, at `max_batch` items or after
//   `linger`, as one request (session_protocol.hpp) with one answer carrying each item's
//   result; the node's gateways take the batches in turn. Commands go in batches of their
//   own (a close is answered only once its last position is held by two nodes, and a
//   batch's answer waits for its slowest item), opens and heartbeats in the others.
// - Affinity: a session stays on the node that opened it; heartbeats and commands go
//   there. An open goes to the node asked for, else the next connected node in turn (of
//   the first region in `regions` that has one connected: a viewer's live state stays in
//   its region, and moves to the next region only while its own has no node up).
// - Every item gets exactly one result, by its deadline (`deadline` after the call): ok,
//   `overloaded` with a retry hint (refused by the node, or here: too many items in flight,
//   or the node refuses most of what it gets), the item's own error (`unknown_session`,
//   `not_in_region`, ...), or `unavailable` when its node cannot be reached (the node is
//   down or did not answer by the deadline). After `unavailable` for a session's node,
//   open the session again (same id): it goes to another node.
// - Retries: refused opens and commands are retried (never heartbeats: the next one comes
//   anyway) after the node's hint, while the deadline allows, at most `max_attempts`
//   times, and only while retries stay under `retry_ratio` of first attempts (a retry
//   budget): an overloaded cluster sees little more than its first-attempt load.
// - Local throttling: while a node accepts fewer than 1 in `throttle_k` items, the client
//   refuses the excess itself (each item with probability (requests - k * accepts) /
//   (requests + 1) over the last two seconds), so a node that sheds is not also flooded.
// - Connections: each node is connected in the background and again after it was lost
//   (backoff from `reconnect_backoff` up to 5 s).
//
// Results reach the sink in batches on the client's own thread, or on the calling thread
// for items refused at once: the sink must be thread-safe and must not call back into
// the client while holding a lock the caller holds. No per-item response handler exists
// anywhere on the way (one pending request per batch).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/session/session_types.hpp"
#include "caf/error.hpp"
#include "caf/expected.hpp"
#include "caf/fwd.hpp"

namespace sv::session {

struct edge_node {
  std::string name; ///< for messages and metrics
  std::string host;
  uint16_t port = 0;
  std::string region{}; ///< the node's node.region ("" when not known)
};

struct edge_settings {
  std::vector<edge_node> nodes;
  /// Where opens go, in order of preference: the client's own region first, then the
  /// regions to fail over to. An open goes to a connected node of the first region in the
  /// list that has one (in turn among them); nodes of regions not listed are never used.
  /// Empty: every node alike.
  std::vector<std::string> regions;
  /// Items per batch to one node.
  size_t max_batch = 256;
  /// The longest a partial batch waits for more items.
  std::chrono::microseconds linger{2000};
  /// Items accepted and not yet answered; more are refused at once (`overloaded`).
  size_t max_in_flight = 200'000;
  /// Every item is answered within this time from the call.
  std::chrono::milliseconds deadline{2000};
  std::chrono::milliseconds connect_timeout{2000};
  /// The first wait before connecting again to a lost node (doubling, at most 5 s).
  std::chrono::milliseconds reconnect_backoff{250};
  /// Retries of refused opens and commands, as a share of first attempts.
  double retry_ratio = 0.1;
  /// Attempts per item, the first included.
  uint32_t max_attempts = 3;
  /// Local throttling starts once a node accepts fewer than 1 in this many items (0: off).
  double throttle_k = 2.0;
};

enum class item_kind : uint8_t { open, heartbeat, command };

struct edge_result {
  /// The caller's, as given. The top bit is the client's own (its blocking calls): a
  /// caller's cookie with it set still comes back, unless it equals one of those calls'.
  uint64_t cookie = 0;
  uint64_t session_id = 0;
  item_kind kind = item_kind::heartbeat;
  /// The node (index in edge_settings::nodes) the item went to: for an open, where the
  /// session lives when it succeeded. -1 when no node was chosen.
  int32_t node = -1;
  caf::error error; ///< none: ok
  /// From the call to the result.
  std::chrono::nanoseconds latency{0};
};

/// Counters since the client started.
struct edge_stats {
  uint64_t accepted = 0;     ///< items taken by open/heartbeat/command
  uint64_t batches = 0;      ///< batches sent
  uint64_t ok = 0;           ///< items answered ok
  uint64_t overloaded = 0;   ///< items refused `overloaded` by a node
  uint64_t refused_here = 0; ///< refused at once here (in-flight bound, throttling)
  uint64_t unavailable = 0;  ///< items whose node was down or did not answer in time
  uint64_t other_errors = 0; ///< items answered with their own error
  uint64_t retries = 0;      ///< items sent again after a refusal
  uint64_t in_flight = 0;    ///< now
};

class edge_client {
public:
  using sink = std::function<void(std::vector<edge_result>&)>;

  /// Starts connecting to every node at once (in the background). `sys` needs the
  /// middleman and session::register_message_types (plus wire::register_message_types).
  edge_client(caf::actor_system& sys, edge_settings settings, sink on_results);
  /// Answers whatever is still pending with `unavailable` ("edge client stopped").
  ~edge_client();
  edge_client(const edge_client&) = delete;
  edge_client& operator=(const edge_client&) = delete;

  /// Waits until every node is connected or `timeout` passes; how many are.
  size_t wait_connected(std::chrono::milliseconds timeout);

  /// Opens a session, on node `node` when given and connected, else the next connected
  /// node in turn. Opening an id again (after its node was lost) moves it.
  void open(open_request r, uint64_t cookie, std::optional<uint32_t> node = std::nullopt);
  /// To the session's node as this client knows it, or to `node` when given (a session
  /// opened by another client: the caller knows where it lives).
  void heartbeat(heartbeat_report h, uint64_t cookie, std::optional<uint32_t> node = std::nullopt);
  void command(command c, uint64_t cookie, std::optional<uint32_t> node = std::nullopt);

  /// Blocking forms (at most the deadline): ok or the item's error.
  caf::error open_sync(open_request r, std::optional<uint32_t> node = std::nullopt);
  caf::error heartbeat_sync(heartbeat_report h, std::optional<uint32_t> node = std::nullopt);
  caf::error command_sync(const struct command& c, std::optional<uint32_t> node = std::nullopt);

  /// The node session `id` lives on, as far as this client knows.
  std::optional<uint32_t> node_of(uint64_t session_id) const;
  /// Whether node `i` is connected now.
  bool connected(uint32_t i) const;
  /// Forgets node `i`'s connection and connects again (e.g. it was restarted).
  void reconnect(uint32_t i);
  /// Node `i` is known to be up (an orchestrator started it): when not connected, try it
  /// now instead of at its backoff's next attempt (up to 5 s away for a node that was
  /// down long). Connected already: nothing changes.
  void node_up(uint32_t i);

  edge_stats stats() const;

  struct shared;

private:
  std::shared_ptr<shared> shared_;
};

} // namespace sv::session
