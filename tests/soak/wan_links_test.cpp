// Whole nodes linked through WAN relays the way the soak links them: each node dials the
// other through the relay its `cluster.dial_via` names, with 20 ms of one-way delay. The
// member lists keep each node's own address; cutting the relay makes each node see the
// other down within the remote thresholds, and healing it brings both back. Loopback,
// every wait bounded.

#include <chrono>
#include <optional>
#include <string>

#include <doctest/doctest.h>

#include "tests/support/eventually.hpp"
#include "tests/support/loopback.hpp"
#include "tests/support/test_nodes.hpp"

#include "runtime/cluster/membership.hpp"
#include "runtime/node/node.hpp"
#include "soak/wan_relay.hpp"

// As in runtime/node/membership_test.cpp: CAF 0.17.6's BASP broker may leak its own
// objects when an actor system stops while a connection is being set up.
extern "C" const char* __lsan_default_suppressions() {
  return "leak:libcaf_core.so\nleak:libcaf_io.so\nleak:libcaf_openssl.so\n";
}

namespace {

using namespace std::chrono_literals;
using sv::cluster::member;
using sv::cluster::member_state;
using sv::test::eventually;
using sv::test::free_port;

std::optional<member> find(const sv::node& n, const std::string& name) {
  for (auto& m : n.members()) {
    if (m.name == name) {
      return m;
    }
  }
  return std::nullopt;
}

bool sees(const sv::node& n, const std::string& name, member_state st) {
  auto m = find(n, name);
  return m && m->state == st;
}

sv::config::node_settings in_region(const std::string& name, const std::string& region) {
  auto s = sv::test::fast_node_settings(name, "wan_links_test_data/" + name);
  s.region = region;
  s.suspect_after_ms = 400;
  s.down_after_ms = 400;
  s.remote_suspect_after_ms = 600;
  s.remote_down_after_ms = 600;
  return s;
}

} // namespace

TEST_SUITE("soak.wan_links") {
  TEST_CASE("a node dials another through the relay dial_via names, and a cut relay is a "
            "partition between their regions until it heals") {
    // A relay each way, as the soak places them: each node reaches the other only
    // through its relay (the ports are picked first, the relays need their targets).
    auto port_a = free_port();
    auto port_b = free_port();
    sv::soak::wan_relay to_a{{"127.0.0.1", port_a}, {20ms, 5ms}};
    sv::soak::wan_relay to_b{{"127.0.0.1", port_b}, {20ms, 5ms}, 0, 2};
    auto via_a = to_a.start();
    auto via_b = to_b.start();
    auto a_address = "127.0.0.1:" + std::to_string(port_a);
    auto sa = in_region("node-a", "eu-west");
    sa.cluster_port = port_a;
    sa.dial_via = {{{"127.0.0.1", port_b}, {"127.0.0.1", via_b}}};
    sv::node a{sa};
    REQUIRE(a.start().empty());
    auto sb = in_region("node-b", "us-east");
    sb.cluster_port = port_b;
    sb.seeds = {{"127.0.0.1", port_a}};
    sb.dial_via = {{{"127.0.0.1", port_a}, {"127.0.0.1", via_a}}};
    sv::node b{sb};
    REQUIRE(b.start().empty());

    REQUIRE(eventually([&] {
      return sees(a, "node-b", member_state::up) && sees(b, "node-a", member_state::up);
    }));
    CHECK(to_a.stats().connections >= 1);
    CHECK(to_a.stats().bytes > 0);
    // node-b lists node-a under node-a's own address and region, not the relay's.
    auto seen = find(b, "node-a");
    REQUIRE(seen);
    CHECK(seen->address == a_address);
    CHECK(seen->region == "eu-west");
    CHECK(find(a, "node-b")->region == "us-east");

    to_a.set_partitioned(true);
    to_b.set_partitioned(true);
    CHECK(eventually([&] {
      return sees(a, "node-b", member_state::down) && sees(b, "node-a", member_state::down);
    }));
    to_a.set_partitioned(false);
    to_b.set_partitioned(false);
    CHECK(eventually([&] {
      return sees(a, "node-b", member_state::up) && sees(b, "node-a", member_state::up);
    }));
    b.stop();
    a.stop();
  }
}
