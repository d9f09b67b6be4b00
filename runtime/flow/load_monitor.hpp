#pragma once

#include <memory>

#include "caf/fwd.hpp"
#include "runtime/flow/flow_context.hpp"

namespace sv::metrics {
class registry;
} // namespace sv::metrics

namespace sv::flow {

/// Spawns the node's load monitor (design §4). Every `monitor_interval` it takes a
/// reading of `ctx`: mailbox depths by actor kind, the critical p99 since the previous
/// reading, and the scheduler's dispatch lag, measured as the lateness of its own timer
/// message (a saturated scheduler delivers it late). The degrader turns the reading into
/// a level that every gate reads at once. Readings, the level and every transition are
/// exported to `reg` and transitions are logged.
///
/// On exit (any exit message) it stops; its pending timer dies with it. `reg` and `ctx`
/// must outlive it.
caf::actor spawn_load_monitor(caf::actor_system& sys, std::shared_ptr<flow_context> ctx,
                              metrics::registry& reg);

} // namespace sv::flow
