// The scaling signal's rule: proportional to the busiest measure, still near the target,
// one more node while shedding, clamped, up at once and down only after the
// stabilization window.

#include "runtime/flow/scale_advisor.hpp"

#include <doctest/doctest.h>

using namespace std::chrono_literals;
using sv::flow::scale_advisor;
using sv::flow::scale_input;
using sv::flow::scale_settings;

namespace {

scale_settings small() {
  scale_settings s;
  s.target_utilization = 0.5;
  s.held_per_node = 1000;
  s.min_nodes = 2;
  s.max_nodes = 8;
  s.tolerance = 0.1;
  s.down_stabilization = 30s;
  return s;
}

scale_input load(uint32_t nodes, double utilization, uint64_t held, int level = 0) {
  scale_input in;
  in.nodes = nodes;
  in.utilization = utilization;
  in.held = held;
  in.level = level;
  return in;
}

} // namespace

TEST_SUITE("runtime.flow.scale") {
  TEST_CASE("the recommendation follows the busiest measure, holds near the target, and is "
            "clamped") {
    scale_advisor a{small()};
    CHECK(a.raw(load(2, 0.2, 2000)) == 4);   // held: twice the target per node
    CHECK(a.raw(load(2, 1.0, 500)) == 4);    // utilization: twice the target
    CHECK(a.raw(load(4, 0.1, 250)) == 2);    // a quarter of the target: half the nodes, min 2
    CHECK(a.raw(load(3, 0.5, 1050)) == 3);   // within 10%: no change
    CHECK(a.raw(load(3, 0.56, 0)) == 4);     // 12% over: one more
    CHECK(a.raw(load(4, 0.1, 100, 2)) == 5); // shedding (L2): one more, whatever the rest
    CHECK(a.raw(load(6, 2.0, 0)) == 8);      // at most max_nodes
    CHECK(a.raw(load(0, 0, 0)) == 2);        // at least min_nodes
  }

  TEST_CASE("up at once, down only once the whole stabilization window was lower") {
    scale_advisor a{small()};
    CHECK(a.desired(load(2, 0.2, 1000), 0s) == 2);
    CHECK(a.desired(load(2, 0.2, 3000), 1s) == 6); // a spike: at once
    // The spike is over (the orchestrator started the nodes): the raw figure drops, the
    // desired one stays until the spike's recommendation left the 30 s window.
    CHECK(a.desired(load(6, 0.2, 400), 2s) == 6);
    CHECK(a.desired(load(6, 0.2, 400), 30s) == 6);
    CHECK(a.desired(load(6, 0.2, 400), 31500ms) == 3);
    // A brief dip inside a busy period changes nothing.
    CHECK(a.desired(load(3, 0.2, 1000), 40s) == 3);
    CHECK(a.desired(load(3, 0.2, 100), 41s) == 3);
    CHECK(a.desired(load(3, 0.2, 1000), 42s) == 3);
  }
}
