// Which partitions a node holds nothing of: an "empty" answer counts only if nothing was
// stored since the question was asked.

#include "actors/analytics/handoff.hpp"

#include <doctest/doctest.h>

using sv::analytics::empty_marks;

TEST_SUITE("actors.analytics") {
  TEST_CASE("an empty answer marks the partition, until something is stored there") {
    empty_marks m;
    CHECK_FALSE(m.empty(3));
    m.answered_empty(3, m.ask(3));
    CHECK(m.empty(3));
    CHECK_FALSE(m.empty(4));
    m.stored(3);
    CHECK_FALSE(m.empty(3));
  }

  TEST_CASE("an empty answer to a question older than a store is ignored") {
    // The handoff handler asks the partition; a batch is stored there before the answer
    // ("nothing here", true when asked) comes back: the partition must not count as empty,
    // or its batch would never reach the owner and stay stored twice.
    empty_marks m;
    auto asked = m.ask(7);
    m.stored(7);
    m.answered_empty(7, asked);
    CHECK_FALSE(m.empty(7));
    // Asked again after the store, the answer counts.
    m.answered_empty(7, m.ask(7));
    CHECK(m.empty(7));
  }
}
