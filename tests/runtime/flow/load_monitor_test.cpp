// The flow context's readings and the load monitor actor, on virtual time.

#include "runtime/flow/load_monitor.hpp"

#include <string>

#include "runtime/metrics/registry.hpp"
#include "runtime/testkit/testkit.hpp"

using namespace std::chrono_literals;
using sv::flow::level;
using sv::flow::service_class;

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

struct monitor_fixture : sv::testkit::fixture {
  sv::metrics::registry reg;
  std::shared_ptr<sv::flow::flow_context> ctx;
  caf::actor monitor;

  monitor_fixture() {
    sv::flow::flow_settings s;
    s.gate.watermarks = {100, 80, 50, 20}; // depth 100 = pressure 1
    s.monitor_interval = 100ms;
    ctx = std::make_shared<sv::flow::flow_context>(s);
    monitor = sv::flow::spawn_load_monitor(sys, ctx, reg);
    sched.run();
  }

  ~monitor_fixture() {
    caf::anon_send_exit(monitor, caf::exit_reason::user_shutdown);
    sched.run();
  }

  // Lets one monitor interval pass on the virtual clock (the timer fires on time).
  void tick() {
    advance_time(100ms);
    sched.run();
  }
};

} // namespace

TEST_SUITE("runtime.flow") {
  TEST_CASE("one late timer raises nothing, a scheduler late at every reading does") {
    sv::flow::flow_settings fs;
    fs.budget.lag_alone_cap = 100; // the lag alone may raise the level all the way
    sv::flow::flow_context ctx{fs};
    for (int i = 0; i < 5; ++i) {
      ctx.observe(0ns, i * 100ms);
    }
    auto r = ctx.observe(2s, 500ms); // the OS ran something else for a moment
    CHECK(r.sample.dispatch_lag == 0ns);
    CHECK(r.after == level::l0);
    for (int i = 6; i < 9; ++i) {
      CHECK(ctx.observe(2s, i * 100ms).after
            == level::l0); // still an on-time reading among the last 5
    }
    r = ctx.observe(2s, 900ms); // five late readings in a row
    CHECK(r.sample.dispatch_lag == 2s);
    CHECK(r.after == level::l4);
  }

  TEST_CASE("readings report mailbox depth by kind and forget cells nobody holds") {
    sv::flow::flow_context ctx;
    auto a = ctx.make_cell("session_host");
    auto b = ctx.make_cell("session_host");
    auto c = ctx.make_cell("cache_shard");
    for (int i = 0; i < 6; ++i) {
      a->on_enqueue();
    }
    b->on_enqueue();
    b->on_enqueue();
    auto r = ctx.observe(0ns, 0ns);
    REQUIRE(r.depths.size() == 2);
    CHECK(r.depths[0].kind == "cache_shard");
    CHECK(r.depths[0].max == 0);
    CHECK(r.depths[1].kind == "session_host");
    CHECK(r.depths[1].cells == 2);
    CHECK(r.depths[1].max == 6);
    CHECK(r.depths[1].mean == doctest::Approx(4));
    c.reset();
    CHECK(ctx.observe(0ns, 0ns).depths.size() == 1);
  }

  TEST_CASE("utilization is handler time per worker, projected with the work the level shed") {
    sv::flow::flow_settings s;
    s.workers = 2;
    sv::flow::flow_context ctx{s};
    auto cell = ctx.make_cell("session_host");
    cell->on_served(50ms); // also its service time: 50 ms per message
    auto first = ctx.observe(0ns, 0ns);
    CHECK(first.utilization == 0); // no interval yet
    cell->on_served(50ms);
    // One bulk request refused by L1: 50 ms of work the node did not take.
    auto d = ctx.admission().admit(service_class::bulk, *cell, level::l1);
    REQUIRE(d.why == sv::flow::verdict::shed_by_level);
    // Admitted at L0: not shed work either.
    REQUIRE(ctx.admission().admit(service_class::bulk, *cell, level::l0).admitted());
    auto r = ctx.observe(0ns, 100ms); // 100 ms x 2 workers of capacity
    CHECK(r.utilization == doctest::Approx(0.25));
    CHECK(r.projected_utilization == doctest::Approx(0.5));
    auto next = ctx.observe(0ns, 200ms); // both were taken by the previous reading
    CHECK(next.utilization == 0);
    CHECK(next.projected_utilization == 0);
  }

  TEST_CASE("the critical p99 of a reading covers only the latencies since the previous one") {
    sv::flow::flow_context ctx;
    for (int i = 0; i < 98; ++i) {
      ctx.record_critical_latency(1ms);
    }
    ctx.record_critical_latency(40ms);
    ctx.record_critical_latency(40ms);
    auto r = ctx.observe(0ns, 0ns);
    // Each percentile is the upper bound of its bucket: at most 25% above the value.
    CHECK(r.sample.critical_p99 >= 40ms);
    CHECK(r.sample.critical_p99 <= 50ms);
    CHECK(r.critical_p50 >= 1ms);
    CHECK(r.critical_p50 <= 1250us);
    CHECK(r.critical_count == 100);
    CHECK(ctx.observe(0ns, 1ms).sample.critical_p99 == 0ns);
    ctx.record_critical_latency(1h); // beyond the last bucket
    CHECK(ctx.observe(0ns, 2ms).sample.critical_p99 > 20s);
  }

  TEST_CASE_FIXTURE(monitor_fixture,
                    "a mailbox over its watermark raises the level, calm lowers it") {
    auto cell = ctx->make_cell("session_host");
    for (int i = 0; i < 95; ++i) { // 0.95 of the critical watermark
      cell->on_enqueue();
    }
    tick();
    CHECK(ctx->current_level() == level::l3);
    auto text = reg.render();
    CHECK(contains(text, "sv_load_level 3\n"));
    CHECK(contains(text, "sv_flow_mailbox_depth{kind=\"session_host\",stat=\"max\"} 95\n"));
    CHECK(contains(text, "sv_flow_level_transitions_total 1\n"));
    cell->reset();
    for (int i = 0; i < 9; ++i) { // 0.9 s of calm: not enough
      tick();
    }
    CHECK(ctx->current_level() == level::l3);
    tick();
    tick();
    CHECK(ctx->current_level() == level::l0);
    CHECK(contains(reg.render(), "sv_flow_level_transitions_total 2\n"));
  }

  TEST_CASE_FIXTURE(monitor_fixture, "a late timer is measured as scheduler dispatch lag") {
    advance_time(160ms); // the tick due at 100 ms runs 60 ms late
    sched.run();
    CHECK(contains(reg.render(), "sv_flow_dispatch_lag_seconds 0.06\n"));
    // 60 ms lag > 50 ms budget, but nothing else says this node is behind (no critical
    // latency, empty mailboxes, idle workers): at most L2.
    CHECK(ctx->current_level() == level::l2);
  }

  TEST_CASE_FIXTURE(monitor_fixture, "slow critical requests raise the level") {
    for (int i = 0; i < 100; ++i) {
      ctx->record_critical_latency(150ms); // budget: 100 ms
    }
    tick();
    CHECK(ctx->current_level() == level::l4);
    auto text = reg.render();
    CHECK(contains(text, "sv_flow_critical_p99_seconds 0.1"));
    CHECK(contains(text, "sv_flow_utilization 0\n")); // workers unknown in this fixture
    CHECK(contains(text, "sv_flow_projected_utilization 0\n"));
  }

  TEST_CASE_FIXTURE(monitor_fixture, "gate decisions are exported per class") {
    sv::flow::load_cell cell;
    ctx->admission().admit(sv::flow::service_class::bulk, cell, level::l1);
    ctx->admission().admit(sv::flow::service_class::critical, cell, level::l1);
    auto text = reg.render();
    CHECK(contains(text, "sv_flow_refused_total{class=\"bulk\"} 1\n"));
    CHECK(contains(text, "sv_flow_admitted_total{class=\"critical\"} 1\n"));
  }
}
