// The example test shown in README.md (tests/tools/readme_example_test.sh keeps the two
// identical). An actor test with the StreamVerse test kit: deterministic, virtual time.
#include "runtime/testkit/testkit.hpp"

namespace {

using view_atom = caf::atom_constant<caf::atom("view")>;
using count_atom = caf::atom_constant<caf::atom("count")>;
using expire_atom = caf::atom_constant<caf::atom("expire")>;

// Counts the views of one title and forgets them after a quiet minute.
struct view_counter_state {
  uint64_t views = 0;
  uint64_t generation = 0; // only the newest expiry timer counts
};

caf::behavior view_counter(caf::stateful_actor<view_counter_state>* self) {
  return {
      [=](view_atom) {
        ++self->state.views;
        self->delayed_send(self, std::chrono::seconds(60), expire_atom::value,
                           ++self->state.generation);
      },
      [=](count_atom) { return self->state.views; },
      [=](expire_atom, uint64_t generation) {
        if (generation == self->state.generation) {
          self->state.views = 0;
        }
      },
  };
}

} // namespace

TEST_CASE_FIXTURE(sv::testkit::fixture, "views are counted and forgotten after a quiet minute") {
  auto counter = sys.spawn(view_counter);
  self->send(counter, view_atom::value);
  self->send(counter, view_atom::value);
  sched.run(); // deliver everything that is queued; virtual time stands still
  self->send(counter, count_atom::value);
  expect((count_atom), from(self).to(counter));
  expect((uint64_t), from(counter).to(self).with(uint64_t{2}));
  advance_time(std::chrono::seconds(59)); // no sleeping: the clock is virtual
  CHECK(request<uint64_t>(counter, count_atom::value) == 2);
  advance_time(std::chrono::seconds(1));
  sched.run();
  CHECK(request<uint64_t>(counter, count_atom::value) == 0);
}
