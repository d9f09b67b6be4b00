// Whole nodes (actor system + middleman + endpoint + metrics) in one process, talking
// over loopback. Every wait is bounded.

#include "runtime/node/node.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <doctest/doctest.h>

#include "tests/support/eventually.hpp"

#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/scoped_actor.hpp"
#include "runtime/cluster/client.hpp"
#include "runtime/cluster/cluster.pb.h"
#include "runtime/cluster/peer_table.hpp"
#include "runtime/metrics/registry.hpp"
#include "tests/support/loopback.hpp"

namespace {

using namespace std::chrono_literals;

sv::config::node_settings settings_for(const std::string& name, uint16_t port = 0) {
  sv::config::node_settings s;
  s.name = name;
  s.cluster_port = port;
  s.data_dir = "node_test_data/" + name;
  s.scheduler_threads = 1;
  s.heartbeat_interval_ms = 100;
  s.connection_timeout_ms = 1000;
  s.seed_retry_ms = 50;
  s.log_level = "warn";
  return s;
}

using sv::test::eventually;

sv::config::seed_address seed_of(const sv::node& n) {
  return {"127.0.0.1", n.cluster_port()};
}

} // namespace

TEST_SUITE("runtime.node") {

  TEST_CASE("two nodes joined through a seed see each other by name") {
    sv::node a{settings_for("node-a")};
    REQUIRE(a.start().empty());
    auto sb = settings_for("node-b");
    sb.seeds = {seed_of(a)};
    sv::node b{sb};
    REQUIRE(b.start().empty());
    REQUIRE(eventually([&] { return a.status().peers == 1 && b.status().peers == 1; }));
    CHECK(a.peers()[0].name == "node-b");
    CHECK(b.peers()[0].name == "node-a");
    CHECK(b.peers()[0].address == "127.0.0.1:" + std::to_string(a.cluster_port()));
    CHECK(b.peers()[0].version == sv::version());
  }

  TEST_CASE("three nodes with full seed lists form one mesh") {
    sv::node a{settings_for("node-a")};
    REQUIRE(a.start().empty());
    auto sb = settings_for("node-b");
    sb.seeds = {seed_of(a)};
    sv::node b{sb};
    REQUIRE(b.start().empty());
    auto sc = settings_for("node-c");
    sc.seeds = {seed_of(a), seed_of(b)};
    sv::node c{sc};
    REQUIRE(c.start().empty());
    CHECK(eventually(
        [&] { return a.status().peers == 2 && b.status().peers == 2 && c.status().peers == 2; }));
  }

  TEST_CASE("a stopped seed leaves the peer table and is dialed again when it returns") {
    auto a = std::make_unique<sv::node>(settings_for("node-a"));
    REQUIRE(a->start().empty());
    auto port = a->cluster_port();
    auto sb = settings_for("node-b");
    sb.seeds = {{"127.0.0.1", port}};
    sv::node b{sb};
    REQUIRE(b.start().empty());
    REQUIRE(eventually([&] { return b.status().peers == 1; }));
    a.reset(); // stops node-a: its connection closes
    REQUIRE(eventually([&] { return b.status().peers == 0; }));
    a = std::make_unique<sv::node>(settings_for("node-a", port));
    REQUIRE(a->start().empty());
    CHECK(eventually([&] { return b.status().peers == 1 && a->status().peers == 1; }));
  }

  TEST_CASE("a node that uses a live peer's name is refused and counted") {
    sv::node a{settings_for("twin")};
    REQUIRE(a.start().empty());
    auto sb = settings_for("twin");
    sb.seeds = {seed_of(a)};
    sv::node b{sb};
    REQUIRE(b.start().empty());
    auto refused = [&] {
      return a.metrics().counter_metric("sv_cluster_peer_refusals_total", "").value() > 0;
    };
    CHECK(eventually(refused));
    CHECK(a.status().peers == 0);
    CHECK(b.status().peers == 0);
  }

  TEST_CASE("start reports a cluster port that is taken and leaves nothing running") {
    sv::node a{settings_for("node-a")};
    REQUIRE(a.start().empty());
    sv::node b{settings_for("node-b", a.cluster_port())};
    auto err = b.start();
    CHECK(err.find("cannot publish the cluster endpoint") != std::string::npos);
    CHECK_FALSE(b.status().ready);
    CHECK(b.cluster_port() == 0);
  }

  TEST_CASE("the metrics endpoint serves /metrics, /healthz and /readyz") {
    auto s = settings_for("node-m");
    s.metrics_port = 0; // disabled: nothing listens
    {
      sv::node quiet{s};
      REQUIRE(quiet.start().empty());
      CHECK(quiet.metrics_port() == 0);
    }
    s.metrics_port = sv::test::free_port();
    s.region = "eu-west";
    sv::node n{s};
    REQUIRE(n.start().empty());
    auto metrics = sv::test::http_get(n.metrics_port(), "/metrics");
    CHECK(metrics.rfind("HTTP/1.1 200", 0) == 0);
    // The node's identity, its region included (labels in name order; no zone: empty).
    CHECK(metrics.find("sv_node_info{node=\"node-m\",region=\"eu-west\",version=\"")
          != std::string::npos);
    CHECK(metrics.find("sv_cluster_peers 0\n") != std::string::npos);
    CHECK(sv::test::http_get(n.metrics_port(), "/healthz").rfind("HTTP/1.1 200", 0) == 0);
    CHECK(sv::test::http_get(n.metrics_port(), "/readyz").rfind("HTTP/1.1 200", 0) == 0);
    CHECK(sv::test::http_get(n.metrics_port(), "/other").rfind("HTTP/1.1 404", 0) == 0);
  }

} // TEST_SUITE

namespace {

// A process outside the cluster, prepared as the library says (configure_client).
struct client_config : caf::actor_system_config {
  client_config() {
    sv::cluster::configure_client(*this, 100ms);
  }
};

bool members_answer(caf::actor_system& sys, const sv::cluster::endpoint_actor& ep) {
  streamverse::v1::MembersRequest req;
  req.set_requester("test");
  caf::scoped_actor self{sys};
  bool ok = false;
  self->request(ep, caf::duration{std::chrono::seconds{2}}, req)
      .receive([&](const streamverse::v1::Gossip&) { ok = true; }, [&](caf::error&) {});
  return ok;
}

} // namespace

TEST_SUITE("runtime.node") {
  TEST_CASE("a client idle for longer than the node's connection timeout keeps its handles") {
    auto s = settings_for("node-idle");
    s.connection_timeout_ms = 400;
    sv::node a{s};
    REQUIRE(a.start().empty());
    client_config cfg;
    caf::actor_system sys{cfg};
    auto ep = sv::cluster::connect_endpoint(sys, "127.0.0.1", a.cluster_port(), 2s);
    REQUIRE(ep);
    CHECK(members_answer(sys, *ep));
    // Idle for more than three connection timeouts: without the client's heartbeats the
    // node closes the connection and CAF drops the next request without an error.
    std::this_thread::sleep_for(1300ms);
    CHECK(members_answer(sys, *ep));
  }
}

#include "runtime/node/readiness.hpp"

TEST_CASE("a store that fails to write makes the node unready until a write succeeds") {
  sv::readiness r;
  CHECK(r.unready().empty());
  CHECK(sv::readyz_body(true, r.unready()) == "ready\n");
  r.mark_unready("positions", "database or disk is full");
  r.mark_unready("catalog", "disk I/O error");
  CHECK(r.any_unready());
  CHECK(r.failures() == 2);
  CHECK(sv::readyz_body(true, r.unready())
        == "not ready\ncatalog: disk I/O error\npositions: database or disk is full\n");
  r.mark_ready("positions");
  CHECK(r.unready().size() == 1);
  r.mark_ready("catalog");
  CHECK_FALSE(r.any_unready());
  CHECK(sv::readyz_body(true, r.unready()) == "ready\n");
  CHECK(sv::readyz_body(false, r.unready()) == "not ready\n");
}
