#pragma once

// The session protocol in one place: what an edge client sends a node's session gateways,
// what a gateway hands the session hosts, and both actors' typed interfaces.
//
//   edge client --edge_batch--> gateway (one of several per node)
//                                 | verifies the opens (one request per batch to the verifier)
//                                 | splits the items by session host, admits each through the
//                                 | flow gate (critical first), one host_work per host and class
//                                 v
//                               session host --(last part done)--> gateway --edge_answer--> client
//
// One request and one answer per batch, whatever it carries; the answer has one result per
// item, in the order of the batch (opens, then heartbeats, then commands). Every item gets
// its answer within the batch's budget: the gateway answers what the hosts have not started
// by then with `overloaded`, and a host never applies an item it took up after that (a
// host takes up a whole part atomically, so an item is either applied and answered ok or
// error by the host, or refused and not applied).

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "actors/session/session_types.hpp"
#include "caf/actor.hpp"
#include "caf/allowed_unsafe_message_type.hpp"
#include "caf/atom.hpp"
#include "caf/replies_to.hpp"
#include "caf/typed_actor.hpp"

namespace sv::session {

// -- between an edge client and a gateway (crosses the network) -----------------------------

/// What became of one item of a batch. `code` 0 is ok; anything else is a code of the
/// error category `category` (the runtime's `sv::errc` such as `overloaded` with
/// `retry_after_ms`, a session's `unknown_session`, media's `not_in_region`, ...) and
/// `detail` says why in words.
struct item_result {
  uint8_t code = 0;
  uint32_t retry_after_ms = 0;
  std::string detail;
  caf::atom_value category = caf::atom("sv");

  bool ok() const noexcept {
    return code == 0;
  }
};

/// Items for the sessions of one node, sent as one request. `budget_ms`: how long the
/// sender waits for the answer; the node answers within it (items it could not serve in
/// time are refused with `overloaded`).
struct edge_batch {
  uint32_t budget_ms = 2000;
  /// The sender's wall clock when it sent the batch (ms since the epoch; 0: unknown). A
  /// batch that took longer than the node's critical budget to reach its gateway (queued
  /// on the way: the node is behind) is refused whole, at once, instead of being worked
  /// on late. Clocks further apart than a minute are ignored.
  int64_t sent_at_ms = 0;
  std::vector<open_request> opens;
  std::vector<heartbeat_report> heartbeats;
  std::vector<command> commands;

  size_t size() const noexcept {
    return opens.size() + heartbeats.size() + commands.size();
  }
};

/// The answer to an edge_batch: `results[i]` for the i-th item, counting opens first, then
/// heartbeats, then commands.
struct edge_answer {
  std::vector<item_result> results;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, item_result& x) {
  return f(caf::meta::type_name("sv.session.item_result"), x.code, x.retry_after_ms, x.detail,
           x.category);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, edge_batch& x) {
  return f(caf::meta::type_name("sv.session.edge_batch"), x.budget_ms, x.sent_at_ms, x.opens,
           x.heartbeats, x.commands);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, edge_answer& x) {
  return f(caf::meta::type_name("sv.session.edge_answer"), x.results);
}

/// `(get_atom, gateways_atom)` -> `std::vector<caf::actor>`: every gateway of the node, so
/// that a client spreads its batches over them.
using gateways_atom = caf::atom_constant<caf::atom("sv_gws")>;

/// `(verify_atom, std::vector<open_request>)` to a verifier -> `std::vector<item_result>`,
/// one per open, in order: ok when the session may open, else the reason (e.g.
/// media::refusal::not_in_region; media::media_service's verifier).
using verify_atom = caf::atom_constant<caf::atom("sv_verify")>;

// -- between a gateway (or the host API) and a session host (local only) --------------------

/// Where the results of one batch's parts go. Each part (the items of one batch for one
/// session host and class) is taken up by its host or expired by the gateway, never both:
/// `claim` decides. The one who finishes the last part calls `complete` (on its own
/// thread).
class batch_join {
public:
  enum part_state : uint8_t { waiting = 0, taken = 1, expired = 2 };

  /// `items`: results to hold; `deadline_ns`: steady clock, items not taken up by then are
  /// refused; `max_parts`: the most parts add_part() will be asked for. The join starts
  /// with one hold (the dispatcher's), released by its finish().
  batch_join(size_t items, int64_t deadline_ns, size_t max_parts,
             std::function<void(batch_join&)> complete);

  /// A new part, before it is sent (by the dispatching thread only); its index for
  /// take()/expire(). Each part needs one finish().
  uint32_t add_part();
  /// One more finish() is needed before the join completes (e.g. while opens wait for
  /// their verifier).
  void hold() noexcept;
  /// The host takes part `p` up (true), unless it expired already.
  bool take(uint32_t p) noexcept;
  /// The gateway expires part `p` (true), unless its host has taken it up.
  bool expire(uint32_t p) noexcept;
  /// A part (or hold) is done, its results written: the last one completes the join.
  void finish() noexcept;

  std::vector<item_result>& results() noexcept {
    return results_;
  }
  int64_t deadline_ns() const noexcept {
    return deadline_ns_;
  }
  /// Parts added so far (dispatching thread only).
  uint32_t parts() const noexcept {
    return parts_;
  }

private:
  std::vector<item_result> results_;
  int64_t deadline_ns_;
  std::function<void(batch_join&)> complete_;
  // Fixed at construction: hosts read their part's state while others are added.
  std::unique_ptr<std::atomic<uint8_t>[]> states_;
  uint32_t max_parts_;
  uint32_t parts_ = 0;
  std::atomic<uint32_t> left_{1};
};

/// The items of a batch with the positions of their results in a batch_join (`*_at[i]`:
/// where the i-th item's result goes in `join->results()`).
struct batch_items {
  std::vector<open_request> opens;
  std::vector<uint32_t> opens_at;
  std::vector<heartbeat_report> heartbeats;
  std::vector<uint32_t> heartbeats_at;
  std::vector<command> commands;
  std::vector<uint32_t> commands_at;

  size_t size() const noexcept {
    return opens.size() + heartbeats.size() + commands.size();
  }

  /// Every result position, opens first.
  std::vector<uint32_t> slots() const {
    std::vector<uint32_t> out;
    out.reserve(size());
    out.insert(out.end(), opens_at.begin(), opens_at.end());
    out.insert(out.end(), heartbeats_at.begin(), heartbeats_at.end());
    out.insert(out.end(), commands_at.begin(), commands_at.end());
    return out;
  }
};

/// The items of one batch for one session host and one service class (critical parts are
/// sent in CAF's urgent queue), as part `part` of `join`. Never serialized: it holds a
/// pointer.
struct host_work : batch_items {
  std::shared_ptr<batch_join> join;
  uint32_t part = 0;
};

/// `(sessions_atom)` -> `uint64_t`: the open sessions of a host.
using sessions_atom = caf::atom_constant<caf::atom("sv_count")>;
/// A host's timers: idle sessions are swept; buffered events and positions handed on.
using sweep_atom = caf::atom_constant<caf::atom("sv_sweep")>;
using flush_atom = caf::atom_constant<caf::atom("sv_hflush")>;
/// `(positions_durable_atom, position_block)` from a host to the service that keeps
/// positions (host_outputs::durable_positions): answered `ok_atom` once every position
/// is held by its user's owner and replica (queued for their stores; by this node alone
/// while it sees no other member), else with why not.
using positions_durable_atom = caf::atom_constant<caf::atom("sv_posdur")>;

/// A session host (spawn_session_host). Single requests are answered as the request
/// types say (open: the session id); host_work writes into its join.
using host_actor =
    caf::typed_actor<caf::replies_to<open_request>::with<uint64_t>,
                     caf::replies_to<heartbeat_report>::with<caf::ok_atom>,
                     caf::replies_to<command>::with<caf::ok_atom>,
                     caf::replies_to<caf::get_atom, uint64_t>::with<session_info>,
                     caf::replies_to<sessions_atom>::with<uint64_t>, caf::reacts_to<host_work>,
                     caf::reacts_to<sweep_atom>, caf::reacts_to<flush_atom>>;

/// `(done_atom, batch id)`: the last part of a gateway's batch is done.
using done_atom = caf::atom_constant<caf::atom("sv_bdone")>;
/// `(expire_atom, batch id)`: a gateway's batch reached its deadline.
using expire_atom = caf::atom_constant<caf::atom("sv_bexpire")>;

/// A node's session gateway (session::gateway spawns several).
using gateway_actor =
    caf::typed_actor<caf::replies_to<edge_batch>::with<edge_answer>,
                     caf::replies_to<caf::get_atom, gateways_atom>::with<std::vector<caf::actor>>,
                     caf::reacts_to<done_atom, uint64_t>, caf::reacts_to<expire_atom, uint64_t>>;

} // namespace sv::session

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(sv::session::host_work)
