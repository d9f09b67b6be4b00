#pragma once

// The StreamVerse test kit: doctest plus CAF 0.17's deterministic test coordinator.
//
//   #include "runtime/testkit/testkit.hpp"
//   TEST_CASE_FIXTURE(sv::testkit::fixture, "a counter adds what it is sent") { ... }
//
// Inside a fixture: `sys` (an actor system on a deterministic scheduler), `self` (a
// scoped actor to send from and receive on), `sched` (the test coordinator), and CAF's
// DSL: expect((types), from(a).to(b).with(values)), allow(...), disallow(...),
// sched.run() to deliver every queued message, advance_time(d) to move virtual time
// (fires delayed sends and request timeouts that are due), request<T>(actor, args...)
// for a blocking-style request. Link streamverse::testkit_main for main().
//
// Pitfalls of CAF 0.17.6 (see ../shared/caf-0.17-guide.md §7): a failed expect() ends
// the whole test process (ctest runs each TEST_CASE in its own process, so only that
// case fails); the fixture's run() and request<T>() also fire pending timeouts, so use
// sched.run() when time must stand still.

#include <doctest/doctest.h>

#include "caf/test/unit_test.hpp"

// Route the CAF test macros that dsl.hpp expands to doctest. unit_test.hpp has
// `#pragma once`, so its own definitions do not come back when dsl.hpp includes it.
#undef CAF_CHECK
#undef CAF_CHECK_EQUAL
#undef CAF_CHECK_NOT_EQUAL
#undef CAF_REQUIRE
#undef CAF_REQUIRE_EQUAL
#undef CAF_REQUIRE_NOT_EQUAL
#undef CAF_FAIL
#undef CAF_MESSAGE
#define CAF_CHECK(...) CHECK(__VA_ARGS__)
#define CAF_CHECK_EQUAL(x, y) CHECK((x) == (y))
#define CAF_CHECK_NOT_EQUAL(x, y) CHECK((x) != (y))
#define CAF_REQUIRE(...) REQUIRE(__VA_ARGS__)
#define CAF_REQUIRE_EQUAL(x, y) REQUIRE((x) == (y))
#define CAF_REQUIRE_NOT_EQUAL(x, y) REQUIRE((x) != (y))
#define CAF_FAIL(msg) FAIL(msg)
#define CAF_MESSAGE(msg) INFO(msg)

#include "caf/test/dsl.hpp"

#include "runtime/wire/message_types.hpp"

namespace sv::testkit {

/// An actor_system_config with every StreamVerse message type and error category
/// registered, as on a real node.
struct config : caf::actor_system_config {
  config() {
    wire::register_message_types(*this);
  }
};

/// The fixture for deterministic actor tests (see the file comment).
struct fixture : test_coordinator_fixture<config> {
  /// Renders an error the way a node's log would.
  std::string render(const caf::error& err) {
    return sys.render(err);
  }
};

} // namespace sv::testkit
