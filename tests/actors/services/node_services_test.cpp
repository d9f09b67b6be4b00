// node_services: every service of a full node in one call, with the host's overrides, and
// a stop in the reverse order (the host's own services first). One node in-process on
// loopback; every wait is bounded.

#include "actors/services/node_services.hpp"

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "tests/support/gateway_call.hpp"
#include "tests/support/test_nodes.hpp"
#include "tests/support/titles.hpp"

#include "actors/content/catalog.hpp"
#include "actors/media/media_errc.hpp"
#include "actors/session/session_gateway.hpp"
#include "actors/session/session_service.hpp"
#include "caf/scoped_actor.hpp"
#include "runtime/node/node.hpp"
#include "runtime/wire/errc.hpp"

extern "C" const char* __asan_default_options() {
  // Same CAF 0.17.6 BASP shutdown cycle as in the catalog test (see there).
  return "detect_leaks=0";
}

namespace {

using sv::test::playable_title;

// Refuses one user, entitles everyone else: the host's own entitlement rule.
class refuse_one final : public sv::integrations::entitlement_hook {
public:
  bool immediate() const noexcept override {
    return true;
  }
  std::string check(const sv::integrations::entitlement_query& q, bool& entitled) override {
    entitled = q.user != "blocked-user";
    return {};
  }
};

} // namespace

TEST_SUITE("actors.services") {
  TEST_CASE("one call starts a full node with the host's overrides, and stop runs in reverse") {
    auto dir = std::string{"services_test_data"};
    std::filesystem::remove_all(dir);
    auto s = sv::test::fast_node_settings("node-a", dir + "/node-a");
    sv::node n{s, sv::node_services::message_types()};
    REQUIRE(n.start().empty());

    std::vector<std::string> events;
    sv::services_options options;
    options.hooks.entitlement = std::make_shared<refuse_one>();
    options.cache_loaders.emplace_back("host",
                                       [](const std::string& key, sv::cache::load_done done) {
                                         done(sv::cache::loaded{"from the host: " + key, 1, {}});
                                       });
    options.host_services = [&](sv::node&, sv::node_services& services) -> std::shared_ptr<void> {
      // Started last: every node service is up already.
      events.push_back(services.gateway().handles().empty() ? "no gateway" : "host started");
      return std::shared_ptr<void>(nullptr, [&events, &services](void*) {
        // Stopped first: the node services are still there.
        try {
          services.sessions();
          events.push_back("host stopped");
        } catch (const std::logic_error&) {
          events.push_back("host stopped after the sessions");
        }
      });
    };
    sv::node_services services{n, std::move(options)};
    REQUIRE(events == std::vector<std::string>{"host started"});

    REQUIRE(services.catalog().update(playable_title("t-1")));
    caf::scoped_actor self{n.system()};
    auto open = [&](uint64_t id, const std::string& user) {
      sv::session::open_request r;
      r.session_id = id;
      r.user = user;
      r.content = "t-1";
      r.device = "tv";
      r.region = "eu-west";
      return sv::test::open_through(self, services.gateway(), r);
    };
    auto opened = open(1, "u-1");
    CHECK_MESSAGE(!opened, n.system().render(opened));
    CHECK(services.sessions().info(1));
    // The host's entitlement rule, not the default tier rule, decides.
    CHECK(sv::is(open(2, "blocked-user"), sv::media::refusal::not_entitled));
    CHECK_FALSE(services.sessions().info(2));
    // The host's cache origin.
    auto got = services.cache().get("host/item-7");
    REQUIRE(got);
    CHECK(*got->value == "from the host: host/item-7");
    // The node's own origins are still there: "meta/" comes from the catalog.
    CHECK(services.cache().get("meta/t-1"));

    services.stop();
    CHECK(events == std::vector<std::string>{"host started", "host stopped"});
    CHECK_THROWS_AS(services.sessions(), std::logic_error);
    services.stop(); // a second stop does nothing
    n.stop();
    std::filesystem::remove_all(dir);
  }
}
