#pragma once

// A blocking request from a non-actor thread with a deadline: the reply of type T, the
// receiver's error, or request_timeout. Includes CAF's blocking actor templates; use it in
// host-API implementations, not in headers.

#include <chrono>
#include <utility>

#include "caf/actor.hpp"
#include "caf/actor_system.hpp"
#include "caf/duration.hpp"
#include "caf/expected.hpp"
#include "caf/scoped_actor.hpp"

namespace sv {

template <class T, class Handle, class... Ts>
caf::expected<T> ask(caf::actor_system& sys, const Handle& receiver,
                     std::chrono::milliseconds timeout, Ts&&... xs) {
  caf::scoped_actor self{sys};
  caf::expected<T> result = caf::make_error(caf::sec::request_timeout);
  // caf::duration, not std::chrono: see flow::request() on CAF 0.17's chrono overloads.
  self->request(receiver, caf::duration{timeout}, std::forward<Ts>(xs)...)
      .receive([&](T& x) { result = std::move(x); }, [&](caf::error& err) { result = err; });
  return result;
}

} // namespace sv
