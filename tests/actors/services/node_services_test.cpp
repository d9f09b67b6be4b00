// node_services: every service of a full node in one call, with the host's overrides, and
// a stop in the reverse order (the host's own services first). One node in-process on
// loopback; every wait is bounded.

#include "actors/services/node_services.hpp"
#include "actors/services/scale_protocol.hpp"
#include "actors/services/scale_signal.hpp"
#include "runtime/metrics/registry.hpp"

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "tests/support/eventually.hpp"
#include "tests/support/gateway_call.hpp"
#include "tests/support/test_nodes.hpp"
#include "tests/support/titles.hpp"

#include "actors/analytics/analytics_protocol.hpp"
#include "actors/cache/cache_protocol.hpp"
#include "actors/content/catalog.hpp"
#include "actors/content/catalog_client.hpp"
#include "actors/media/media_errc.hpp"
#include "actors/media/watch_protocol.hpp"
#include "actors/session/session_gateway.hpp"
#include "actors/session/session_service.hpp"
#include "caf/scoped_actor.hpp"
#include "runtime/cluster/client.hpp"
#include "runtime/node/ask.hpp"
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
      return sv::test::open_through(self, services.gateway(),
                                    sv::session::open_request{id, user, "t-1", "tv", "eu-west"});
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
    // Every store is closed when stop returns (SQLite removes a WAL file at the last close):
    // the host may remove or reopen the data directory right away.
    std::vector<std::string> open_logs;
    for (auto& f : std::filesystem::recursive_directory_iterator{dir}) {
      if (f.path().string().size() > 4
          && f.path().string().substr(f.path().string().size() - 4) == "-wal") {
        open_logs.push_back(f.path().string());
      }
    }
    CHECK(open_logs.empty());
    CHECK_THROWS_AS(services.sessions(), std::logic_error);
    services.stop(); // a second stop does nothing
    n.stop();
    std::filesystem::remove_all(dir);
  }

  TEST_CASE("the scaling signal: sv_cluster_desired_nodes of the node's region follows its open "
            "sessions up at once, and sv_sessions_open counts them") {
    auto dir = std::string{"services_scale_data"};
    std::filesystem::remove_all(dir);
    auto s = sv::test::fast_node_settings("node-a", dir + "/node-a");
    s.region = "eu-west";
    auto& scale = s.section<sv::config::scale_node_settings>();
    scale.sessions_per_node = 2;
    scale.target_utilization_pct = 0; // sessions only: deterministic here
    scale.min_nodes = 1;
    scale.max_nodes = 5;
    scale.down_stabilization_s = 600;
    sv::node n{s, sv::node_services::message_types()};
    REQUIRE(n.start().empty());
    {
      sv::node_services services{n};
      auto desired = [&] {
        auto text = n.metrics().render();
        auto key = std::string{"sv_cluster_desired_nodes{region=\"eu-west\"} "};
        auto at = text.find(key);
        return at == std::string::npos ? -1.0 : std::stod(text.substr(at + key.size()));
      };
      CHECK(desired() == 1);
      REQUIRE(services.catalog().update(playable_title("t-1")));
      auto open = [&](uint64_t from, uint64_t to) {
        for (auto id = from; id <= to; ++id) {
          REQUIRE(services.sessions().open(
              sv::session::open_request{id, "u-" + std::to_string(id), "t-1", "tv", "eu-west"}));
        }
      };
      open(1, 6);
      // Six sessions on one node, two per node wanted: three nodes, and five at most.
      CHECK(n.metrics().render().find("sv_sessions_open 6\n") != std::string::npos);
      CHECK(desired() == 3);
      open(7, 20);
      CHECK(desired() == 5);
      // Down only after the stabilization window: closing them changes nothing yet.
      for (uint64_t id = 1; id <= 20; ++id) {
        REQUIRE_FALSE(services.sessions().apply({id, sv::session::command_kind::close, 0}));
      }
      CHECK(n.metrics().render().find("sv_sessions_open 0\n") != std::string::npos);
      CHECK(desired() == 5);
    }
    n.stop();
    std::filesystem::remove_all(dir);
  }

  TEST_CASE("the scaling signal is the region's: nodes share their load, so sessions held by "
            "one node count for every node's answer") {
    auto dir = std::string{"services_scale_region_data"};
    std::filesystem::remove_all(dir);
    auto settings = [&](const std::string& name) {
      auto s = sv::test::fast_node_settings(name, dir + "/" + name);
      s.region = "eu-west";
      auto& scale = s.section<sv::config::scale_node_settings>();
      scale.sessions_per_node = 2;
      scale.target_utilization_pct = 0; // sessions only: deterministic here
      scale.max_nodes = 8;
      scale.down_stabilization_s = 0; // each answer is the current one
      return s;
    };
    sv::node a{settings("node-a"), sv::node_services::message_types()};
    REQUIRE(a.start().empty());
    auto sb = settings("node-b");
    sb.seeds = {{"127.0.0.1", a.cluster_port()}};
    sv::node b{sb, sv::node_services::message_types()};
    REQUIRE(b.start().empty());
    REQUIRE(sv::test::eventually([&] { return a.status().members_up == 2; }));
    {
      sv::node_services on_a{a};
      sv::node_services on_b{b};
      auto desired = [](sv::node& n) {
        auto text = n.metrics().render();
        auto key = std::string{"sv_cluster_desired_nodes{region=\"eu-west\"} "};
        auto at = text.find(key);
        return at == std::string::npos ? -1.0 : std::stod(text.substr(at + key.size()));
      };
      REQUIRE(on_a.catalog().update(playable_title("t-1")));
      // Eight sessions, all on node-a (as after a scale-up: the new node holds none yet).
      for (uint64_t id = 1; id <= 8; ++id) {
        REQUIRE(on_a.sessions().open(
            sv::session::open_request{id, "u-" + std::to_string(id), "t-1", "tv", "eu-west"}));
      }
      // Four nodes for eight sessions, two per node, on both nodes: not eight on node-a
      // (its own count taken for each node's) nor one on node-b (its own: none).
      CHECK(sv::test::eventually([&] { return desired(a) == 4 && desired(b) == 4; }));
      for (uint64_t id = 1; id <= 6; ++id) {
        REQUIRE_FALSE(on_a.sessions().apply({id, sv::session::command_kind::close, 0}));
      }
      // Two left in the region: one node is enough, whichever node is asked.
      CHECK(sv::test::eventually([&] { return desired(a) == 1 && desired(b) == 1; }));
    }
    b.stop();
    a.stop();
    std::filesystem::remove_all(dir);
  }

  TEST_CASE("each service is reached typed through its connect function and answers a payload "
            "it cannot decode with undecodable_payload") {
    using namespace std::chrono_literals;
    auto dir = std::string{"services_typed_test_data"};
    std::filesystem::remove_all(dir);
    auto s = sv::test::fast_node_settings("node-a", dir + "/node-a");
    sv::node n{s, sv::node_services::message_types()};
    REQUIRE(n.start().empty());
    {
      sv::node_services services{n, sv::services_options{}};
      REQUIRE(services.catalog().update(playable_title("t-1")));
      auto& sys = n.system();
      auto port = n.cluster_port();
      // Through the cluster port, as another process would (the connect functions).
      auto ep = sv::cluster::connect_endpoint(sys, "127.0.0.1", port, 3s);
      auto cat = sv::content::connect_catalog(sys, "127.0.0.1", port, 3s);
      auto cache = sv::cache::connect_cache(sys, "127.0.0.1", port, 3s);
      auto an = sv::analytics::connect_service(sys, "127.0.0.1", port, 3s);
      auto watch = sv::media::connect_watch_state(sys, "127.0.0.1", port, 3s);
      auto scale = sv::connect_scale_signal(sys, "127.0.0.1", port, 3s);
      REQUIRE(ep);
      REQUIRE(cat);
      REQUIRE(cache);
      REQUIRE(an);
      REQUIRE(watch);
      REQUIRE(scale);

      // One request of each interface, answered with its declared type.
      streamverse::v1::MembersRequest mr;
      mr.set_requester("test");
      auto members = sv::ask<streamverse::v1::Gossip>(sys, *ep, 3s, mr);
      REQUIRE(members);
      CHECK(members->members_size() == 1);
      auto meta =
          sv::ask<sv::content::metadata>(sys, *cat, 3s, caf::get_atom::value, std::string{"t-1"});
      REQUIRE(meta);
      CHECK(meta->version() == 1);
      sv::cache::get_msg g;
      g.set_key("meta/t-1");
      auto value = sv::ask<sv::cache::value_msg>(sys, *cache, 3s, g);
      REQUIRE(value);
      CHECK(value->found());
      CHECK(value->version() == 1);
      sv::analytics::query_msg q;
      q.set_content_id("t-1");
      q.set_region("eu-west");
      q.set_window_s(10);
      auto window = sv::ask<sv::analytics::window_msg>(sys, *an, 3s, q);
      CHECK_MESSAGE(window, sys.render(window.error()));
      sv::media::watch_query_msg wq;
      wq.set_user("u-1");
      wq.set_content("t-1");
      auto position = sv::ask<sv::media::watch_position_msg>(sys, *watch, 3s, wq);
      REQUIRE(position);
      CHECK(position->event_ms() == 0); // never watched
      uint64_t open_sessions = 1;
      caf::scoped_actor asker{sys};
      asker->request(*scale, 3s, sv::scale_figures_atom::value)
          .receive([&](uint64_t open, double) { open_sessions = open; },
                   [](caf::error& err) { FAIL(caf::to_string(err)); });
      CHECK(open_sessions == 0);

      // What arrives when a payload's type is unknown to the node: an empty message.
      caf::scoped_actor self{sys};
      std::vector<std::pair<std::string, caf::actor>> services_by_name{
          {"endpoint", caf::actor_cast<caf::actor>(*ep)},
          {"catalog", caf::actor_cast<caf::actor>(*cat)},
          {"cache", caf::actor_cast<caf::actor>(*cache)},
          {"analytics", caf::actor_cast<caf::actor>(*an)},
          {"watch state", caf::actor_cast<caf::actor>(*watch)},
          {"scale signal", caf::actor_cast<caf::actor>(*scale)}};
      for (auto& [name, a] : services_by_name) {
        caf::error seen;
        self->request(a, 3s, caf::make_message())
            .receive([] {}, [&](caf::error& err) { seen = err; });
        CHECK_MESSAGE(sv::is(seen, sv::errc::undecodable_payload), name, ": ", sys.render(seen));
      }
    }
    n.stop();
    std::filesystem::remove_all(dir);
  }
}
