// A node holds a million viewer sessions (release build only: label "scale").

#include <chrono>
#include <memory>

#include <doctest/doctest.h>

#include "actors/session/session_service.hpp"
#include "caf/all.hpp"
#include "runtime/flow/flow_context.hpp"
#include "runtime/flow/send.hpp"

using namespace std::chrono_literals;
using namespace sv::session;

namespace {

using go_atom = caf::atom_constant<caf::atom("go")>;

struct opener_state {
  uint64_t next = 0;
  uint64_t end = 0;
  uint64_t inflight = 0;
  uint64_t failed = 0;
  caf::response_promise done;
};

// Opens sessions [first, end) through the gate, `window` requests in flight.
caf::behavior opener(caf::stateful_actor<opener_state>* self, service* svc) {
  auto open_next = std::make_shared<std::function<void()>>();
  *open_next = [self, svc, weak = std::weak_ptr<std::function<void()>>(open_next)] {
    auto& st = self->state;
    if (st.next == st.end) {
      if (st.inflight == 0 && st.done.pending()) {
        st.done.deliver(st.failed);
      }
      return;
    }
    auto id = st.next++;
    open_request r;
    r.session_id = id;
    r.user = "viewer-" + std::to_string(id);
    r.content = "title-" + std::to_string(id % 1000);
    r.device = "tv";
    r.region = "eu";
    auto& t = svc->route(id);
    auto d = sv::flow::admit(svc->flow(), t, sv::flow::service_class::critical);
    if (!d.admitted()) {
      ++st.failed;
      return;
    }
    ++st.inflight;
    auto again = weak.lock();
    sv::flow::request(self, t.handle, sv::flow::service_class::critical, 30s, std::move(r))
        .then(
            [self, again](uint64_t) {
              --self->state.inflight;
              (*again)();
            },
            [self, again](caf::error&) {
              --self->state.inflight;
              ++self->state.failed;
              (*again)();
            });
  };
  return {
      [self, open_next](go_atom, uint64_t first, uint64_t end) -> caf::result<uint64_t> {
        auto& st = self->state;
        st.next = first;
        st.end = end;
        st.done = self->make_response_promise();
        for (int i = 0; i < 64; ++i) {
          (*open_next)();
        }
        return st.done;
      },
  };
}

} // namespace

TEST_SUITE("actors.session") {
  TEST_CASE("a node holds a million sessions and still serves each of them") {
    constexpr uint64_t n = 1'000'000;
    caf::actor_system_config cfg;
    cfg.set("scheduler.max-threads", size_t{2});
    caf::actor_system sys{cfg};
    sv::flow::flow_context flow;
    service_settings settings;
    settings.hosts = 64;
    settings.host.idle_timeout = 1h;
    service svc{sys, flow, settings};
    caf::scoped_actor self{sys};
    std::vector<caf::actor> openers;
    for (uint64_t i = 0; i < 4; ++i) {
      auto o = sys.spawn(opener, &svc);
      self->send(o, go_atom::value, 1 + i * n / 4, 1 + (i + 1) * n / 4);
      openers.push_back(o);
    }
    uint64_t failed = 0;
    for (size_t i = 0; i < openers.size(); ++i) {
      self->receive([&](uint64_t f) { failed += f; }, caf::after(120s) >> [] { FAIL("timeout"); });
    }
    for (auto& o : openers) {
      self->send_exit(o, caf::exit_reason::user_shutdown);
    }
    CHECK(failed == 0);
    for (uint64_t id = 1; id <= 64; ++id) { // every host served its critical queue
      CHECK(svc.route(id).cell->urgent_depth() == 0);
    }
    auto open = svc.open_sessions();
    REQUIRE(open);
    CHECK(*open == n);
    for (uint64_t id : {uint64_t{1}, n / 2, n}) {
      heartbeat_report h;
      h.session_id = id;
      h.position_ms = 1234;
      CHECK_FALSE(svc.heartbeat(h));
      auto s = svc.info(id);
      REQUIRE(s);
      CHECK(s->user == "viewer-" + std::to_string(id));
      CHECK(s->position_ms == 1234);
    }
  }
}
