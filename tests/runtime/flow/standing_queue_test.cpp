// The standing-queue rule: an interval whose fastest request still waited longer than the
// target says "standing"; a burst with one fast request, or an idle interval, does not.

#include "runtime/flow/standing_queue.hpp"

#include <doctest/doctest.h>

using namespace std::chrono_literals;

TEST_SUITE("runtime.flow") {
  TEST_CASE("a queue stands only when a whole interval's fastest request exceeded the target") {
    sv::flow::standing_queue q{5ms, 100ms};
    auto t = std::chrono::nanoseconds{1'000'000'000};
    CHECK_FALSE(q.standing(t)); // nothing seen yet
    // An interval where every request waited 8..20 ms.
    for (int i = 0; i < 10; ++i) {
      q.record(std::chrono::milliseconds{8 + i}, t + std::chrono::milliseconds{10 * i});
    }
    CHECK_FALSE(q.standing(t + 99ms)); // the interval is not over
    CHECK(q.standing(t + 100ms));
    CHECK(q.last_min() == 8ms);
    // A burst: slow requests, but one got through in 1 ms.
    t += 100ms;
    q.record(30ms, t + 10ms);
    q.record(1ms, t + 20ms);
    q.record(40ms, t + 30ms);
    CHECK(q.standing(t + 50ms)); // still the previous interval's verdict
    CHECK_FALSE(q.standing(t + 100ms));
    // Slow again: standing again after one whole interval.
    t += 100ms;
    q.record(9ms, t + 1ms);
    CHECK(q.standing(t + 100ms));
    // An idle interval: no request, no queue.
    t += 100ms;
    CHECK_FALSE(q.standing(t + 100ms));
    CHECK(q.last_min() == 0ms);
    // Exactly the target is not above it.
    t += 100ms;
    q.record(5ms, t + 1ms);
    CHECK_FALSE(q.standing(t + 100ms));
  }
}
