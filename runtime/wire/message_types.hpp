#pragma once

#include <cstdint>

#include "caf/fwd.hpp"
#include "runtime/wire/errc.hpp"

namespace sv::wire {

/// The one registration point for every message type that may cross nodes. Registers
/// each protobuf message under its full proto name (e.g. "streamverse.v1.Hello"), the
/// StreamVerse error category, and nothing else. Every node and every test system must
/// call it before constructing its actor_system: CAF 0.17 looks types up by name, and a
/// type missing on either side arrives as an empty message.
void register_message_types(caf::actor_system_config& cfg);

/// Counts one undecodable message and returns the error to answer it with. Use it as
/// the `()` handler of every actor that receives cluster messages:
///   [=]() -> caf::error { return wire::undecodable("cluster endpoint"); }
caf::error undecodable(const char* receiver);

/// Undecodable messages seen by `undecodable()` since start (metrics).
uint64_t undecodable_count();

} // namespace sv::wire
