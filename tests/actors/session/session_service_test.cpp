// The session host API from host code: blocking and async calls on a real node.

#include "actors/session/session_service.hpp"

#include <chrono>
#include <future>
#include <thread>

#include <doctest/doctest.h>

#include "actors/session/session_errc.hpp"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "runtime/flow/flow_context.hpp"
#include "runtime/node/node.hpp"
#include "runtime/wire/message_types.hpp"

using namespace std::chrono_literals;
using namespace sv::session;

namespace {

open_request viewer(uint64_t id) {
  open_request r;
  r.session_id = id;
  r.user = "user-" + std::to_string(id);
  r.content = "title-" + std::to_string(id % 3);
  r.device = "phone";
  r.region = "us-east";
  return r;
}

heartbeat_report beat(uint64_t id, int64_t position_ms) {
  heartbeat_report h;
  h.session_id = id;
  h.position_ms = position_ms;
  h.bitrate_kbps = 3000;
  return h;
}

sv::config::node_settings node_settings() {
  sv::config::node_settings s;
  s.name = "session-test";
  s.cluster_port = 0;
  s.data_dir = "session_test_data";
  s.scheduler_threads = 2;
  return s;
}

template <class T>
T wait_for(std::future<T>& f) {
  REQUIRE(f.wait_for(5s) == std::future_status::ready);
  return f.get();
}

} // namespace

TEST_SUITE("actors.session") {
  TEST_CASE("host code opens sessions and sends heartbeats through the node, blocking") {
    sv::node n{node_settings()};
    REQUIRE(n.start().empty());
    service svc{n, {4, {}, 5000ms, {}}};
    CHECK(svc.host_count() == 4);
    for (uint64_t id = 1; id <= 10; ++id) {
      auto opened = svc.open(viewer(id));
      REQUIRE(opened);
      CHECK(*opened == id);
    }
    CHECK_FALSE(svc.heartbeat(beat(3, 42'000)));
    CHECK_FALSE(svc.apply({3, command_kind::seek, 50'000}));
    auto s = svc.info(3);
    REQUIRE(s);
    CHECK(s->position_ms == 50'000);
    CHECK(s->heartbeats == 1);
    CHECK(s->content == "title-0");
    CHECK(sv::is(svc.heartbeat(beat(11, 0)), sv::session::session_errc::unknown_session));
    CHECK(sv::is(svc.info(11).error(), sv::session::session_errc::unknown_session));
    auto total = svc.open_sessions();
    REQUIRE(total);
    CHECK(*total == 10);
  }

  TEST_CASE("host code sends heartbeats and opens sessions asynchronously") {
    sv::node n{node_settings()};
    REQUIRE(n.start().empty());
    service svc{n};
    std::promise<caf::expected<uint64_t>> opened;
    svc.open_async(viewer(5), [&](caf::expected<uint64_t> x) { opened.set_value(std::move(x)); });
    auto f = opened.get_future();
    auto id = wait_for(f);
    REQUIRE(id);
    CHECK(*id == 5);
    CHECK_FALSE(svc.heartbeat_async(beat(5, 1000))); // fire and forget: enqueued
    std::promise<caf::error> beaten;
    svc.heartbeat_async(beat(5, 2000), [&](caf::error err) { beaten.set_value(std::move(err)); });
    auto b = beaten.get_future();
    CHECK_FALSE(wait_for(b));
    std::promise<caf::error> unknown;
    svc.heartbeat_async(beat(6, 0), [&](caf::error err) { unknown.set_value(std::move(err)); });
    auto u = unknown.get_future();
    CHECK(sv::is(wait_for(u), sv::session::session_errc::unknown_session));
    auto s = svc.info(5); // both heartbeats arrived, in order
    REQUIRE(s);
    CHECK(s->heartbeats == 2);
    CHECK(s->position_ms == 2000);
  }

  TEST_CASE("critical calls beyond the adaptive concurrency limit are refused, not queued") {
    sv::node n{node_settings()};
    REQUIRE(n.start().empty());
    service_settings s;
    s.hosts = 2;
    s.critical_limit.initial_limit = 1; // one critical call in flight at a time
    s.critical_limit.min_limit = 1;
    s.critical_limit.max_limit = 1;
    // Each open takes 200 ms in the entitlement hook, so the first is still in flight
    // when the second arrives.
    s.host.entitlement = [](const open_request&) -> caf::error {
      std::this_thread::sleep_for(200ms);
      return caf::none;
    };
    service svc{n, s};
    CHECK(svc.critical_limit() == 1);
    std::promise<caf::expected<uint64_t>> first;
    svc.open_async(viewer(1), [&](caf::expected<uint64_t> x) { first.set_value(std::move(x)); });
    std::promise<caf::expected<uint64_t>> second;
    svc.open_async(viewer(2), [&](caf::expected<uint64_t> x) { second.set_value(std::move(x)); });
    auto f2 = second.get_future();
    auto refused = wait_for(f2); // answered at once, on this thread
    REQUIRE_FALSE(refused);
    CHECK(sv::is(refused.error(), sv::errc::overloaded));
    CHECK(sv::retry_after(refused.error()).has_value());
    auto f1 = first.get_future();
    CHECK(wait_for(f1));
    CHECK(svc.open(viewer(2))); // the slot is free again
    CHECK(svc.critical_limit_refusals() == 1);
  }

  TEST_CASE("the host API answers overloaded, with a hint, when the node sheds the class") {
    caf::actor_system_config cfg;
    sv::wire::register_message_types(cfg);
    cfg.set("scheduler.max-threads", size_t{1});
    caf::actor_system sys{cfg};
    sv::flow::flow_settings fs;
    fs.budget.lag_alone_cap = 100; // the lag alone may raise the level all the way
    sv::flow::flow_context flow{fs};
    service svc{sys, flow, {2, {}, 5000ms, {}}};
    REQUIRE(svc.open(viewer(1)));
    // A scheduler 2 s late: pressure 40, straight to L4 (critical only).
    REQUIRE(flow.observe(2s, 0ns).after == sv::flow::level::l4);
    auto refused = svc.info(1);
    REQUIRE_FALSE(refused);
    CHECK(sv::is(refused.error(), sv::errc::overloaded));
    CHECK(sv::retry_after(refused.error()).has_value());
    CHECK(sv::is(svc.apply({1, command_kind::pause, 0}), sv::errc::overloaded));
    // Critical work still goes through at L4.
    CHECK_FALSE(svc.heartbeat(beat(1, 100)));
    CHECK(svc.open(viewer(2)));
    CHECK_FALSE(svc.apply({2, command_kind::close, 0}));
    CHECK(flow.admission().refused(sv::flow::service_class::interactive) == 2);
  }
}
