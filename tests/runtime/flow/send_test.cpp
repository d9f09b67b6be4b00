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
        self->state.cell->on_dequeue();
        self->state.order.push_back(id);
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
