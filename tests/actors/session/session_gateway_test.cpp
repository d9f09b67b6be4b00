// The session gateway (clients outside the cluster): critical requests take a slot of the
// service's adaptive limit, so past capacity a client is refused with `overloaded` at
// once instead of waiting for a timeout. One node in-process; every wait is bounded.

#include "actors/session/session_gateway.hpp"

#include <atomic>
#include <filesystem>

#include <doctest/doctest.h>

#include "tests/support/eventually.hpp"
#include "tests/support/test_nodes.hpp"

#include "actors/session/session_service.hpp"
#include "caf/scoped_actor.hpp"
#include "runtime/node/node.hpp"
#include "runtime/wire/errc.hpp"

extern "C" const char* __asan_default_options() {
  // Same CAF 0.17.6 BASP shutdown cycle as in the catalog test (see there).
  return "detect_leaks=0";
}

TEST_SUITE("actors.session") {
  TEST_CASE("past the critical limit a gateway open is refused overloaded at once, not timed out") {
    auto dir = std::string{"session_gateway_test_data"};
    std::filesystem::remove_all(dir);
    auto s = sv::test::fast_node_settings("node-a", dir + "/node-a");
    s.scheduler_threads = 3; // a host blocked below must not stop the gateway
    s.flow.dispatch_lag_budget_ms = 60'000;
    s.flow.critical_budget_ms = 60'000;
    sv::node n{s, {sv::session::register_message_types}};
    REQUIRE(n.start().empty());
    std::atomic<bool> go{false};
    std::atomic<int> entered{0};
    {
      auto ss = sv::session::service_settings_from(n.settings());
      ss.hosts = 1;
      ss.critical_limit.initial_limit = 1; // one critical request in flight
      ss.critical_limit.min_limit = 1;
      ss.critical_limit.max_limit = 1;
      ss.host.entitlement = [&](const sv::session::open_request&) -> caf::error {
        ++entered;
        sv::test::eventually([&] { return go.load(); }, std::chrono::seconds{5});
        return caf::none;
      };
      sv::session::service sessions{n, ss};
      sv::session::gateway gateway{n, sessions};
      caf::scoped_actor self{n.system()};
      auto viewer = [](uint64_t id) {
        sv::session::open_request r;
        r.session_id = id;
        r.user = "u-" + std::to_string(id);
        r.content = "premiere-1";
        r.device = "tv";
        r.region = "eu-west";
        return r;
      };
      auto first = self->request(gateway.handle(), std::chrono::seconds{10}, viewer(1));
      REQUIRE(sv::test::eventually([&] { return entered.load() == 1; })); // holds the slot
      caf::error refused;
      auto began = std::chrono::steady_clock::now();
      self->request(gateway.handle(), std::chrono::seconds{10}, viewer(2))
          .receive([](uint64_t) {}, [&](caf::error& e) { refused = e; });
      CHECK(sv::is(refused, sv::errc::overloaded));
      CHECK(std::chrono::steady_clock::now() - began < std::chrono::seconds{3});
      CHECK(sessions.critical_limit_refusals() == 1);
      go = true;
      caf::error err;
      uint64_t opened = 0;
      first.receive([&](uint64_t id) { opened = id; }, [&](caf::error& e) { err = e; });
      CHECK_MESSAGE(!err, n.system().render(err));
      CHECK(opened == 1);
      // The slot came back: the next open goes through.
      caf::error again;
      self->request(gateway.handle(), std::chrono::seconds{10}, viewer(3))
          .receive([](uint64_t) {}, [&](caf::error& e) { again = e; });
      CHECK_MESSAGE(!again, n.system().render(again));
    }
    std::filesystem::remove_all(dir);
  }
}
