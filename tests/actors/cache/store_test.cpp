// One cache level: byte bound, admission, fences, tags, negative entries, refusals.
// Time is passed in explicitly (virtual), so every case is deterministic.

#include "actors/cache/store.hpp"

#include <memory>
#include <string>

#include <doctest/doctest.h>

namespace {

using namespace std::chrono_literals;
using sv::cache::fill_result;
using sv::cache::store;
using sv::cache::store_settings;
using sv::cache::time_ns;

constexpr time_ns ms = 1'000'000;

std::shared_ptr<const std::string> value(size_t bytes, char c = 'x') {
  return std::make_shared<const std::string>(bytes, c);
}

store_settings small(size_t bytes) {
  store_settings s;
  s.max_bytes = bytes;
  s.max_entry_bytes = bytes / 4;
  return s;
}

} // namespace

TEST_SUITE("actors.cache") {
  TEST_CASE("memory stays within the byte bound and popular keys survive a one-hit stream") {
    store c{small(200'000)};
    time_ns now = 1000 * ms;
    // 20 popular keys of 1 KB, requested often.
    for (int round = 0; round < 20; ++round) {
      for (int k = 0; k < 20; ++k) {
        auto key = "hot-" + std::to_string(k);
        if (c.get(key, now) == nullptr) {
          c.fill(key, value(1000), 1, {}, now, now);
        }
      }
    }
    // Then 2,000 one-hit wonders of 1 KB: ten times the capacity.
    for (int k = 0; k < 2000; ++k) {
      auto key = "once-" + std::to_string(k);
      CHECK(c.get(key, now) == nullptr);
      c.fill(key, value(1000), 1, {}, now, now);
      CHECK(c.bytes() <= 200'000);
    }
    int kept = 0;
    for (int k = 0; k < 20; ++k) {
      kept += c.contains("hot-" + std::to_string(k)) ? 1 : 0;
    }
    CHECK(kept == 20);
    CHECK(c.stats().evictions + c.stats().not_admitted >= 1800);
    CHECK(c.stats().not_admitted > 0); // one-hit wonders were turned away at the door
  }

  TEST_CASE("a fill older than the key's fence is refused and never cached") {
    store c;
    time_ns now = 1000 * ms;
    CHECK(c.fill("meta/t1", value(10), 3, {}, now, now) == fill_result::stored);
    CHECK(c.invalidate("meta/t1", 4, now)); // version 4 exists now: 3 is gone
    CHECK_FALSE(c.contains("meta/t1"));
    CHECK(c.fence("meta/t1") == 4);
    CHECK(c.fill("meta/t1", value(10), 3, {}, now, now + ms) == fill_result::stale_version);
    CHECK_FALSE(c.contains("meta/t1"));
    CHECK(c.fill("meta/t1", value(10), 4, {}, now + ms, now + ms) == fill_result::stored);
    // The same version again, or an older one, does not replace it.
    CHECK(c.fill("meta/t1", value(10, 'y'), 4, {}, now, now + 2 * ms) == fill_result::not_newer);
    CHECK(c.get("meta/t1", now)->value->front() == 'x');
    CHECK(c.stats().refused == 1);
  }

  TEST_CASE("a flushed store keeps its fences: an older version cannot come back") {
    store c;
    time_ns now = 1000 * ms;
    CHECK(c.fill("meta/t1", value(10), 5, {"content:t1"}, now, now) == fill_result::stored);
    c.invalidate("meta/t2", 7, now);
    c.invalidate_tag("content:t3", now + ms);
    auto flushed = c.without_entries();
    CHECK_FALSE(flushed->contains("meta/t1"));
    CHECK(flushed->size() == 0);
    CHECK(flushed->fence("meta/t2") == 7);
    CHECK(flushed->fill("meta/t2", value(10), 6, {}, now, now + 2 * ms)
          == fill_result::stale_version);
    CHECK(flushed->fill("meta/t3", value(10), 1, {"content:t3"}, now, now + 2 * ms)
          == fill_result::raced);
    CHECK(flushed->fill("meta/t2", value(10), 7, {}, now + 2 * ms, now + 2 * ms)
          == fill_result::stored);
  }

  TEST_CASE("a slow fill racing an unversioned invalidation loses") {
    store c;
    time_ns t0 = 1000 * ms;
    // A load starts at t0 ... the key is invalidated at t0 + 5 ms ... the load ends.
    c.invalidate("user/42", 0, t0 + 5 * ms);
    CHECK(c.fill("user/42", value(10), 0, {}, t0, t0 + 9 * ms) == fill_result::raced);
    CHECK_FALSE(c.contains("user/42"));
    // A load that started after the invalidation is welcome.
    CHECK(c.fill("user/42", value(10), 0, {}, t0 + 6 * ms, t0 + 9 * ms) == fill_result::stored);
  }

  TEST_CASE("invalidating a tag drops and fences every key derived from one content") {
    store c;
    time_ns now = 1000 * ms;
    c.fill("meta/t7", value(10), 1, {"content:t7"}, now, now);
    c.fill("playlist/t7/tv", value(10), 1, {"content:t7"}, now, now);
    c.fill("playlist/t8/tv", value(10), 1, {"content:t8"}, now, now);
    CHECK(c.invalidate_tag("content:t7", now + ms) == 2);
    CHECK_FALSE(c.contains("meta/t7"));
    CHECK_FALSE(c.contains("playlist/t7/tv"));
    CHECK(c.contains("playlist/t8/tv"));
    // A fill of a key with that tag whose load began before the invalidation is refused.
    CHECK(c.fill("playlist/t7/phone", value(10), 1, {"content:t7"}, now, now + 2 * ms)
          == fill_result::raced);
    CHECK(c.fill("playlist/t7/phone", value(10), 1, {"content:t7"}, now + 2 * ms, now + 2 * ms)
          == fill_result::stored);
  }

  TEST_CASE("an entry over the size limit is refused") {
    store c{small(100'000)}; // entries up to 25,000 bytes
    time_ns now = 1000 * ms;
    CHECK(c.fill("big", value(30'000), 1, {}, now, now) == fill_result::too_large);
    CHECK_FALSE(c.contains("big"));
    CHECK(c.bytes() == 0);
    CHECK(c.fill("fits", value(20'000), 1, {}, now, now) == fill_result::stored);
  }

  TEST_CASE("a fill whose load began longer ago than the fences are kept is refused") {
    store c;
    time_ns now = 100'000 * ms;
    auto started = now - 31'000 * ms; // fence_ttl is 30 s
    CHECK(c.fill("slow", value(10), 1, {}, started, now) == fill_result::too_old);
    CHECK_FALSE(c.contains("slow"));
  }

  TEST_CASE("not found is cached for the negative TTL only") {
    store c;
    time_ns now = 1000 * ms;
    CHECK(c.fill("meta/missing", nullptr, 0, {}, now, now) == fill_result::stored);
    auto* e = c.get("meta/missing", now + 1000 * ms);
    REQUIRE(e != nullptr);
    CHECK(e->negative());
    CHECK(c.stats().negative_hits == 1);
    CHECK(c.get("meta/missing", now + 2001 * ms) == nullptr); // negative_ttl is 2 s
    CHECK_FALSE(c.contains("meta/missing"));
    // A real value replaces a negative entry at once.
    c.fill("meta/late", nullptr, 0, {}, now, now);
    CHECK(c.fill("meta/late", value(5), 1, {}, now, now) == fill_result::stored);
    CHECK_FALSE(c.get("meta/late", now)->negative());
  }
}
