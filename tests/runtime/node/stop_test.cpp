// Stopping a service that owns detached actors: stop_and_wait returns only once the
// service's recorded children have ended too (their stores closed), so a host can remove
// the service's files right after.

#include "runtime/node/stop.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/stateful_actor.hpp"

namespace {

// A store that takes a while to close (as SQLite does when it checkpoints its log).
struct slow_store_state {
  std::shared_ptr<std::atomic<bool>> closed;
  ~slow_store_state() {
    if (closed) {
      std::this_thread::sleep_for(std::chrono::milliseconds{300});
      closed->store(true);
    }
  }
};

caf::behavior slow_store(caf::stateful_actor<slow_store_state>* self,
                         std::shared_ptr<std::atomic<bool>> closed) {
  self->state.closed = std::move(closed);
  return {[](int x) {
    return x;
  }};
}

caf::behavior service(caf::event_based_actor* self, std::shared_ptr<std::atomic<bool>> closed,
                      std::shared_ptr<sv::detached_children> children) {
  auto store = self->spawn<caf::linked + caf::detached>(slow_store, std::move(closed));
  children->add(store);
  // The store's handle, for the test: as in a real service, something else holds the
  // store too (without any other reference, CAF would end it on the thread that drops the
  // service's, before the service's end is reported).
  return {[store](int) {
    return store;
  }};
}

} // namespace

TEST_SUITE("runtime.node") {
  TEST_CASE("stopping a service waits for the detached children it recorded") {
    caf::actor_system_config cfg;
    caf::actor_system sys{cfg};
    auto closed = std::make_shared<std::atomic<bool>>(false);
    auto children = std::make_shared<sv::detached_children>();
    auto svc = sys.spawn(service, closed, children);
    caf::actor store;
    {
      caf::scoped_actor self{sys};
      self->request(svc, caf::infinite, 7)
          .receive([&](caf::actor& a) { store = std::move(a); }, [](caf::error&) {});
      REQUIRE(store);
      int answer = 0;
      self->request(store, caf::infinite, 8)
          .receive([&](int x) { answer = x; }, [](caf::error&) {});
      REQUIRE(answer == 8); // the store is open
    }
    sv::stop_and_wait(sys, svc, children.get());
    CHECK(closed->load());
    // A second stop finds nothing left to wait for.
    CHECK(children->take().empty());
  }

  TEST_CASE("a child that ended on its own is dropped from the list at the next add") {
    caf::actor_system_config cfg;
    caf::actor_system sys{cfg};
    sv::detached_children children;
    auto first = sys.spawn([] {
      return caf::behavior{[](int x) {
        return x;
      }};
    });
    children.add(first);
    {
      caf::scoped_actor self{sys};
      self->send_exit(first, caf::exit_reason::user_shutdown);
      self->wait_for(first);
    }
    auto first_addr = first.address();
    first = nullptr;
    // The ended child's last reference goes a moment after its end (the scheduler lets go
    // of it after its last run): polled, at most 2 s.
    for (int k = 0; k < 200 && caf::actor_cast<caf::actor>(first_addr) != nullptr; ++k) {
      std::this_thread::sleep_for(std::chrono::milliseconds{10});
    }
    REQUIRE(caf::actor_cast<caf::actor>(first_addr) == nullptr);
    auto second = sys.spawn([] {
      return caf::behavior{[](int x) {
        return x;
      }};
    });
    children.add(second);
    auto alive = children.take();
    REQUIRE(alive.size() == 1);
    CHECK(alive[0] == second);
    caf::anon_send_exit(second, caf::exit_reason::user_shutdown);
  }
}
