// The active-entity table under entity shards and session hosts: activation, use times,
// the idle sweep, passivation of everything at stop.

#include "runtime/entity/activation_table.hpp"

#include <map>
#include <string>
#include <vector>

#include <doctest/doctest.h>

using sv::entity::activation_table;

namespace {

struct counter {
  int uses = 0;
};

} // namespace

TEST_SUITE("runtime.entity") {
  TEST_CASE("activation_table: the first use activates, later uses find the same entity") {
    activation_table<counter> t;
    auto [a, fresh] = t.activate(7, 100);
    CHECK(fresh);
    a->entity.uses = 3;
    auto [b, again] = t.activate(7, 200);
    CHECK_FALSE(again);
    CHECK(b->entity.uses == 3);
    CHECK(b->last_used_ns == 200);
    CHECK(t.size() == 1);
    CHECK(t.find(8) == nullptr);
    CHECK(t.contains(7));
  }

  TEST_CASE("activation_table: the sweep passivates exactly the entities idle since the cutoff") {
    activation_table<counter> t;
    t.activate(1, 100);
    t.activate(2, 200);
    t.insert(3, counter{5}, 300);
    std::map<uint64_t, int> passivated;
    auto gone = t.sweep(200, [&](uint64_t key, counter& c) { passivated[key] = c.uses; });
    CHECK(gone == 2);
    CHECK(passivated == std::map<uint64_t, int>{{1, 0}, {2, 0}});
    CHECK(t.size() == 1);
    REQUIRE(t.find(3) != nullptr);
    CHECK(t.find(3)->entity.uses == 5);
    // A use moves an entity past the next cutoff.
    t.activate(3, 1000);
    CHECK(t.sweep(500, [](uint64_t, counter&) {}) == 0);
  }

  TEST_CASE("activation_table: erase ends an entity without passivating it, clear passivates all") {
    activation_table<counter> t;
    t.activate(1, 0);
    t.activate(2, 0);
    CHECK(t.erase(1));
    CHECK_FALSE(t.erase(1));
    std::vector<uint64_t> passivated;
    t.clear([&](uint64_t key, counter&) { passivated.push_back(key); });
    CHECK(passivated == std::vector<uint64_t>{2});
    CHECK(t.size() == 0);
  }

  TEST_CASE(
      "activation_table: a shard sweeps every tenth of the idle timeout, at most every 10 ms") {
    using std::chrono::milliseconds;
    CHECK(activation_table<counter>::sweep_interval(milliseconds{30'000}) == milliseconds{3'000});
    CHECK(activation_table<counter>::sweep_interval(milliseconds{50}) == milliseconds{10});
  }
}
