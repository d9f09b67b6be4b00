// The two-level cache on three nodes in one process on loopback: misses go to the key's
// shard and the origin once, concurrent misses coalesce, fences beat a racing fill,
// refusals are explicit and never cached, hot keys spread to every near cache and cool
// down, invalidations reach both levels everywhere. Loaders are gated by the test, so the
// interleavings are chosen, not slept for. Every wait is bounded.

#include "actors/cache/cache.hpp"
#include "actors/cache/cache_settings.hpp"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "tests/support/eventually.hpp"
#include "tests/support/mesh.hpp"
#include "tests/support/test_nodes.hpp"

#include "actors/content/catalog.hpp"
#include "actors/content/content_types.hpp"
#include "runtime/node/node.hpp"
#include "runtime/wire/errc.hpp"

extern "C" const char* __asan_default_options() {
  // Same CAF 0.17.6 BASP shutdown cycle as in the catalog test (see there).
  return "detect_leaks=0";
}

namespace {

using sv::test::eventually;

// An origin whose answers the test hands out: loads wait until release().
struct gated_origin {
  std::mutex mutex;
  std::vector<std::pair<std::string, sv::cache::load_done>> waiting;
  std::atomic<int> calls{0};
  bool gate = false; // false: answer at once with `answer(key)`
  std::function<caf::expected<sv::cache::loaded>(const std::string&)> answer =
      [](const std::string& key) {
        return sv::cache::loaded{"value of " + key, 1, {}};
      };

  sv::cache::loader as_loader() {
    return [this](const std::string& key, sv::cache::load_done done) {
      ++calls;
      std::unique_lock<std::mutex> lock{mutex};
      if (gate) {
        waiting.emplace_back(key, std::move(done));
        return;
      }
      auto a = answer;
      lock.unlock();
      done(a(key));
    };
  }

  size_t pending() {
    std::lock_guard<std::mutex> guard{mutex};
    return waiting.size();
  }

  // Answers the oldest waiting load with `r`.
  void release(caf::expected<sv::cache::loaded> r) {
    sv::cache::load_done done;
    {
      std::lock_guard<std::mutex> guard{mutex};
      REQUIRE_FALSE(waiting.empty());
      done = std::move(waiting.front().second);
      waiting.erase(waiting.begin());
    }
    done(std::move(r));
  }
};

struct three_caches {
  std::vector<std::unique_ptr<sv::node>> nodes;
  std::vector<std::unique_ptr<sv::content::catalog>> catalogs;
  std::vector<std::unique_ptr<sv::cache::cache>> caches;
  gated_origin origin;

  // Nodes named by `regions` (node -> node.region, "" for none).
  explicit three_caches(const std::string& dir,
                        std::vector<std::pair<std::string, std::string>> regions = {
                            {"node-a", ""}, {"node-b", ""}, {"node-c", ""}}) {
    std::filesystem::remove_all(dir);
    for (auto& [name, region] : regions) {
      auto s = sv::test::fast_node_settings(name, dir + "/" + name);
      s.region = region;
      s.section<sv::config::cache_node_settings>().hot_threshold = 5;
      s.section<sv::config::cache_node_settings>().cool_interval_ms = 300;
      s.section<sv::config::cache_node_settings>().cool_below_hits = 5;
      s.section<sv::config::cache_node_settings>().max_entry_bytes = 4096;
      s.section<sv::config::cache_node_settings>().load_timeout_ms = 3000;
      if (!nodes.empty()) {
        s.seeds = {{"127.0.0.1", nodes[0]->cluster_port()}};
      }
      auto n = std::make_unique<sv::node>(
          s, std::vector<sv::node::type_registrar>{sv::content::register_message_types,
                                                   sv::cache::register_message_types});
      REQUIRE(n->start().empty());
      catalogs.push_back(std::make_unique<sv::content::catalog>(*n));
      auto c = std::make_unique<sv::cache::cache>(*n);
      c->set_loader("t", origin.as_loader());
      c->follow(*catalogs.back());
      caches.push_back(std::move(c));
      nodes.push_back(std::move(n));
    }
    REQUIRE(eventually([&] { return sv::test::full_mesh(nodes); }));
  }

  ~three_caches() {
    for (size_t i = 0; i < nodes.size(); ++i) {
      caches[i].reset();
      catalogs[i].reset();
    }
  }

  std::string get(size_t node, const std::string& key) {
    auto v = caches[node]->get(key);
    REQUIRE(v);
    return *v->value;
  }

  bool in_every_l1(const std::string& key) {
    return std::all_of(caches.begin(), caches.end(),
                       [&](auto& c) { return c->l1().contains(key); });
  }
  bool in_no_l1(const std::string& key) {
    return std::none_of(caches.begin(), caches.end(),
                        [&](auto& c) { return c->l1().contains(key); });
  }
};

} // namespace

TEST_SUITE("actors.cache") {
  TEST_CASE("a miss is loaded once by the key's shard and then served by it from any node") {
    three_caches c{"cache_test_data/miss"};
    auto first = c.caches[0]->get("t/1");
    REQUIRE(first);
    CHECK(*first->value == "value of t/1");
    CHECK(first->source == "origin");
    for (size_t n = 0; n < 3; ++n) {
      auto again = c.caches[n]->get("t/1");
      REQUIRE(again);
      CHECK(again->source == "l2");
    }
    CHECK(c.origin.calls == 1);
  }

  TEST_CASE("with regions, each region has its own shard set: a miss is loaded once per "
            "region and served in-region, and an invalidation reaches both regions") {
    three_caches c{"cache_test_data/regions",
                   {{"node-a", "eu-west"},
                    {"node-b", "eu-west"},
                    {"node-c", "us-east"},
                    {"node-d", "us-east"}}};
    // What the shards of nodes [from, to) hold and dropped.
    auto l2_bytes = [&](size_t from, size_t to) {
      uint64_t n = 0;
      for (size_t i = from; i < to; ++i) {
        n += c.caches[i]->stats().l2_bytes;
      }
      return n;
    };
    auto l2_invalidated = [&](size_t from, size_t to) {
      uint64_t n = 0;
      for (size_t i = from; i < to; ++i) {
        n += c.caches[i]->stats().l2.invalidated;
      }
      return n;
    };
    for (size_t n = 0; n < 4; ++n) {
      auto got = c.caches[n]->get("t/1");
      REQUIRE(got);
      // The first get in each region misses to the origin; the other node of the region
      // is served by the region's shard.
      CHECK(got->source == (n % 2 == 0 ? "origin" : "l2"));
    }
    CHECK(c.origin.calls == 2);
    CHECK(l2_bytes(0, 2) > 0); // a copy in eu-west's shards
    CHECK(l2_bytes(2, 4) > 0); // and one in us-east's
    // Invalidated through eu-west: both regions' shards drop it.
    REQUIRE(c.caches[1]->invalidate("t/1") == uint64_t{4});
    CHECK(l2_invalidated(0, 2) == 1);
    CHECK(l2_invalidated(2, 4) == 1);
    CHECK(c.caches[3]->get("t/1")->source == "origin");
    CHECK(c.origin.calls == 3);
  }

  TEST_CASE("concurrent misses for one key become one origin fetch") {
    three_caches c{"cache_test_data/coalesce"};
    c.origin.gate = true;
    std::vector<std::future<caf::expected<sv::cache::cached>>> gets;
    for (size_t i = 0; i < 12; ++i) {
      gets.push_back(
          std::async(std::launch::async, [&c, i] { return c.caches[i % 3]->get("t/herd"); }));
    }
    REQUIRE(eventually([&] { return c.origin.pending() == 1; }));
    // Give every other request the chance to arrive and wait too (bounded, not a sleep
    // the outcome depends on: late arrivals would be served from L2 after the release).
    REQUIRE(eventually([&] {
      uint64_t waiting = 0;
      for (auto& cache : c.caches) {
        waiting += cache->stats().coalesced;
      }
      return waiting >= 11;
    }));
    c.origin.release(sv::cache::loaded{"herd value", 1, {}});
    for (auto& g : gets) {
      auto v = g.get();
      REQUIRE(v);
      CHECK(*v->value == "herd value");
    }
    CHECK(c.origin.calls == 1);
  }

  TEST_CASE("a fill that raced an invalidation is refused and the key read again") {
    three_caches c{"cache_test_data/race"};
    c.origin.gate = true;
    auto pending = std::async(std::launch::async, [&c] { return c.caches[1]->get("t/race"); });
    REQUIRE(eventually([&] { return c.origin.pending() == 1; }));
    // The origin changes and the key is invalidated while the first load is under way.
    REQUIRE(c.caches[2]->invalidate("t/race") == uint64_t{3});
    c.origin.release(sv::cache::loaded{"old", 0, {}});
    REQUIRE(eventually([&] { return c.origin.pending() == 1; })); // read again
    c.origin.release(sv::cache::loaded{"new", 0, {}});
    auto v = pending.get();
    REQUIRE(v);
    CHECK(*v->value == "new");
    CHECK(c.origin.calls == 2);
    CHECK(c.get(0, "t/race") == "new");
    CHECK(c.origin.calls == 2);
  }

  TEST_CASE("a stale version, an oversized value and a loader error are refused, not cached") {
    three_caches c{"cache_test_data/refuse"};
    CHECK(c.caches[0]->put("t/v", "five", 5) == std::string{"stored"});
    REQUIRE(c.caches[1]->invalidate("t/v", 7));
    CHECK(c.caches[2]->put("t/v", "six", 6) == std::string{"stale_version"});
    CHECK(c.caches[2]->put("t/v", "seven", 7) == std::string{"stored"});
    CHECK(c.get(0, "t/v") == "seven");
    CHECK(c.origin.calls == 0);

    c.origin.answer = [](const std::string& key) -> caf::expected<sv::cache::loaded> {
      if (key == "t/big") {
        return sv::cache::loaded{std::string(8000, 'b'), 1, {}};
      }
      return make_error(sv::errc::unavailable, "origin down");
    };
    // Too large: returned, not cached (the next get loads again).
    CHECK(c.get(1, "t/big").size() == 8000);
    CHECK(c.get(1, "t/big").size() == 8000);
    CHECK(c.origin.calls == 2);
    // A loader error reaches the caller and is not cached either.
    auto err = c.caches[2]->get("t/broken");
    REQUIRE_FALSE(err);
    CHECK(sv::is(err.error(), sv::errc::unavailable));
    CHECK_FALSE(c.caches[2]->get("t/broken"));
    CHECK(c.origin.calls == 4);
    uint64_t loader_errors = 0;
    for (auto& cache : c.caches) {
      loader_errors += cache->stats().loader_errors;
    }
    CHECK(loader_errors == 2);
  }

  TEST_CASE("not found is cached briefly as a negative entry") {
    three_caches c{"cache_test_data/negative"};
    c.origin.answer = [](const std::string& key) -> caf::expected<sv::cache::loaded> {
      return make_error(sv::errc::not_found, "no " + key);
    };
    for (size_t n = 0; n < 3; ++n) {
      auto v = c.caches[n]->get("t/ghost");
      REQUIRE_FALSE(v);
      CHECK(sv::is(v.error(), sv::errc::not_found));
    }
    CHECK(c.origin.calls == 1);
  }

  TEST_CASE("a hot key spreads to every near cache, cools down, and invalidations reach it") {
    three_caches c{"cache_test_data/hot"};
    for (int i = 0; i < 5; ++i) { // hot_threshold is 5 requests at the shard
      CHECK(c.get(0, "t/viral") == "value of t/viral");
    }
    REQUIRE(eventually([&] { return c.in_every_l1("t/viral"); }));
    for (size_t n = 0; n < 3; ++n) {
      auto v = c.caches[n]->get("t/viral");
      REQUIRE(v);
      CHECK(v->source == "l1");
    }
    // Invalidated from node-c: gone from every L1 and from the shard.
    REQUIRE(c.caches[2]->invalidate("t/viral") == uint64_t{3});
    CHECK(c.in_no_l1("t/viral"));
    c.origin.answer = [](const std::string&) -> caf::expected<sv::cache::loaded> {
      return sv::cache::loaded{"second edition", 2, {}};
    };
    CHECK(c.get(1, "t/viral") == "second edition");
    CHECK(c.origin.calls == 2);
    // Hot again, then nobody asks: each near cache drops it after a cool interval.
    for (int i = 0; i < 5; ++i) {
      c.get(1, "t/viral");
    }
    REQUIRE(eventually([&] { return c.in_every_l1("t/viral"); }));
    CHECK(eventually([&] { return c.in_no_l1("t/viral"); }));
    uint64_t cooled = 0;
    uint64_t pushed = 0;
    for (auto& cache : c.caches) {
      auto s = cache->stats();
      cooled += s.cooled;
      pushed += s.hot_replications;
    }
    CHECK(cooled >= 3);
    CHECK(pushed >= 2);
  }

  TEST_CASE("a tag invalidation drops every key derived from one content, at both levels") {
    three_caches c{"cache_test_data/tags"};
    c.origin.answer = [](const std::string& key) -> caf::expected<sv::cache::loaded> {
      auto tag = key.find("/t7/") != std::string::npos ? "content:t7" : "content:t8";
      return sv::cache::loaded{"v1 " + key, 1, {tag}};
    };
    for (auto key : {"t/t7/tv", "t/t7/phone", "t/t8/tv"}) {
      c.get(0, key);
    }
    CHECK(c.origin.calls == 3);
    REQUIRE(c.caches[1]->invalidate_tag("content:t7") == uint64_t{3});
    c.get(2, "t/t7/tv");
    c.get(2, "t/t7/phone");
    c.get(2, "t/t8/tv");
    CHECK(c.origin.calls == 5); // both t7 keys loaded again, t8 still cached
  }

  TEST_CASE("a metadata update invalidates the title's cached metadata on every node") {
    three_caches c{"cache_test_data/meta"};
    sv::content::metadata m;
    m.set_id("t9");
    m.set_title("First Cut");
    m.mutable_availability()->add_regions("eu-west");
    REQUIRE(c.catalogs[0]->update(m));
    REQUIRE(eventually([&] {
      return std::all_of(c.catalogs.begin(), c.catalogs.end(),
                         [](auto& cat) { return static_cast<bool>(cat->get("t9")); });
    }));
    for (size_t n = 0; n < 3; ++n) {
      auto v = c.caches[n]->get("meta/t9");
      REQUIRE(v);
      CHECK(v->version == 1);
      CHECK(v->value->find("First Cut") != std::string::npos);
    }
    m.set_title("Director's Cut");
    REQUIRE(c.catalogs[1]->update(m, 1));
    CHECK(eventually([&] {
      for (auto& cache : c.caches) {
        auto v = cache->get("meta/t9");
        if (!v || v->version != 2 || v->value->find("Director's Cut") == std::string::npos) {
          return false;
        }
      }
      return true;
    }));
  }

  TEST_CASE("pre-warming loads a release's keys into their shards") {
    three_caches c{"cache_test_data/prewarm"};
    REQUIRE(c.caches[0]->prewarm({"t/r1", "t/r2", "t/r3"}) == uint64_t{3});
    CHECK(c.origin.calls == 3);
    for (auto key : {"t/r1", "t/r2", "t/r3"}) {
      auto v = c.caches[2]->get(key);
      REQUIRE(v);
      CHECK(v->source == "l2");
    }
    CHECK(c.origin.calls == 3);
  }
}
