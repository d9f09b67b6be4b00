#pragma once

// Talking to a running node's cluster endpoint from outside the cluster (streamverse-ctl,
// tests): connect with a deadline, ask, get the answer or a clear error.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "caf/actor_cast.hpp"
#include "caf/atom.hpp"
#include "caf/expected.hpp"
#include "caf/fwd.hpp"
#include "runtime/cluster/endpoint_protocol.hpp"
#include "runtime/cluster/membership.hpp"

namespace sv::cluster {

/// Prepares the actor system of a process that talks to nodes from outside the cluster (a
/// tool, an edge server, a load driver, a host application without a node of its own):
/// loads CAF's middleman, registers the wire types, and has CAF send a heartbeat on every
/// connection every `heartbeat`. A node closes a connection it has heard nothing on for its
/// cluster.connection_timeout_ms (3 s by default), and CAF 0.17 then drops whatever is
/// sent to that node's actors through handles looked up before, without an error (the
/// requests time out): a client that can be idle for longer must keep its connections
/// alive, with `heartbeat` well below the nodes' connection timeout.
void configure_client(caf::actor_system_config& cfg,
                      std::chrono::milliseconds heartbeat = std::chrono::milliseconds{500});

/// The actor published at host:port (any actor, dynamically typed), reached within
/// `timeout`; the primitive under connect_endpoint().
caf::expected<caf::actor> connect_published(caf::actor_system& sys, const std::string& host,
                                            uint16_t port, std::chrono::milliseconds timeout);

/// The cluster endpoint published at host:port, reached within `timeout` (CAF's own
/// remote_actor() has no deadline). `sys` must have the middleman loaded and the wire
/// types registered (wire::register_message_types); when it also loaded caf_openssl's
/// manager, the connection is mutual TLS.
caf::expected<endpoint_actor> connect_endpoint(caf::actor_system& sys, const std::string& host,
                                               uint16_t port, std::chrono::milliseconds timeout);

/// The actor registered as `service` on the node at host:port (register_service), or
/// errc::not_found.
caf::expected<caf::actor> lookup_service(caf::actor_system& sys, const std::string& host,
                                         uint16_t port, caf::atom_value service,
                                         std::chrono::milliseconds timeout);

/// lookup_service() with the service's typed interface, for its connect function:
///   return cluster::lookup_service_as<cache_actor>(sys, host, port, atom("sv_cache"), t);
template <class Handle>
caf::expected<Handle> lookup_service_as(caf::actor_system& sys, const std::string& host,
                                        uint16_t port, caf::atom_value service,
                                        std::chrono::milliseconds timeout) {
  auto a = lookup_service(sys, host, port, service, timeout);
  if (!a) {
    return a.error();
  }
  return caf::actor_cast<Handle>(std::move(*a));
}

/// The member list of the node at host:port, as that node sees it (the node first).
caf::expected<std::vector<member>> fetch_members(caf::actor_system& sys, const std::string& host,
                                                 uint16_t port, std::chrono::milliseconds timeout);

} // namespace sv::cluster
