// The flow-controlled send path on the deterministic scheduler.

#include "runtime/flow/send.hpp"

#include <vector>

#include "runtime/testkit/testkit.hpp"

using namespace std::chrono_literals;
using sv::flow::service_class;

namespace {

using work_atom = caf::atom_constant<caf::atom("work")>;
using dump_atom = caf::atom_constant<caf::atom("dump")>;

struct recorder_state {
  std::vector<int> order;
  std::shared_ptr<sv::flow::load_cell> cell;
};

// An entity actor: takes its message off the load cell first, then records it.
caf::behavior recorder(caf::stateful_actor<recorder_state>* self,
                       std::shared_ptr<sv::flow::load_cell> cell) {
  self->state.cell = std::move(cell);
  return {
      [=](work_atom, int id) {
        sv::flow::serving served{*self->state.cell, self};
        self->state.order.push_back(id);
        return id;
      },
      [=](dump_atom) { return self->state.order; },
  };
}

struct send_fixture : sv::testkit::fixture {
  sv::flow::flow_context ctx{[] {
    sv::flow::flow_settings s;
    s.gate.watermarks = {1000, 100, 50, 20};
    return s;
  }()};
  sv::flow::target t;

  send_fixture() {
    t.cell = ctx.make_cell("recorder");
    t.handle = sys.spawn(recorder, t.cell);
  }

  std::vector<int> processed() {
    self->send(t.handle, dump_atom::value);
    sched.run();
    std::vector<int> out;
    self->receive([&](const std::vector<int>& xs) { out = xs; });
    return out;
  }
};

} // namespace

TEST_SUITE("runtime.flow") {
  TEST_CASE_FIXTURE(send_fixture, "a critical message overtakes a full queue of bulk messages") {
    for (int i = 1; i <= 20; ++i) { // exactly the bulk watermark
      CHECK_FALSE(sv::flow::send(ctx, t, service_class::bulk, work_atom::value, i));
    }
    CHECK(t.cell->depth() == 20);
    CHECK(sv::flow::send(ctx, t, service_class::critical, work_atom::value, 100) == caf::none);
    sched.run();
    auto order = processed();
    REQUIRE(order.size() == 21);
    CHECK(order.front() == 100);
    CHECK(order[1] == 1);
    CHECK(order.back() == 20);
    CHECK(t.cell->depth() == 0);
    CHECK(t.cell->urgent_depth() == 0);
  }

  TEST_CASE_FIXTURE(send_fixture, "a target with a critical backlog takes no lower-class work") {
    t.cell->on_served(100us); // 100 us per message: the 1 ms budget fits 10 critical ones
    for (int i = 0; i < 9; ++i) {
      REQUIRE_FALSE(sv::flow::send(ctx, t, service_class::critical, work_atom::value, i));
    }
    CHECK(t.cell->urgent_depth() == 9);
    CHECK_FALSE(sv::flow::send(ctx, t, service_class::bulk, work_atom::value, 50));
    CHECK_FALSE(sv::flow::send(ctx, t, service_class::critical, work_atom::value, 9));
    // Ten critical messages (1 ms of work) wait: every lower class is refused...
    for (auto c : {service_class::interactive, service_class::best_effort, service_class::bulk}) {
      auto err = sv::flow::send(ctx, t, c, work_atom::value, 99);
      CHECK(sv::is(err, sv::errc::overloaded));
      CHECK(sv::retry_after(err) == 50ms);
    }
    // ...critical work is not...
    CHECK_FALSE(sv::flow::send(ctx, t, service_class::critical, work_atom::value, 10));
    // ...and once the backlog is served, lower classes are welcome again.
    sched.run();
    CHECK(t.cell->urgent_depth() == 0);
    CHECK_FALSE(sv::flow::send(ctx, t, service_class::bulk, work_atom::value, 51));
    auto order = processed();
    CHECK(order.size() == 13);
    CHECK(std::find(order.begin(), order.end(), 99) == order.end());
  }

  TEST_CASE_FIXTURE(send_fixture, "a critical request with a timeout overtakes bulk messages too") {
    for (int i = 1; i <= 20; ++i) {
      REQUIRE_FALSE(sv::flow::send(ctx, t, service_class::bulk, work_atom::value, i));
    }
    // Admitted by the gate, then sent as a request with a deadline (CAF 0.17.6 would put
    // request<high>(dest, std::chrono::duration, ...) into the normal queue).
    REQUIRE(sv::flow::admit(ctx, t, service_class::critical).admitted());
    CHECK(t.cell->urgent_depth() == 1);
    auto handle = sv::flow::request(self.ptr(), t.handle, service_class::critical, 1000ms,
                                    work_atom::value, 100);
    sched.run();
    int reply = 0;
    handle.receive([&](int x) { reply = x; }, [](caf::error&) {});
    CHECK(reply == 100);
    auto order = processed();
    REQUIRE(order.size() == 21);
    CHECK(order.front() == 100);
    CHECK(t.cell->depth() == 0);
    CHECK(t.cell->urgent_depth() == 0);
  }

  TEST_CASE_FIXTURE(send_fixture, "a send over the class's watermark is refused and not enqueued") {
    for (int i = 0; i < 20; ++i) {
      REQUIRE_FALSE(sv::flow::send(ctx, t, service_class::bulk, work_atom::value, i));
    }
    auto err = sv::flow::send(ctx, t, service_class::bulk, work_atom::value, 99);
    CHECK(sv::is(err, sv::errc::overloaded));
    CHECK(sv::retry_after(err) == std::chrono::milliseconds{50});
    CHECK(render(err) == "streamverse: overloaded (bulk, retry after 50 ms)");
    CHECK(t.cell->depth() == 20);
    // Interactive still fits (watermark 100), and the refused message never arrives.
    CHECK_FALSE(sv::flow::send(ctx, t, service_class::interactive, work_atom::value, 7));
    sched.run();
    auto order = processed();
    CHECK(order.size() == 21);
    CHECK(std::find(order.begin(), order.end(), 99) == order.end());
    CHECK(ctx.admission().refused(service_class::bulk) == 1);
  }
}
