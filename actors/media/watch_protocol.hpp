#pragma once

// The watch-state service's interface (playback positions, watch_state.hpp): what host
// code, the node's session hosts and the other nodes' watch services send a node's
// service (registered as the cluster service "sv_wstate"), as a typed actor, and how to
// reach one from outside the node.
//
//   auto svc = sv::media::connect_watch_state(sys, "10.0.0.5", 7400, 2s);
//   sv::media::watch_query_msg q;
//   q.set_user("u-1");
//   q.set_content("premiere-1");
//   auto p = sv::ask<sv::media::watch_position_msg>(sys, *svc, 3s, q);   // position_ms()
//
// A payload that does not decode is answered undecodable_payload.

#include <chrono>
#include <cstdint>
#include <string>

#include "actors/media/watch.pb.h"
#include "actors/session/session_host.hpp"
#include "caf/atom.hpp"
#include "caf/expected.hpp"
#include "caf/fwd.hpp"
#include "caf/replies_to.hpp"
#include "caf/typed_actor.hpp"
#include "runtime/wire/protobuf.hpp" // makes the protobuf messages CAF message types

namespace sv::media {

/// Messages of the watch-state protocol (protobuf, watch.proto).
using watch_position_msg = streamverse::v1::WatchPosition;
using watch_batch_msg = streamverse::v1::WatchBatch;
using watch_query_msg = streamverse::v1::WatchQuery;

/// `(watch_sync_atom, true)`: send what is coalesced here to the owners now; answers ok.
using watch_sync_atom = caf::atom_constant<caf::atom("sv_wsync")>;
/// `(watch_local_atom, query)` between services: the receiver's stored entry only.
using watch_local_atom = caf::atom_constant<caf::atom("sv_wlocal")>;

/// The watch-state service's interface.
using watch_actor = caf::typed_actor<
    // host code and the session hosts on this node
    caf::reacts_to<watch_position_msg>,      // a position a player reported
    caf::reacts_to<session::position_block>, // the hosts' checkpoints (local only)
    // a host's closing positions (local only): ok once stored at each user's holders
    caf::replies_to<session::positions_durable_atom, session::position_block>::with<caf::ok_atom>,
    caf::replies_to<watch_query_msg>::with<watch_position_msg>, // owner's or replica's, newer
    caf::replies_to<watch_sync_atom, bool>::with<caf::ok_atom>,
    // between the nodes' services
    // positions for users the receiver owns, or replicas; ok once stored
    caf::replies_to<watch_batch_msg>::with<caf::ok_atom>,
    caf::replies_to<watch_local_atom, watch_query_msg>::with<watch_position_msg>>;

/// The watch-state service of the node whose cluster endpoint is host:port. `sys` needs
/// the middleman and the runtime's and the watch-state message types.
caf::expected<watch_actor> connect_watch_state(caf::actor_system& sys, const std::string& host,
                                               uint16_t port, std::chrono::milliseconds timeout);

} // namespace sv::media
