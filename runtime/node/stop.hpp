#pragma once

// Stopping a service that owns detached actors (its stores, each on a thread of its own):
// the host may remove or reopen the service's files as soon as the stop returns, so the stop
// waits for the children too, not only for the service they are linked to. Includes CAF's
// blocking actor templates; use it in host-API implementations, not in headers.

#include "caf/actor.hpp"
#include "caf/actor_system.hpp"
#include "caf/exit_reason.hpp"
#include "caf/scoped_actor.hpp"
#include "runtime/node/detached_children.hpp"

namespace sv {

/// Sends `service` an exit and returns once it and every recorded child have ended (a child
/// linked to the service gets the exit through the link; one that is not gets it here).
template <class Handle>
void stop_and_wait(caf::actor_system& sys, const Handle& service,
                   detached_children* children = nullptr) {
  caf::scoped_actor self{sys};
  self->send_exit(service, caf::exit_reason::user_shutdown);
  self->wait_for(service);
  if (children == nullptr) {
    return;
  }
  for (auto& child : children->take()) {
    self->send_exit(child, caf::exit_reason::user_shutdown);
    self->wait_for(child);
  }
}

} // namespace sv
