// The pure decision logic of flow control: classes, levels, the gate, the degrader and
// the adaptive concurrency limit. Time is passed in, so nothing here sleeps.

#include <chrono>

#include <doctest/doctest.h>

#include "runtime/flow/adaptive_limit.hpp"
#include "runtime/flow/degrader.hpp"
#include "runtime/flow/gate.hpp"
#include "runtime/flow/level.hpp"
#include "runtime/flow/load_cell.hpp"
#include "runtime/flow/service_class.hpp"

using namespace std::chrono_literals;
using sv::flow::level;
using sv::flow::service_class;
using sv::flow::verdict;

TEST_SUITE("runtime.flow") {
  TEST_CASE("service classes print and parse by name") {
    for (auto c : sv::flow::all_service_classes) {
      CHECK(sv::flow::parse_service_class(sv::flow::to_string(c)) == c);
    }
    CHECK(sv::flow::to_string(service_class::best_effort) == "best_effort");
    CHECK_FALSE(sv::flow::parse_service_class("urgent").has_value());
  }

  TEST_CASE("the default level policy sheds bulk, then best effort, then interactive") {
    auto p = sv::flow::default_level_policy();
    CHECK(p.valid());
    CHECK(sv::flow::to_string(level::l3) == "L3");
    for (auto c : sv::flow::all_service_classes) {
      CHECK_FALSE(p.refuses(level::l0, c));
      CHECK_FALSE(p.refuses(level::l4, service_class::critical));
    }
    CHECK(p.refuses(level::l1, service_class::bulk));
    CHECK_FALSE(p.refuses(level::l1, service_class::best_effort));
    CHECK(p.refuses(level::l2, service_class::best_effort));
    CHECK_FALSE(p.refuses(level::l3, service_class::interactive));
    CHECK(p.refuses(level::l4, service_class::interactive));
  }

  TEST_CASE("a level policy that sheds critical or sheds less than the level below is invalid") {
    auto p = sv::flow::default_level_policy();
    p.sheds[2][sv::flow::index(service_class::critical)] = true;
    CHECK_FALSE(p.valid());
    auto q = sv::flow::default_level_policy();
    q.sheds[3][sv::flow::index(service_class::bulk)] = false; // L2 sheds bulk, L3 not
    CHECK_FALSE(q.valid());
  }

  TEST_CASE("a load cell counts enqueues and dequeues and never goes negative") {
    sv::flow::load_cell cell;
    cell.on_enqueue();
    cell.on_enqueue();
    CHECK(cell.depth() == 2);
    cell.on_dequeue();
    cell.on_dequeue();
    cell.on_dequeue(); // a message that bypassed the counted path
    CHECK(cell.depth() == 0);
    cell.on_enqueue(true);
    cell.on_enqueue(false);
    CHECK(cell.depth() == 2);
    CHECK(cell.urgent_depth() == 1);
    cell.on_dequeue(true);
    cell.on_dequeue(true); // urgent count clamps at zero as well
    CHECK(cell.urgent_depth() == 0);
    CHECK(cell.depth() == 0);
    cell.on_enqueue(true);
    cell.reset();
    CHECK(cell.depth() == 0);
    CHECK(cell.urgent_depth() == 0);
  }

  TEST_CASE("a critical backlog over its budget holds every lower class back") {
    sv::flow::gate_settings s;
    s.critical_backlog_budget = 1000us;
    sv::flow::gate g{s};
    // 100 us per message: 10 queued critical messages are 1 ms of work.
    for (auto c : {service_class::interactive, service_class::best_effort, service_class::bulk}) {
      INFO(sv::flow::to_string(c));
      CHECK(g.check(c, 9, level::l0, 100us, 9).admitted());
      auto d = g.check(c, 10, level::l0, 100us, 10);
      CHECK(d.why == verdict::critical_first);
      CHECK(d.retry_after == s.base_retry);
    }
    CHECK(g.check(service_class::critical, 10, level::l0, 100us, 10).admitted());
    CHECK(g.check(service_class::bulk, 10, level::l0, 0ns, 10).admitted()); // unknown time
    s.critical_backlog_budget = 0us;                                        // the rule switched off
    sv::flow::gate off{s};
    CHECK(off.check(service_class::bulk, 10, level::l0, 100us, 10).admitted());
  }

  TEST_CASE("each class is admitted below its watermark and refused at it") {
    sv::flow::gate_settings s;
    s.watermarks = {40, 30, 20, 10};
    sv::flow::gate g{s};
    for (auto c : sv::flow::all_service_classes) {
      auto wm = static_cast<int64_t>(s.watermarks[sv::flow::index(c)]);
      INFO(sv::flow::to_string(c));
      CHECK(g.check(c, wm - 1, level::l0).admitted());
      auto d = g.check(c, wm, level::l0);
      CHECK(d.why == verdict::over_watermark);
      CHECK(d.retry_after == s.base_retry);
    }
  }

  TEST_CASE("the retry hint grows with the overshoot and is capped") {
    sv::flow::gate_settings s;
    s.watermarks = {100, 100, 100, 100};
    s.base_retry = 50ms;
    s.max_retry = 400ms;
    sv::flow::gate g{s};
    CHECK(g.check(service_class::bulk, 200, level::l0).retry_after == 100ms);
    CHECK(g.check(service_class::bulk, 350, level::l0).retry_after == 175ms);
    CHECK(g.check(service_class::bulk, 100'000, level::l0).retry_after == 400ms);
  }

  TEST_CASE("a watermark of zero behaves like one") {
    sv::flow::gate_settings s;
    s.watermarks = {0, 0, 0, 0};
    sv::flow::gate g{s};
    CHECK(g.check(service_class::critical, 0, level::l0).admitted());
    CHECK_FALSE(g.check(service_class::critical, 1, level::l0).admitted());
  }

  TEST_CASE("levels shed their classes whatever the depth, and never critical") {
    sv::flow::gate_settings s;
    s.level_retry = 250ms;
    s.max_retry = 900ms;
    sv::flow::gate g{s};
    auto d = g.check(service_class::bulk, 0, level::l1);
    CHECK(d.why == verdict::shed_by_level);
    CHECK(d.retry_after == 250ms);
    CHECK(g.check(service_class::best_effort, 0, level::l1).admitted());
    CHECK(g.check(service_class::best_effort, 0, level::l2).retry_after == 500ms);
    CHECK(g.check(service_class::interactive, 0, level::l4).retry_after == 900ms); // capped
    CHECK(g.check(service_class::critical, 0, level::l4).admitted());
  }

  TEST_CASE("slow messages lower the watermarks of every class but critical") {
    sv::flow::gate_settings s;
    s.watermarks = {1000, 500, 200, 100};
    s.queue_delay_budget = 20ms;
    sv::flow::gate g{s};
    // 100 us per message: 20 ms of budget fits 200 messages.
    CHECK(g.effective_watermark(service_class::interactive, 100us) == 200);
    CHECK(g.effective_watermark(service_class::bulk, 100us) == 100); // its own is lower
    CHECK(g.effective_watermark(service_class::critical, 100us) == 1000);
    CHECK(g.effective_watermark(service_class::interactive, 0ns) == 500); // unknown
    CHECK(g.effective_watermark(service_class::interactive, 1s) == 1);    // never below 1
    CHECK_FALSE(g.check(service_class::interactive, 200, level::l0, 100us).admitted());
    CHECK(g.check(service_class::interactive, 199, level::l0, 100us).admitted());
    s.queue_delay_budget = 0ms; // the cap switched off
    sv::flow::gate uncapped{s};
    CHECK(uncapped.effective_watermark(service_class::interactive, 1s) == 500);
  }

  TEST_CASE("a load cell learns the owner's service time and the gate uses it") {
    sv::flow::load_cell cell;
    CHECK(cell.service_time() == 0ns);
    cell.on_served(160us);
    CHECK(cell.service_time() == 160us); // the first sample is taken as it is
    cell.on_served(0us);
    CHECK(cell.service_time() == 150us); // then 1/16 of each new sample
    cell.take_busy();                    // only what the handler below reports from here on
    auto outer_start = std::chrono::steady_clock::now();
    {
      cell.on_enqueue();
      sv::flow::serving s{cell}; // takes the message off the count at once
      CHECK(cell.depth() == 0);
      CHECK(s.started() <= std::chrono::steady_clock::now());
      CHECK_FALSE(s.urgent());
      CHECK(s.waited_since(0) == 0ns); // unknown send time
      CHECK(s.waited_since(sv::flow::steady_now_ns() - 3'000'000'000) > 2s);
    }
    auto outer = std::chrono::steady_clock::now() - outer_start;
    // The handler's time was reported on exit, once, and averaged in (whatever it took:
    // a sanitizer build on a busy machine may take longer than a release build).
    auto took = cell.take_busy();
    CHECK(took > 0ns);
    CHECK(took <= outer);
    CHECK(cell.service_time() == 150us + (took - 150us) / 16);
    sv::flow::gate_settings gs;
    gs.watermarks = {1000, 500, 200, 100};
    gs.queue_delay_budget = 1ms;
    sv::flow::gate g{gs};
    for (int i = 0; i < 3; ++i) {
      cell.on_served(1ms); // converge towards 1 ms per message: budget fits 1 message
    }
    for (int i = 0; i < 64; ++i) {
      cell.on_served(1ms);
    }
    cell.on_enqueue();
    CHECK_FALSE(g.admit(service_class::interactive, cell, level::l0).admitted());
    CHECK(g.admit(service_class::critical, cell, level::l0).admitted());
  }

  TEST_CASE("the gate counts admissions and refusals per class") {
    sv::flow::gate_settings s;
    s.watermarks = {10, 10, 10, 1};
    sv::flow::gate g{s};
    sv::flow::load_cell cell;
    CHECK(g.admit(service_class::bulk, cell, level::l0).admitted());
    cell.on_enqueue();
    CHECK_FALSE(g.admit(service_class::bulk, cell, level::l0).admitted());
    CHECK(g.admit(service_class::critical, cell, level::l0).admitted());
    CHECK_FALSE(g.admit(service_class::best_effort, cell, level::l2).admitted());
    CHECK(g.admitted(service_class::bulk) == 1);
    CHECK(g.refused(service_class::bulk) == 1);
    CHECK(g.admitted(service_class::critical) == 1);
    CHECK(g.refused(service_class::best_effort) == 1);
    CHECK(g.settings().watermarks[3] == 1);
  }

  TEST_CASE("pressure is the worst signal relative to its budget") {
    sv::flow::pressure_budget b; // 50 ms lag, 100 ms critical p99
    CHECK(sv::flow::pressure({0.2, 10ms, 10ms}, b) == doctest::Approx(0.2));
    CHECK(sv::flow::pressure({0.2, 75ms, 60ms}, b) == doctest::Approx(1.5));
    CHECK(sv::flow::pressure({0.2, 10ms, 90ms}, b) == doctest::Approx(0.9));
    CHECK(sv::flow::pressure({-3, -1ms, 0ms}, b) == 0);
    CHECK(sv::flow::pressure({0.1, 10s, 10s}, {0ns, 0ns}) == doctest::Approx(0.1));
  }

  TEST_CASE("a refusal made by a caller's own rule is counted with the class's refusals") {
    sv::flow::gate g;
    g.count_refusal(service_class::critical);
    CHECK(g.refused(service_class::critical) == 1);
    CHECK(g.admitted(service_class::critical) == 0);
  }

  TEST_CASE("a late timer alone sheds bulk and best-effort work, never interactive or playback") {
    // The OS did not run the node's threads on time: a noisy neighbour or a profiler, as
    // long as nothing else says the node itself is behind.
    sv::flow::pressure_budget b; // 50 ms lag, 100 ms critical p99, cap 0.8 (L2)
    CHECK(sv::flow::pressure({0.2, 75ms, 10ms}, b) == doctest::Approx(0.8));
    CHECK(sv::flow::pressure({0.0, 500ms, 0ms}, b) == doctest::Approx(0.8));
    // Corroborated, it counts in full: critical p99 at half its budget, a mailbox at half
    // the critical watermark, or the workers busy.
    CHECK(sv::flow::pressure({0.2, 75ms, 50ms}, b) == doctest::Approx(1.5));
    CHECK(sv::flow::pressure({0.5, 75ms, 10ms}, b) == doctest::Approx(1.5));
    CHECK(sv::flow::pressure({0.2, 75ms, 10ms, 0.5}, b) == doctest::Approx(1.5));
    CHECK(sv::flow::pressure({0.2, 75ms, 10ms, 0.49}, b) == doctest::Approx(0.8));
    // A cap at or above the L4 entry point turns the rule off.
    b.lag_alone_cap = 100;
    CHECK(sv::flow::pressure({0.2, 75ms, 10ms}, b) == doctest::Approx(1.5));
    sv::flow::degrader d;
    b.lag_alone_cap = 0.8;
    CHECK(d.update(sv::flow::pressure({0.0, 500ms, 0ms}, b), 0ms) == level::l2);
  }

  TEST_CASE("the degrader escalates at once to the highest level the pressure reaches") {
    sv::flow::degrader d;
    CHECK(d.update(0.5, 0ms) == level::l0);
    CHECK(d.update(0.95, 100ms) == level::l3);
    CHECK(d.transitions() == 1);
    CHECK(d.update(1.4, 200ms) == level::l4);
    CHECK(d.current() == level::l4);
    CHECK(d.transitions() == 2);
  }

  TEST_CASE("the degrader steps down only after the pressure stayed low for the hold time") {
    sv::flow::degrader d; // enter L1 at 0.7, L2 at 0.8; gap 0.15; hold 1 s
    REQUIRE(d.update(0.85, 0ms) == level::l2);
    CHECK(d.update(0.7, 100ms) == level::l2);  // 0.7 >= 0.8 - 0.15: still justified
    CHECK(d.update(0.3, 200ms) == level::l2);  // calm starts
    CHECK(d.update(0.3, 1100ms) == level::l2); // 0.9 s calm: not yet
    CHECK(d.update(0.3, 1200ms) == level::l0); // 1 s calm: straight to what 0.3 justifies
    CHECK(d.transitions() == 2);
    CHECK(d.settings().hold == 1s);
  }

  TEST_CASE("the degrader keeps its level while the node could not take the shed work back") {
    sv::flow::degrader d; // hold 1 s, exit_utilization 0.9
    REQUIRE(d.update(0.85, 0ms, 0.95) == level::l2);
    // Shedding worked: pressure is low, but with the shed work the node would be 130% busy.
    for (auto t = 100ms; t <= 3s; t += 100ms) {
      CHECK(d.update(0.3, t, 1.3) == level::l2);
    }
    // The spike is over (the node would be 50% busy): after the hold it steps down.
    CHECK(d.update(0.3, 3100ms, 0.5) == level::l2);
    CHECK(d.update(0.3, 4100ms, 0.5) == level::l0);
    CHECK(d.transitions() == 2);
    sv::flow::degrader_settings s;
    s.exit_utilization = 0; // condition off: pressure alone decides
    sv::flow::degrader off{s};
    REQUIRE(off.update(0.85, 0ms) == level::l2);
    off.update(0.3, 100ms, 5.0);
    CHECK(off.update(0.3, 1100ms, 5.0) == level::l0);
  }

  TEST_CASE("a pressure spike during the hold restarts it") {
    sv::flow::degrader d;
    REQUIRE(d.update(0.75, 0ms) == level::l1);
    d.update(0.2, 100ms);                      // calm from 100 ms
    d.update(0.65, 600ms);                     // back within the gap: calm broken
    CHECK(d.update(0.2, 1200ms) == level::l1); // calm again from 1200 ms
    CHECK(d.update(0.2, 2100ms) == level::l1);
    CHECK(d.update(0.2, 2200ms) == level::l0);
  }

  TEST_CASE("a signal oscillating around an entry point does not make the degrader flap") {
    sv::flow::degrader d;
    for (int i = 0; i < 100; ++i) {
      auto p = i % 2 == 0 ? 0.72 : 0.66; // +-0.03 around L1's entry point 0.7
      d.update(p, std::chrono::milliseconds{100 * i});
    }
    CHECK(d.current() == level::l1);
    CHECK(d.transitions() == 1);
  }

  TEST_CASE("the adaptive limit grows while latency stays at its normal level") {
    sv::flow::adaptive_limit lim;
    auto start = lim.limit();
    for (int i = 0; i < 50; ++i) {
      lim.on_sample(2ms, lim.limit());
    }
    CHECK(lim.limit() > start);
    CHECK(lim.long_rtt_ns() == doctest::Approx(2e6));
  }

  TEST_CASE("the adaptive limit shrinks when latency climbs above its long-term average") {
    sv::flow::adaptive_limit lim;
    for (int i = 0; i < 200; ++i) {
      lim.on_sample(2ms, lim.limit());
    }
    auto before = lim.limit();
    for (int i = 0; i < 20; ++i) {
      lim.on_sample(8ms, lim.limit()); // queueing: 4x the normal latency
    }
    CHECK(lim.limit() < before / 2);
  }

  TEST_CASE("samples taken with little in flight leave the adaptive limit alone") {
    sv::flow::adaptive_limit lim;
    auto start = lim.limit();
    for (int i = 0; i < 50; ++i) {
      lim.on_sample(50ms, 1);
    }
    CHECK(lim.limit() == start);
  }

  TEST_CASE("the adaptive limit stays within its bounds") {
    sv::flow::adaptive_limit_settings s;
    s.initial_limit = 1000; // above max: clamped
    s.min_limit = 4;
    s.max_limit = 16;
    sv::flow::adaptive_limit lim{s};
    CHECK(lim.limit() == 16);
    for (int i = 0; i < 100; ++i) {
      lim.on_sample(1ms, 100);
    }
    CHECK(lim.limit() == 16);
    for (int i = 0; i < 100; ++i) {
      lim.on_sample(std::chrono::milliseconds{10 * (i + 1)}, 100);
    }
    CHECK(lim.limit() == 4);
  }

  TEST_CASE("the long-term latency recovers after a slow period") {
    sv::flow::adaptive_limit lim;
    for (int i = 0; i < 100; ++i) {
      lim.on_sample(100ms, 0);
    }
    auto slow = lim.long_rtt_ns();
    for (int i = 0; i < 100; ++i) {
      lim.on_sample(1ms, 0); // 100x faster: the average decays by 5% per sample
    }
    CHECK(lim.long_rtt_ns() < slow * 0.05);
  }

  TEST_CASE("slots are handed out up to the adaptive limit and returned on release") {
    sv::flow::adaptive_limit_settings s;
    s.initial_limit = 2;
    s.min_limit = 2;
    s.max_limit = 2;
    sv::flow::adaptive_limit lim{s};
    CHECK(lim.try_acquire());
    CHECK(lim.try_acquire());
    CHECK_FALSE(lim.try_acquire());
    CHECK(lim.inflight() == 2);
    lim.release(1ms);
    CHECK(lim.inflight() == 1);
    CHECK(lim.try_acquire());
    lim.release(1ms);
    lim.release(1ms);
    lim.release(1ms); // more releases than acquisitions do not underflow
    CHECK(lim.inflight() == 0);
  }
}
