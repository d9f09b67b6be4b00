// Host-defined entity types: an example entity, activation, passivation, flow control.

#include "runtime/entity/entity_type.hpp"

#include <map>
#include <mutex>

#include "runtime/testkit/testkit.hpp"

using namespace std::chrono_literals;
using sv::flow::service_class;

namespace {

// -- the example: a host application's own entity type ---------------------------------

/// "Add n views" to a title's counter.
struct add_views {
  uint64_t n = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, add_views& x) {
  return f(caf::meta::type_name("add_views"), x.n);
}

/// Where passivated counters go (a database in a real application).
struct counter_store {
  std::mutex mtx;
  std::map<uint64_t, uint64_t> saved;
  int activations = 0;
};

counter_store store;

/// Views per title: activated on the first event, saved when passivated, restored on
/// the next activation.
struct view_counter {
  using request = add_views;
  using reply = uint64_t;

  uint64_t total = 0;

  void on_activate(uint64_t key) {
    std::lock_guard<std::mutex> guard{store.mtx};
    ++store.activations;
    total = store.saved[key];
  }

  caf::expected<uint64_t> handle(uint64_t, const add_views& r) {
    if (r.n == 0) {
      return sv::make_error(sv::errc::invalid_argument, "add at least one view");
    }
    return total += r.n;
  }

  void on_passivate(uint64_t key) {
    std::lock_guard<std::mutex> guard{store.mtx};
    store.saved[key] = total;
  }
};

void reset_store() {
  std::lock_guard<std::mutex> guard{store.mtx};
  store.saved.clear();
  store.activations = 0;
}

// -- a shard on the deterministic scheduler ---------------------------------------------

struct shard_fixture : sv::testkit::fixture {
  std::shared_ptr<sv::flow::load_cell> cell = std::make_shared<sv::flow::load_cell>();
  sv::flow::flow_context flow;
  caf::actor shard;

  shard_fixture() {
    reset_store();
    shard = sys.spawn(sv::entity::detail::shard<view_counter>, cell, 60s, &flow);
  }

  ~shard_fixture() {
    caf::anon_send_exit(shard, caf::exit_reason::user_shutdown);
    sched.run();
  }

  // Sends like entity_type::send: counted, with its send time; critical ones urgent.
  caf::expected<uint64_t> add(uint64_t key, uint64_t n, bool critical = false,
                              int64_t sent_at_ns = sv::flow::steady_now_ns()) {
    cell->on_enqueue(critical);
    if (critical) {
      self->send<caf::message_priority::high>(shard, sv::entity::entity_atom::value, key,
                                              sent_at_ns, add_views{n});
    } else {
      self->send(shard, sv::entity::entity_atom::value, key, sent_at_ns, add_views{n});
    }
    sched.run();
    caf::expected<uint64_t> out = uint64_t{0};
    self->receive([&](uint64_t x) { out = x; }, [&](caf::error& err) { out = err; });
    return out;
  }

  uint64_t active() {
    cell->on_enqueue();
    self->send(shard, sv::entity::active_atom::value);
    sched.run();
    uint64_t n = 0;
    self->receive([&](uint64_t x) { n = x; });
    return n;
  }
};

} // namespace

TEST_SUITE("runtime.entity") {
  TEST_CASE_FIXTURE(shard_fixture, "a critical request's wait feeds the node's critical latency") {
    auto five_ms_ago = sv::flow::steady_now_ns() - 5'000'000;
    CHECK(*add(1, 1, false, five_ms_ago) == 1); // not critical: not counted
    CHECK(*add(1, 1, true, five_ms_ago) == 2);
    CHECK(*add(1, 1, true, 0) == 3); // unknown send time: not counted
    auto r = flow.observe(0ns, 0ns);
    CHECK(r.critical_count == 1);
    CHECK(r.sample.critical_p99 >= 5ms);
    CHECK(cell->depth() == 0);
    CHECK(cell->urgent_depth() == 0);
  }

  TEST_CASE_FIXTURE(shard_fixture, "the first message to a key activates its entity") {
    CHECK(active() == 0);
    CHECK(*add(7, 2) == 2);
    CHECK(*add(7, 3) == 5);
    CHECK(*add(8, 1) == 1);
    CHECK(active() == 2);
    CHECK(store.activations == 2);
    CHECK(cell->depth() == 0);
  }

  TEST_CASE_FIXTURE(shard_fixture, "an entity's error reaches the caller and keeps its state") {
    REQUIRE(add(7, 4));
    auto err = add(7, 0);
    REQUIRE_FALSE(err);
    CHECK(sv::is(err.error(), sv::errc::invalid_argument));
    CHECK(*add(7, 1) == 5);
  }

  TEST_CASE_FIXTURE(shard_fixture, "an idle entity is passivated, saved, and restored later") {
    REQUIRE(add(7, 4));
    advance_time(30s);
    sched.run();
    REQUIRE(add(8, 1)); // 8 is fresh, 7 has been idle for 30 s
    advance_time(36s);  // the sweep after 66 s passivates 7 (idle 66 s), not 8 (36 s)
    sched.run();
    CHECK(active() == 1);
    CHECK(store.saved.at(7) == 4);
    CHECK(*add(7, 1) == 5); // reactivated from the store
    CHECK(store.activations == 3);
  }

  TEST_CASE_FIXTURE(shard_fixture, "stopping a shard passivates every active entity") {
    REQUIRE(add(7, 4));
    REQUIRE(add(9, 6));
    caf::anon_send_exit(shard, caf::exit_reason::user_shutdown);
    sched.run();
    CHECK(store.saved.at(7) == 4);
    CHECK(store.saved.at(9) == 6);
  }

  TEST_CASE("a host application registers its entity type on a node and uses it") {
    reset_store();
    sv::config::node_settings s;
    s.name = "entity-example";
    s.cluster_port = 0;
    s.data_dir = "entity_test_data";
    sv::node n{s};
    REQUIRE(n.start().empty());
    {
      auto counters = sv::entity::entities<view_counter>(n, "view_counter", {4, 60s, 5s});
      CHECK(*counters->request(42, service_class::interactive, add_views{10}) == 10);
      CHECK_FALSE(counters->send(42, service_class::bulk, add_views{5}));
      // Same queue as the bulk message, so it comes after it (a critical request could
      // overtake the bulk message while it waits).
      CHECK(*counters->request(42, service_class::interactive, add_views{1}) == 16);
      CHECK(*counters->request(42, service_class::critical, add_views{1}) == 17);
      CHECK(*counters->request(43, service_class::interactive, add_views{1}) == 1);
      CHECK(*counters->active() == 2);
      // Over the bulk watermark the gate refuses before anything is enqueued.
      auto& cell = *counters->route(42).cell;
      for (int i = 0; i < 128; ++i) {
        cell.on_enqueue();
      }
      auto refused = counters->send(42, service_class::bulk, add_views{1});
      CHECK(sv::is(refused, sv::errc::overloaded));
      CHECK(sv::retry_after(refused).has_value());
      cell.reset();
    } // destroying the type passivates its entities
    CHECK(store.saved.at(42) == 17);
    CHECK(store.saved.at(43) == 1);
  }
}
