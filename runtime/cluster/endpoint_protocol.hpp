#pragma once

// The cluster endpoint's interface: what other nodes' endpoints, tools and the node's own
// services send the actor a node publishes on its cluster port (endpoint.hpp), as a typed
// actor. Reach one with connect_endpoint() (client.hpp).
//
//   auto ep = sv::cluster::connect_endpoint(sys, "10.0.0.5", 7400, 2s);
//   auto svc = sv::ask<caf::actor>(sys, *ep, 2s, sv::cluster::lookup_atom::value,
//                                  caf::atom("sv_cache"));
//
// A payload that does not decode is answered undecodable_payload.

#include <string>
#include <vector>

#include "caf/actor.hpp"
#include "caf/atom.hpp"
#include "caf/replies_to.hpp"
#include "caf/typed_actor.hpp"
#include "runtime/cluster/cluster.pb.h"
#include "runtime/wire/protobuf.hpp" // makes the protobuf messages CAF message types

namespace sv::cluster {

/// Messages of the cluster protocol (protobuf, cluster.proto).
using hello_msg = streamverse::v1::Hello;
using gossip_msg = streamverse::v1::Gossip;
using members_request = streamverse::v1::MembersRequest;

/// `(lookup_atom, atom_value service)` to a node's endpoint, from any node: the actor
/// registered there as `service` (register_service), or errc::not_found.
using lookup_atom = caf::atom_constant<caf::atom("sv_lookup")>;
/// `(peers_atom)` to the local endpoint: the connected peers as two vectors, names and
/// their endpoints.
using peers_atom = caf::atom_constant<caf::atom("sv_peers")>;
/// `(peer_atom, name, wait_ms)` to the local endpoint: peer `name`'s endpoint, once this
/// node is connected to it. A member that gossip reports up (or joining) but that is not
/// connected yet (it joined a moment ago and a dial is under way) is waited for, at most
/// `wait_ms`; anyone else (not a member, suspect, down, leaving, this node), or a member
/// still not connected when the wait ends: errc::unavailable.
using peer_atom = caf::atom_constant<caf::atom("sv_peer")>;
/// `(leave_atom)` to the local endpoint: gossip this node's graceful leave (leave_cluster).
using leave_atom = caf::atom_constant<caf::atom("sv_leave")>;
/// `(start_atom, "host:port")` to the local endpoint (start_endpoint).
using start_atom = caf::atom_constant<caf::atom("sv_start")>;

/// The cluster endpoint's interface.
using endpoint_actor = caf::typed_actor<
    // other nodes' endpoints
    caf::replies_to<hello_msg>::with<hello_msg>, // a peer introduces itself; our Hello back
    caf::reacts_to<gossip_msg>,                  // a peer's member list
    // any client (streamverse-ctl members, lookups of a node's services)
    caf::replies_to<members_request>::with<gossip_msg>,
    caf::replies_to<lookup_atom, caf::atom_value>::with<caf::actor>,
    // this node
    caf::replies_to<peers_atom>::with<std::vector<std::string>, std::vector<caf::actor>>,
    caf::replies_to<peer_atom, std::string, uint64_t>::with<caf::actor>,
    caf::replies_to<leave_atom>::with<caf::ok_atom>, caf::reacts_to<start_atom, std::string>>;

} // namespace sv::cluster
