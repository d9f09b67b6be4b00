#pragma once

// Viewer sessions for processes outside the cluster (edge servers, load drivers): a node's
// session gateway takes open, heartbeat and command requests over CAF's network transport
// and hands them to the node's session service, through the same flow gate as local calls
// (a refusal is answered with `overloaded` and the retry hint; nothing is sent on). The
// session host answers the caller directly.
//
//   // on the node (streamverse-node does this)
//   sv::session::service sessions{node};
//   sv::session::gateway gw{node, sessions};
//
//   // in the client: connect once, then request with the session types
//   auto gw = sv::session::connect_gateway(sys, "127.0.0.1", 7101, 3s);
//   self->request(*gw, timeout, open_request{...}).then([](uint64_t id) {...}, ...);
//
// Sessions live on the node whose gateway opened them: a client keeps sending a session's
// requests to the same node (and opens it again elsewhere when that node is gone).

#include <chrono>
#include <cstdint>
#include <string>

#include "caf/actor.hpp"
#include "caf/atom.hpp"
#include "caf/expected.hpp"
#include "caf/fwd.hpp"

namespace sv {
class node;
} // namespace sv

namespace sv::session {

class service;

/// Registers the session request types for the network (on the nodes and in clients).
void register_message_types(caf::actor_system_config& cfg);

/// `(verify_atom, open_request)` to a verifier: `ok_atom` when the session may open, else
/// the reason as an error (e.g. errc::not_in_region; media::spawn_availability_verifier).
using verify_atom = caf::atom_constant<caf::atom("sv_verify")>;

/// The gateway on a node; keep it alive as long as `sessions`. With a `verifier`, every
/// open is checked by it first (a refused one-way open is dropped: use requests).
class gateway {
public:
  gateway(node& n, service& sessions, caf::actor verifier = {});
  ~gateway();
  gateway(const gateway&) = delete;
  gateway& operator=(const gateway&) = delete;

  const caf::actor& handle() const noexcept {
    return actor_;
  }

private:
  caf::actor_system& sys_;
  caf::actor actor_;
};

/// The gateway of the node whose cluster endpoint is host:port. Requests it takes:
/// open_request -> uint64_t (the session id), heartbeat_report -> ok, command -> ok. A
/// one-way message (send, not request) is passed on the same way, without an answer.
caf::expected<caf::actor> connect_gateway(caf::actor_system& sys, const std::string& host,
                                          uint16_t port, std::chrono::milliseconds timeout);

} // namespace sv::session
