#pragma once

// Talking to a running node's cluster endpoint from outside the cluster (streamverse-ctl,
// tests): connect with a deadline, ask, get the answer or a clear error.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "caf/atom.hpp"
#include "caf/expected.hpp"
#include "caf/fwd.hpp"
#include "runtime/cluster/membership.hpp"

namespace sv::cluster {

/// The cluster endpoint published at host:port, reached within `timeout` (CAF's own
/// remote_actor() has no deadline). `sys` must have the middleman loaded and the wire
/// types registered (wire::register_message_types); when it also loaded caf_openssl's
/// manager, the connection is mutual TLS.
caf::expected<caf::actor> connect_endpoint(caf::actor_system& sys, const std::string& host,
                                           uint16_t port, std::chrono::milliseconds timeout);

/// The actor registered as `service` on the node at host:port (register_service), or
/// errc::not_found.
caf::expected<caf::actor> lookup_service(caf::actor_system& sys, const std::string& host,
                                         uint16_t port, caf::atom_value service,
                                         std::chrono::milliseconds timeout);

/// The member list of the node at host:port, as that node sees it (the node first).
caf::expected<std::vector<member>> fetch_members(caf::actor_system& sys, const std::string& host,
                                                 uint16_t port, std::chrono::milliseconds timeout);

} // namespace sv::cluster
