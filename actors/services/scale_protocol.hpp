#pragma once

// The scaling signal's interface between nodes (scale_signal.hpp): each node's signal
// service (registered as the cluster service "sv_scale") answers its region's peers with
// its own load figures, so that every node of a region computes sv_cluster_desired_nodes
// from the region's mean rather than from its own share (sessions stay on the node that
// opened them: after a scale-up the old nodes hold most of them, the new ones few).
//
//   auto svc = sv::connect_scale_signal(sys, "10.0.0.5", 7400, 2s);
//   caf::scoped_actor self{sys};
//   self->request(*svc, caf::duration{1s}, sv::scale_figures_atom::value)
//       .receive([](uint64_t open_sessions, double utilization) { ... },
//                [](caf::error&) { ... });

#include <chrono>
#include <cstdint>
#include <string>

#include "caf/atom.hpp"
#include "caf/expected.hpp"
#include "caf/fwd.hpp"
#include "caf/replies_to.hpp"
#include "caf/typed_actor.hpp"

namespace sv {

/// `(scale_figures_atom)`: the receiver's open sessions and projected utilization.
using scale_figures_atom = caf::atom_constant<caf::atom("sv_sfig")>;

/// The scaling signal service's interface.
using scale_actor = caf::typed_actor<caf::replies_to<scale_figures_atom>::with<uint64_t, double>>;

/// The scaling signal service of the node whose cluster endpoint is host:port.
caf::expected<scale_actor> connect_scale_signal(caf::actor_system& sys, const std::string& host,
                                                uint16_t port, std::chrono::milliseconds timeout);

} // namespace sv
