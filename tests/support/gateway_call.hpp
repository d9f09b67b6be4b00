#pragma once

// One open through a node's session gateway, as a batch of one (tests that check what the
// gateway answers without an edge client).

#include <chrono>

#include "actors/session/session_gateway.hpp"
#include "actors/session/session_host.hpp"
#include "caf/scoped_actor.hpp"
#include "runtime/wire/errc.hpp"

namespace sv::test {

/// The gateway's answer for `r`: none (opened) or the refusal.
inline caf::error open_through(caf::scoped_actor& self, const session::gateway& gw,
                               session::open_request r) {
  session::edge_batch b;
  b.budget_ms = 5000;
  b.opens.push_back(std::move(r));
  caf::error err;
  self->request(gw.handles().front(), std::chrono::seconds{6}, std::move(b))
      .receive(
          [&](session::edge_answer& a) {
            err = a.results.size() == 1 ? session::to_error(a.results.front())
                                        : make_error(errc::unavailable, "no result for the open");
          },
          [&](caf::error& e) { err = e; });
  return err;
}

} // namespace sv::test
