// The stable hash: published FNV-1a and splitmix64 values, and placement's hashes pinned,
// because nodes of one cluster must agree on them (owners, shards, partitions).

#include "runtime/util/hash.hpp"

#include <doctest/doctest.h>

#include "runtime/cluster/placement.hpp"
#include "runtime/util/clock.hpp"

TEST_SUITE("runtime.util") {
  TEST_CASE("the hash gives the published FNV-1a and splitmix64 values") {
    CHECK(sv::hash::fnv1a("") == 0xcbf29ce484222325ULL);
    CHECK(sv::hash::fnv1a("a") == 0xaf63dc4c8601ec8cULL);
    CHECK(sv::hash::fnv1a("foobar") == 0x85944171f73967e8ULL);
    CHECK(sv::hash::fnv1a("bar", sv::hash::fnv1a("foo")) == sv::hash::fnv1a("foobar"));
    CHECK(sv::hash::splitmix64(0) == 0xe220a8397b1dcdafULL); // splitmix64's first output
    static_assert(sv::hash::stable("a") == sv::hash::mix(0xaf63dc4c8601ec8cULL));
  }

  TEST_CASE("placement hashes are the same in every build") {
    // Values computed independently of this code; a change here moves every owner.
    CHECK(sv::cluster::stable_hash("title-9") == 0xec9a77ace12adcbeULL);
    CHECK(sv::cluster::rendezvous_weight("node-a", "title-9") == 0xfbc56850e983bc26ULL);
    // The separator keeps ("ab", "c") and ("a", "bc") apart.
    CHECK(sv::cluster::rendezvous_weight("ab", "c") != sv::cluster::rendezvous_weight("a", "bc"));
  }

  TEST_CASE("the clocks read the system's clocks") {
    auto wall = sv::clock::wall_ms();
    CHECK(wall > 1'700'000'000'000); // after November 2023: milliseconds since 1970
    auto a = sv::clock::steady_ns();
    auto b = sv::clock::steady_ns();
    CHECK(b >= a); // monotonic
    CHECK(sv::clock::steady_ms() >= a / 1'000'000);
  }
}
