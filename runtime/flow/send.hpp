#pragma once

// The flow-controlled send path: admission by the gate before enqueueing, the target's
// load cell counted, critical work in CAF's urgent queue. Include only where messages
// are sent (it pulls in CAF's send templates).

#include <memory>
#include <string>
#include <utility>

#include "caf/actor.hpp"
#include "caf/actor_system.hpp"
#include "caf/duration.hpp"
#include "caf/expected.hpp"
#include "caf/message_priority.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/send.hpp"
#include "runtime/flow/flow_context.hpp"
#include "runtime/wire/errc.hpp"

namespace sv::flow {

/// An entity actor as flow control sees it: its handle and its load cell. The actor
/// starts every handler with a `serving` guard on the cell (which takes the message off
/// the count).
struct target {
  caf::actor handle;
  std::shared_ptr<load_cell> cell;
};

/// Asks the gate whether `c` may be sent to `t` now; on admission counts the message in
/// `t.cell` (the caller must then enqueue it). Refusals are counted per class.
inline decision admit(flow_context& ctx, const target& t, service_class c) noexcept {
  auto d = ctx.admission().admit(c, *t.cell, ctx.current_level());
  if (d.admitted()) {
    t.cell->on_enqueue(c == service_class::critical);
  }
  return d;
}

/// The error a refused request is answered with: `overloaded`, the class and the hint.
inline caf::error refusal(service_class c, const decision& d) {
  return make_overloaded(std::string{to_string(c)}, d.retry_after);
}

/// Sends `xs...` to `t` without a reply, if the gate admits it. Critical messages go
/// through CAF's urgent queue and overtake everything queued at normal priority.
/// Returns the refusal, or an empty error when the message was enqueued.
template <class... Ts>
caf::error send(flow_context& ctx, const target& t, service_class c, Ts&&... xs) {
  auto d = admit(ctx, t, c);
  if (!d.admitted()) {
    return refusal(c, d);
  }
  if (c == service_class::critical) {
    caf::anon_send<caf::message_priority::high>(t.handle, std::forward<Ts>(xs)...);
  } else {
    caf::anon_send(t.handle, std::forward<Ts>(xs)...);
  }
  return caf::none;
}

/// Sends a request from actor `self` to `dest` (already admitted), in CAF's urgent queue
/// when `c` is critical; returns CAF's response handle (`.then(...)`, `.receive(...)`).
///
/// Always use this (or pass a `caf::duration`) for prioritized requests: CAF 0.17.6's
/// `request<message_priority::high>(dest, std::chrono::duration, ...)` forwards to the
/// `caf::duration` overload without the priority, so the request silently arrives in the
/// normal queue.
template <class Self, class... Ts>
auto request(Self* self, const caf::actor& dest, service_class c, std::chrono::milliseconds timeout,
             Ts&&... xs) {
  caf::duration d{timeout};
  if (c == service_class::critical) {
    return self->template request<caf::message_priority::high>(dest, d, std::forward<Ts>(xs)...);
  }
  return self->request(dest, d, std::forward<Ts>(xs)...);
}

/// Sends `xs...` to `t` as a request through the gate and blocks until the reply `T`
/// arrives (at most `timeout`). Returns the refusal without sending when the gate says
/// no, or CAF's request_timeout / the target's error. Critical requests use CAF's urgent
/// queue. For host (non-actor) threads; actors use admit() and flow::request().then().
template <class T, class... Ts>
caf::expected<T> blocking_request(caf::actor_system& sys, flow_context& ctx, const target& t,
                                  service_class c, std::chrono::milliseconds timeout, Ts&&... xs) {
  auto d = admit(ctx, t, c);
  if (!d.admitted()) {
    return refusal(c, d);
  }
  caf::scoped_actor self{sys};
  caf::expected<T> result = caf::make_error(caf::sec::request_timeout);
  auto on_value = [&](T& x) {
    result = std::move(x);
  };
  auto on_error = [&](caf::error& err) {
    result = std::move(err);
  };
  request(self.ptr(), t.handle, c, timeout, std::forward<Ts>(xs)...).receive(on_value, on_error);
  return result;
}

} // namespace sv::flow
