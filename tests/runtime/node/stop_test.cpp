// Stopping a service that owns detached actors: stop_and_wait returns only once the
// service's recorded children have ended too (their stores closed), so a host can remove
// the service's files right after.

#include "runtime/node/stop.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

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
  children->add(self->spawn<caf::linked + caf::detached>(slow_store, std::move(closed)));
  return {[](int x) {
    return x;
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
    first = nullptr;
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
