// The edge client against real nodes on loopback (and against fake gateways that never
// answer or refuse everything): batching, affinity, deadlines, lost nodes, retries,
// throttling, the in-flight bound; and the gateway's own deadline.

#include "actors/session/edge_client.hpp"

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "actors/session/session_errc.hpp"
#include "actors/session/session_gateway.hpp"
#include "actors/session/session_protocol.hpp"
#include "actors/session/session_service.hpp"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/io/middleman.hpp"
#include "caf/typed_event_based_actor.hpp"
#include "runtime/cluster/endpoint.hpp"
#include "runtime/node/node.hpp"
#include "runtime/wire/errc.hpp"
#include "runtime/wire/message_types.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/test_nodes.hpp"

// CAF 0.17.6's BASP broker sometimes leaks a reference cycle of its own objects when an
// actor system with remote connections shuts down (seen once in this binary under ASan
// in a fresh-clone run on 2026-12-06: every object in the report allocated inside
// libcaf_*, none in ours; the same cycle runtime_node_test suppresses). Leaks whose stack
// reaches into CAF's libraries are not reported for this binary; the rest still is.
extern "C" const char* __lsan_default_suppressions() {
  return "leak:libcaf_core.so\nleak:libcaf_io.so\nleak:libcaf_openssl.so\n";
}

using namespace std::chrono_literals;
using namespace sv::session;
using sv::test::eventually;

namespace {

// The name session::gateway registers its first gateway under (connect_gateway's lookup).
constexpr auto gateway_service = caf::atom("sv_sessgw");

struct client_config : caf::actor_system_config {
  client_config() {
    load<caf::io::middleman>();
    sv::wire::register_message_types(*this);
    register_message_types(*this);
    set("scheduler.max-threads", size_t{1});
    set("logger.console-verbosity", caf::atom("quiet"));
  }
};

// A node with sessions and gateways, in this process.
struct session_node {
  std::unique_ptr<sv::node> node;
  std::unique_ptr<service> sessions;
  std::unique_ptr<gateway> gw;

  session_node(const std::string& name, const std::string& dir, service_settings ss = {},
               uint32_t threads = 1) {
    std::filesystem::remove_all(dir);
    auto s = sv::test::fast_node_settings(name, dir);
    s.scheduler_threads = threads;
    s.flow.dispatch_lag_budget_ms = 60'000; // no shedding from a busy test machine
    s.flow.critical_budget_ms = 60'000;
    node = std::make_unique<sv::node>(
        s, std::vector<sv::node::type_registrar>{register_message_types});
    REQUIRE(node->start().empty());
    sessions = std::make_unique<service>(*node, ss);
    gw = std::make_unique<gateway>(*node, *sessions, caf::actor{}, 2);
  }

  void stop() {
    gw.reset();
    sessions.reset();
    node.reset();
  }

  ~session_node() {
    stop();
  }

  edge_node address() const {
    return {node->settings().name, "127.0.0.1", node->cluster_port()};
  }
};

// What the sink received, for the test thread.
struct results {
  std::mutex mtx;
  std::vector<edge_result> all;

  edge_client::sink sink() {
    return [this](std::vector<edge_result>& rs) {
      std::lock_guard<std::mutex> guard{mtx};
      for (auto& r : rs) {
        all.push_back(std::move(r));
      }
    };
  }
  size_t size() {
    std::lock_guard<std::mutex> guard{mtx};
    return all.size();
  }
  std::vector<edge_result> take() {
    std::lock_guard<std::mutex> guard{mtx};
    auto out = std::move(all);
    all.clear();
    return out;
  }
};

open_request viewer(uint64_t id) {
  open_request r;
  r.session_id = id;
  r.user = "u-" + std::to_string(id);
  r.content = "title-1";
  r.device = "tv";
  r.region = "eu-west";
  return r;
}

heartbeat_report beat(uint64_t id, int64_t position) {
  heartbeat_report h;
  h.session_id = id;
  h.position_ms = position;
  return h;
}

// A gateway that lists itself and then never answers a batch (a stopped node), or refuses
// every item `overloaded` with a 5 ms hint.
// silent: never answers; refusing: refuses every item (overloaded); slow_commands: never
// answers a batch with a command in it (a close whose position no holder confirms), and
// answers every other batch ok at once.
enum class fake_mode { silent, refusing, slow_commands };

gateway_actor::behavior_type fake_gateway(gateway_actor::pointer self, fake_mode mode,
                                          std::shared_ptr<std::atomic<int>> batches) {
  return {
      [=](edge_batch& b) -> caf::result<edge_answer> {
        ++*batches;
        if (mode == fake_mode::silent
            || (mode == fake_mode::slow_commands && !b.commands.empty())) {
          return self->make_response_promise<edge_answer>(); // never delivered
        }
        edge_answer a;
        if (mode == fake_mode::slow_commands) {
          a.results.assign(b.size(), item_result{});
          return a;
        }
        item_result r;
        r.code = static_cast<uint8_t>(sv::errc::overloaded);
        r.retry_after_ms = 5;
        r.detail = "critical";
        a.results.assign(b.size(), r);
        return a;
      },
      [=](caf::get_atom, gateways_atom) -> std::vector<caf::actor> {
        return {caf::actor_cast<caf::actor>(self)};
      },
      [](done_atom, uint64_t) {},
      [](expire_atom, uint64_t) {},
  };
}

struct fake_node {
  std::unique_ptr<sv::node> node;
  gateway_actor gw;
  std::shared_ptr<std::atomic<int>> batches = std::make_shared<std::atomic<int>>(0);

  fake_node(const std::string& dir, fake_mode mode) {
    std::filesystem::remove_all(dir);
    node =
        std::make_unique<sv::node>(sv::test::fast_node_settings("fake", dir),
                                   std::vector<sv::node::type_registrar>{register_message_types});
    REQUIRE(node->start().empty());
    gw = node->system().spawn(fake_gateway, mode, batches);
    sv::cluster::register_service(node->system(), gateway_service, caf::actor_cast<caf::actor>(gw));
  }

  ~fake_node() {
    node->system().registry().erase(gateway_service);
    caf::anon_send_exit(gw, caf::exit_reason::user_shutdown);
    gw = nullptr;
    node.reset();
  }

  edge_node address() const {
    return {"fake", "127.0.0.1", node->cluster_port()};
  }
};

} // namespace

TEST_SUITE("actors.session") {
  TEST_CASE("items for a node travel in batches, each answered, sessions kept on their node") {
    session_node a{"node-a", "edge_test_data/a"};
    session_node b{"node-b", "edge_test_data/b"};
    client_config cfg;
    caf::actor_system sys{cfg};
    results got;
    edge_settings es;
    es.nodes = {a.address(), b.address()};
    es.linger = 20ms; // room for all opens in few batches
    {
      edge_client client{sys, es, got.sink()};
      REQUIRE(client.wait_connected(5s) == 2);
      for (uint64_t id = 1; id <= 200; ++id) {
        client.open(viewer(id), id);
      }
      REQUIRE(eventually([&] { return got.size() == 200; }));
      auto opened = got.take();
      for (auto& r : opened) {
        INFO(sys.render(r.error));
        CHECK_FALSE(r.error);
        CHECK(r.cookie == r.session_id);
        CHECK(r.kind == item_kind::open);
        REQUIRE((r.node == 0 || r.node == 1));
        CHECK(client.node_of(r.session_id) == static_cast<uint32_t>(r.node));
        // The session is where the result says it is.
        auto& here = r.node == 0 ? a : b;
        CHECK(here.sessions->info(r.session_id));
      }
      // Far fewer requests than items (256 per batch, or what lingered 20 ms).
      auto st = client.stats();
      CHECK(st.batches < 40);
      for (uint64_t id = 1; id <= 200; ++id) {
        client.heartbeat(beat(id, 1000 * static_cast<int64_t>(id)), id);
      }
      REQUIRE(eventually([&] { return got.size() == 200; }));
      for (auto& r : got.take()) {
        CHECK_FALSE(r.error);
        CHECK(r.kind == item_kind::heartbeat);
        CHECK(r.latency > 0ns);
      }
      auto where = *client.node_of(77);
      auto& node = where == 0 ? a : b;
      CHECK(node.sessions->info(77)->position_ms == 77'000);
      // Closing ends the session and the client's affinity for it.
      CHECK_FALSE(client.command_sync({77, command_kind::close, 0}));
      CHECK_FALSE(node.sessions->info(77));
      CHECK_FALSE(client.node_of(77));
      CHECK(client.stats().in_flight == 0);
    }
  }

  TEST_CASE("a session the client did not open gets unknown_session at once") {
    session_node a{"node-a", "edge_test_data/unknown"};
    client_config cfg;
    caf::actor_system sys{cfg};
    edge_settings es;
    es.nodes = {a.address()};
    edge_client client{sys, es, {}};
    REQUIRE(client.wait_connected(5s) == 1);
    auto err = client.heartbeat_sync(beat(5, 0));
    CHECK(sv::is(err, sv::session::session_errc::unknown_session));
    REQUIRE_FALSE(client.open_sync(viewer(5)));
    CHECK(sv::is(client.open_sync(viewer(5)), sv::session::session_errc::session_exists));
  }

  TEST_CASE("a caller's cookie with the top bit set comes back like any other") {
    session_node a{"node-a", "edge_test_data/cookie"};
    client_config cfg;
    caf::actor_system sys{cfg};
    edge_settings es;
    es.nodes = {a.address()};
    results got;
    edge_client client{sys, es, got.sink()};
    REQUIRE(client.wait_connected(5s) == 1);
    constexpr uint64_t top = uint64_t{1} << 63;
    client.open(viewer(11), top | 11);
    REQUIRE(eventually([&] { return got.size() == 1; }));
    client.command({11, sv::session::command_kind::close, 0}, top);
    // A blocking call meanwhile (its own cookie has the top bit too) gets its own answer.
    CHECK(sv::is(client.heartbeat_sync(beat(99, 0)), sv::session::session_errc::unknown_session));
    REQUIRE(eventually([&] { return got.size() == 2; }));
    auto all = got.take();
    CHECK(all[0].cookie == (top | 11));
    CHECK_FALSE(all[0].error);
    CHECK(all[1].cookie == top);
    CHECK(all[1].session_id == 11);
    CHECK_FALSE(all[1].error);
  }

  TEST_CASE("over the in-flight bound, items are refused overloaded at once") {
    session_node a{"node-a", "edge_test_data/bound"};
    client_config cfg;
    caf::actor_system sys{cfg};
    results got;
    edge_settings es;
    es.nodes = {a.address()};
    es.max_in_flight = 10;
    es.linger = 500ms; // nothing leaves before all 15 are in
    es.max_batch = 1000;
    edge_client client{sys, es, got.sink()};
    REQUIRE(client.wait_connected(5s) == 1);
    for (uint64_t id = 1; id <= 15; ++id) {
      client.open(viewer(id), id);
    }
    // The five over the bound are answered on this thread, before anything was sent.
    auto refused = got.take();
    REQUIRE(refused.size() == 5);
    for (auto& r : refused) {
      CHECK(sv::is(r.error, sv::errc::overloaded));
      CHECK(r.session_id > 10);
    }
    CHECK(client.stats().refused_here == 5);
    REQUIRE(eventually([&] { return got.size() == 10; }));
    for (auto& r : got.take()) {
      CHECK_FALSE(r.error);
    }
  }

  TEST_CASE("a lost node's items are answered unavailable at once, its sessions reopen elsewhere") {
    session_node a{"node-a", "edge_test_data/lost-a"};
    session_node b{"node-b", "edge_test_data/lost-b"};
    client_config cfg;
    caf::actor_system sys{cfg};
    edge_settings es;
    es.nodes = {a.address(), b.address()};
    es.deadline = 10s; // a lost node must not make anyone wait that long
    edge_client client{sys, es, {}};
    REQUIRE(client.wait_connected(5s) == 2);
    REQUIRE_FALSE(client.open_sync(viewer(9), 0u));
    CHECK(client.node_of(9) == 0u);
    a.stop();
    REQUIRE(eventually([&] { return !client.connected(0); }));
    auto t0 = std::chrono::steady_clock::now();
    auto err = client.heartbeat_sync(beat(9, 1000));
    CHECK(sv::is(err, sv::errc::unavailable));
    CHECK(std::chrono::steady_clock::now() - t0 < 2s);
    // Opened again with the same id: on the node that is left.
    REQUIRE_FALSE(client.open_sync(viewer(9)));
    CHECK(client.node_of(9) == 1u);
    CHECK_FALSE(client.heartbeat_sync(beat(9, 2000)));
    CHECK(b.sessions->info(9)->position_ms == 2000);
  }

  TEST_CASE("opens stay in the client's region and fail over to the next preferred region "
            "only while its own has no node") {
    session_node a{"node-a", "edge_test_data/region-a"};
    session_node b{"node-b", "edge_test_data/region-b"};
    session_node c{"node-c", "edge_test_data/region-c"};
    client_config cfg;
    caf::actor_system sys{cfg};
    edge_settings es;
    es.nodes = {a.address(), b.address(), c.address()};
    es.nodes[0].region = "us-east";
    es.nodes[1].region = "eu-west";
    es.nodes[2].region = "ap-south";
    es.regions = {"eu-west", "us-east"}; // ap-south is never used
    edge_client client{sys, es, {}};
    REQUIRE(client.wait_connected(5s) == 3);
    for (uint64_t id = 1; id <= 4; ++id) {
      REQUIRE_FALSE(client.open_sync(viewer(id)));
      CHECK(client.node_of(id) == 1u); // eu-west
    }
    b.stop();
    REQUIRE(eventually([&] { return !client.connected(1); }));
    REQUIRE_FALSE(client.open_sync(viewer(5)));
    CHECK(client.node_of(5) == 0u); // the next region: us-east
    a.stop();
    REQUIRE(eventually([&] { return !client.connected(0); }));
    auto err = client.open_sync(viewer(6));
    CHECK(sv::is(err, sv::errc::unavailable));
    CHECK(client.node_of(6) != 2u); // not ap-south, though it is connected
    CHECK(client.connected(2));
  }

  TEST_CASE("a node that does not answer: every item is answered unavailable at its deadline") {
    fake_node f{"edge_test_data/silent", fake_mode::silent};
    client_config cfg;
    caf::actor_system sys{cfg};
    results got;
    edge_settings es;
    es.nodes = {f.address()};
    es.deadline = 300ms;
    edge_client client{sys, es, got.sink()};
    REQUIRE(client.wait_connected(5s) == 1);
    auto t0 = std::chrono::steady_clock::now();
    for (uint64_t id = 1; id <= 50; ++id) {
      client.open(viewer(id), id);
    }
    REQUIRE(eventually([&] { return got.size() == 50; }));
    auto took = std::chrono::steady_clock::now() - t0;
    CHECK(took >= 250ms);
    CHECK(took < 2s);
    for (auto& r : got.take()) {
      CHECK(sv::is(r.error, sv::errc::unavailable));
      CHECK(r.latency >= 250ms);
    }
    CHECK(client.stats().in_flight == 0);
  }

  TEST_CASE("refused opens are retried after the hint, within the attempts, heartbeats never") {
    fake_node f{"edge_test_data/refusing", fake_mode::refusing};
    client_config cfg;
    caf::actor_system sys{cfg};
    edge_settings es;
    es.nodes = {f.address()};
    es.max_attempts = 3;
    es.throttle_k = 0; // throttling is tested below
    es.deadline = 500ms;
    edge_client client{sys, es, {}};
    REQUIRE(client.wait_connected(5s) == 1);
    auto err = client.open_sync(viewer(1));
    CHECK(sv::is(err, sv::errc::overloaded));
    CHECK(client.stats().retries == 2); // three attempts in all
    CHECK(*f.batches == 3);
    // A heartbeat needs a known session: the open above placed it there.
    CHECK(sv::is(client.heartbeat_sync(beat(1, 0)), sv::errc::overloaded));
    CHECK(client.stats().retries == 2);
    CHECK(*f.batches == 4);
    // CAF 0.17 can leak a request's timeout still scheduled when its system stops: let
    // them fire first.
    std::this_thread::sleep_for(600ms);
  }

  TEST_CASE("a close answered late does not hold back the heartbeats sent with it: commands "
            "travel in batches of their own") {
    fake_node f{"edge_test_data/slow_commands", fake_mode::slow_commands};
    client_config cfg;
    caf::actor_system sys{cfg};
    results got;
    edge_settings es;
    es.nodes = {f.address()};
    es.throttle_k = 0;
    es.deadline = 1500ms;
    edge_client client{sys, es, got.sink()};
    REQUIRE(client.wait_connected(5s) == 1);
    command close;
    close.session_id = 7;
    close.kind = command_kind::close;
    client.command(close, 1, 0u);
    for (uint64_t k = 0; k < 10; ++k) {
      client.heartbeat(beat(7, static_cast<int64_t>(k) * 1000), 100 + k, 0u);
    }
    // The heartbeats are answered ok long before the close's deadline...
    REQUIRE(eventually([&] { return got.size() == 10; }, 1s));
    for (auto& r : got.take()) {
      CHECK(r.kind == item_kind::heartbeat);
      CHECK_FALSE(r.error);
      CHECK(r.latency < 1s);
    }
    // ...which the close, in its own batch, runs into.
    REQUIRE(eventually([&] { return got.size() == 1; }));
    auto last = got.take();
    CHECK(last[0].kind == item_kind::command);
    CHECK(sv::is(last[0].error, sv::errc::unavailable));
    CHECK(*f.batches == 2);
    std::this_thread::sleep_for(600ms); // CAF 0.17: let pending request timeouts fire first
  }

  TEST_CASE("a node that refuses most items is spared: the client refuses the excess itself") {
    fake_node f{"edge_test_data/throttle", fake_mode::refusing};
    client_config cfg;
    caf::actor_system sys{cfg};
    results got;
    edge_settings es;
    es.nodes = {f.address()};
    es.max_attempts = 1;
    es.throttle_k = 2;
    es.linger = 1ms;
    es.deadline = 500ms;
    edge_client client{sys, es, got.sink()};
    REQUIRE(client.wait_connected(5s) == 1);
    for (uint64_t id = 1; id <= 400; ++id) {
      client.open(viewer(id), id);
      if (id % 50 == 0) {
        std::this_thread::sleep_for(20ms); // let answers come back
      }
    }
    REQUIRE(eventually([&] { return got.size() == 400; }));
    auto st = client.stats();
    // Everything is refused either way; most of it never reached the node.
    CHECK(st.overloaded == 400);
    CHECK(st.refused_here > 200);
    for (auto& r : got.take()) {
      CHECK(sv::is(r.error, sv::errc::overloaded));
    }
    std::this_thread::sleep_for(600ms); // the requests' timeouts fire first (see above)
  }

  TEST_CASE("the gateway refuses what its host has not taken up by the budget, and never "
            "applies it") {
    // One host whose entitlement check takes 1.5 s for session 1: a second batch waits
    // behind it longer than its budget (two scheduler threads: the gateway keeps running).
    service_settings ss;
    ss.hosts = 1;
    ss.host.entitlement = [](const open_request& r) -> caf::error {
      if (r.session_id == 1) {
        std::this_thread::sleep_for(1500ms);
      }
      return caf::none;
    };
    session_node a{"node-a", "edge_test_data/expire", ss, 2};
    client_config cfg;
    caf::actor_system sys{cfg};
    results got;
    edge_settings es;
    es.nodes = {a.address()};
    es.deadline = 1000ms;
    es.linger = 1ms;
    edge_client client{sys, es, got.sink()};
    REQUIRE(client.wait_connected(5s) == 1);
    client.open(viewer(1), 1); // holds the host for 1.5 s
    std::this_thread::sleep_for(100ms);
    client.open(viewer(2), 2); // refused by the gateway while still queued at the host
    REQUIRE(eventually([&] { return got.size() == 2; }));
    for (auto& r : got.take()) {
      if (r.session_id == 2) {
        CHECK(sv::is(r.error, sv::errc::overloaded));
        CHECK(r.latency < 1400ms);
      }
    }
    // When the host gets to it, it is not applied.
    std::this_thread::sleep_for(1500ms);
    CHECK_FALSE(a.sessions->info(2));
  }
}
