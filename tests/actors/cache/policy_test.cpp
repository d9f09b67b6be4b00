// Cache policy decisions: the frequency sketch, TinyLFU admission and eviction, scan
// resistance, LRU, and Belady's optimum on traces small enough to check by hand.

#include "actors/cache/policy.hpp"

#include <vector>

#include <doctest/doctest.h>

#include "actors/cache/traces.hpp"

using sv::cache::frequency_sketch;
using sv::cache::lru_cache;
using sv::cache::tinylfu_cache;

TEST_SUITE("actors.cache") {
  TEST_CASE("the sketch counts requests, saturates at 15 and halves after its sample") {
    frequency_sketch s{100}; // sample: 64 x 100 = 6,400 requests
    for (int i = 0; i < 5; ++i) {
      s.record(42);
    }
    CHECK(s.estimate(42) == 5);
    CHECK(s.estimate(43) == 0);
    for (int i = 0; i < 30; ++i) {
      s.record(7);
    }
    CHECK(s.estimate(7) == 15);
    CHECK(s.resets() == 0);
    for (uint64_t k = 1000; k < 7365; ++k) { // up to 6,400 recorded requests in all
      s.record(k);
    }
    CHECK(s.resets() == 1);
    CHECK(s.estimate(7) == 7); // halved: old popularity fades
    CHECK(s.estimate(42) == 2);
  }

  TEST_CASE("LRU evicts the least recently used key") {
    lru_cache c{2};
    CHECK_FALSE(c.access(1));
    CHECK_FALSE(c.access(2));
    CHECK(c.access(1));       // 1 is now more recent than 2
    CHECK_FALSE(c.access(3)); // evicts 2
    CHECK(c.contains(1));
    CHECK_FALSE(c.contains(2));
    CHECK(c.size() == 2);
    lru_cache none{0};
    CHECK_FALSE(none.access(1));
    CHECK(none.size() == 0);
  }

  TEST_CASE("a one-hit wonder does not evict a popular key") {
    tinylfu_cache c{10, 0.1}; // window 1, main 9
    for (int round = 0; round < 5; ++round) {
      for (uint64_t k = 1; k <= 9; ++k) {
        c.access(k); // nine popular keys
      }
    }
    auto admitted = c.stats().admitted;
    for (uint64_t k = 100; k < 110; ++k) {
      c.access(k); // ten keys seen once each
    }
    for (uint64_t k = 1; k <= 9; ++k) {
      INFO(k);
      CHECK(c.contains(k));
    }
    for (uint64_t k = 100; k < 109; ++k) { // (109 may still be in the window)
      CHECK_FALSE(c.contains(k));
    }
    CHECK(c.stats().rejected >= 9);            // the one-hit wonders left through the window
    CHECK(c.stats().admitted <= admitted + 1); // only the last popular key, from the window
    CHECK(c.size() <= 10);
  }

  TEST_CASE("a key that turns popular is admitted over a colder one") {
    tinylfu_cache c{4, 0.25}; // window 1, main 3
    for (uint64_t k : {1, 2, 3, 4}) {
      c.access(k); // the window passes each on while the main area has room
    }
    CHECK(c.contains(1));
    for (int i = 0; i < 6; ++i) {
      c.access(50); // 50 becomes the most requested key
    }
    c.access(51); // pushes 50 out of the window: admitted, a cold key goes
    CHECK(c.contains(50));
    CHECK(c.stats().evicted >= 1);
  }

  TEST_CASE("a scan does not flush the hot set (TinyLFU beats LRU on a scan-heavy trace)") {
    auto trace = sv::cache::scan_trace(10'000, 1.0, 400'000, 0.3, 7);
    lru_cache lru{500};
    tinylfu_cache ours{500};
    uint64_t lru_hits = 0;
    uint64_t our_hits = 0;
    for (auto k : trace) {
      lru_hits += lru.access(k);
      our_hits += ours.access(k);
    }
    CHECK(our_hits > lru_hits);
    CHECK(our_hits <= sv::cache::belady_hits(trace, 500));
    CHECK(ours.size() <= 500);
  }

  TEST_CASE("the window adapts and stays within its bounds") {
    auto trace = sv::cache::release_trace(20'000, 300'000, 30, 3);
    tinylfu_cache c{1000, 0.01};
    for (auto k : trace) {
      c.access(k);
    }
    CHECK(c.stats().window >= 1);
    CHECK(c.stats().window <= 800);
    CHECK(c.size() <= 1000);
    tinylfu_cache one{1};
    CHECK_FALSE(one.access(5));
    CHECK(one.access(5));
    CHECK_FALSE(one.access(6));
    CHECK(one.size() == 1);
  }

  TEST_CASE("Belady's optimum by hand") {
    // Capacity 2 on 1 2 3 1 2 3 1 2 3: OPT keeps 1 and 2 and never admits 3 (each time 3
    // comes, 1 and 2 are needed sooner): hits at positions 3, 4, 6, 7.
    std::vector<uint64_t> t{1, 2, 3, 1, 2, 3, 1, 2, 3};
    CHECK(sv::cache::belady_hits(t, 2) == 4);
    CHECK(sv::cache::belady_hits(t, 3) == 6);
    CHECK(sv::cache::belady_hits(t, 0) == 0);
    lru_cache lru{2};
    uint64_t lru_hits = 0;
    for (auto k : t) {
      lru_hits += lru.access(k);
    }
    CHECK(lru_hits == 0); // LRU's worst case
  }

  TEST_CASE("traces are reproducible from their seed") {
    CHECK(sv::cache::zipf_trace(1000, 0.8, 100, 1) == sv::cache::zipf_trace(1000, 0.8, 100, 1));
    CHECK(sv::cache::zipf_trace(1000, 0.8, 100, 1) != sv::cache::zipf_trace(1000, 0.8, 100, 2));
    CHECK(sv::cache::release_trace(1000, 500, 5, 1).size() == 500);
    CHECK(sv::cache::scan_trace(1000, 1.0, 500, 0.5, 1).size() == 500);
  }
}
