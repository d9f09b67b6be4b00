#pragma once

// Viewer sessions for processes outside the cluster (edge and API servers, load drivers):
// a node's session gateways take batches of opens, heartbeats and commands over CAF's
// network transport (session_protocol.hpp) and hand them to the node's session hosts,
// each item through the same flow gate as local calls. Clients use session::edge_client
// (edge_client.hpp), which batches per node and keeps each session on its node.
//
//   // on the node (streamverse-node does this)
//   sv::session::service sessions{node};
//   sv::session::gateway gw{node, sessions, verifier};
//
// Per batch: the opens are verified in one request to the verifier (if any), every item
// is admitted by the gate for its session host and class (critical first; a refusal is
// that item's answer, `overloaded` with the retry hint), the admitted ones go to their
// hosts as one message per host and class, and one answer returns with every item's
// result. Items not taken up by their host within the batch's budget (minus a tenth for
// the way back) are answered `overloaded` and never applied. Sessions live on the node
// whose gateway opened them.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "actors/session/session_protocol.hpp"
#include "caf/actor.hpp"
#include "caf/expected.hpp"
#include "caf/fwd.hpp"

namespace sv {
class node;
} // namespace sv

namespace sv::session {

class service;

/// Registers the session request types for the network (on the nodes and in clients).
void register_message_types(caf::actor_system_config& cfg);

/// The gateways of a node; keep them alive as long as `sessions`. With a `verifier`
/// (media::media_service::verifier()), every open is checked by it first.
class gateway {
public:
  /// `count`: gateway actors (0: the node's sessions.gateways).
  gateway(node& n, service& sessions, caf::actor verifier = {}, size_t count = 0);
  ~gateway();
  gateway(const gateway&) = delete;
  gateway& operator=(const gateway&) = delete;

  /// The first gateway (registered as the node's session gateway service).
  caf::actor handle() const;

  /// All of them.
  const std::vector<gateway_actor>& handles() const noexcept {
    return actors_;
  }

private:
  caf::actor_system& sys_;
  std::vector<gateway_actor> actors_;
};

/// The first gateway of the node whose cluster endpoint is host:port; ask it for all of
/// them with `(get_atom, gateways_atom)`.
caf::expected<gateway_actor> connect_gateway(caf::actor_system& sys, const std::string& host,
                                             uint16_t port, std::chrono::milliseconds timeout);

} // namespace sv::session
