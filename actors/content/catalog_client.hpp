#pragma once

// The catalog of a running node, from outside the cluster (streamverse-ctl, tests).

#include <chrono>
#include <cstdint>
#include <string>

#include "actors/content/catalog.hpp"
#include "actors/content/metadata.hpp"
#include "caf/expected.hpp"
#include "caf/fwd.hpp"

namespace sv::content {

/// The catalog of the node whose cluster endpoint is host:port, as a typed handle (its
/// interface is catalog_actor in catalog.hpp). `sys` needs the middleman, the runtime's and
/// the content message types.
caf::expected<catalog_actor> connect_catalog(caf::actor_system& sys, const std::string& host,
                                             uint16_t port, std::chrono::milliseconds timeout);

/// Sends an update to the catalog of the node whose cluster endpoint is host:port (it
/// forwards to the owner); returns the version assigned. `sys` needs the middleman, the
/// runtime's and the content message types.
caf::expected<uint64_t> remote_update(caf::actor_system& sys, const std::string& host,
                                      uint16_t port, metadata m, uint64_t expected_version,
                                      std::chrono::milliseconds timeout);

/// That node's replica of `id`.
caf::expected<metadata> remote_get(caf::actor_system& sys, const std::string& host, uint16_t port,
                                   const std::string& id, std::chrono::milliseconds timeout);

} // namespace sv::content
