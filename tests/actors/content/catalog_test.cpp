// The catalog across three nodes in one process on loopback: updates go to the owner,
// every replica gets each version, conflicts and bad input are refused, a restarted node
// serves its stored state at once. Every wait is bounded.

#include "actors/content/catalog.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "tests/support/eventually.hpp"
#include "tests/support/mesh.hpp"
#include "tests/support/test_nodes.hpp"

#include "actors/content/content_types.hpp"
#include "caf/actor_system.hpp"
#include "caf/send.hpp"
#include "runtime/cluster/membership.hpp"
#include "runtime/cluster/placement.hpp"
#include "runtime/node/node.hpp"
#include "runtime/wire/errc.hpp"
#include "runtime/wire/protobuf.hpp"

// AddressSanitizer checks every access here, but LeakSanitizer is off for this binary: it
// stops and restarts whole nodes while remote requests are in flight, and CAF 0.17.6's
// BASP then sometimes (about 1 run in 10) leaves a reference cycle of its own objects
// (broker, proxies, mailbox elements) with none of our allocations in it.
extern "C" const char* __asan_default_options() {
  return "detect_leaks=0";
}

namespace {

using namespace std::chrono_literals;
using sv::content::metadata;

using sv::test::eventually;

sv::config::node_settings settings_for(const std::string& name, const std::string& dir) {
  return sv::test::fast_node_settings(name, dir + "/" + name);
}

metadata title(const std::string& id, const std::string& name) {
  metadata m;
  m.set_id(id);
  m.set_title(name);
  auto* r = m.add_renditions();
  r->set_id("720p");
  r->set_codecs("avc1.64001f,mp4a.40.2");
  r->set_width(1280);
  r->set_height(720);
  r->set_bitrate_kbps(3000);
  r->set_ready(true);
  m.mutable_availability()->add_regions("eu-west");
  return m;
}

// Three started nodes in a full mesh, each with its catalog.
struct three_nodes {
  std::string dir;
  std::vector<std::unique_ptr<sv::node>> nodes;
  std::vector<std::unique_ptr<sv::content::catalog>> catalogs;

  explicit three_nodes(const std::string& test_dir) : dir(test_dir) {
    std::filesystem::remove_all(dir);
    for (auto name : {"node-a", "node-b", "node-c"}) {
      start(name);
    }
    REQUIRE(eventually([&] { return sv::test::full_mesh(nodes); }));
  }

  void start(const std::string& name, size_t slot = SIZE_MAX) {
    auto s = settings_for(name, dir);
    if (!nodes.empty() && nodes[0] && slot != 0) {
      s.seeds = {{"127.0.0.1", nodes[0]->cluster_port()}};
    }
    auto n = std::make_unique<sv::node>(
        s, std::vector<sv::node::type_registrar>{sv::content::register_message_types});
    REQUIRE(n->start().empty());
    auto c = std::make_unique<sv::content::catalog>(*n);
    if (slot == SIZE_MAX) {
      nodes.push_back(std::move(n));
      catalogs.push_back(std::move(c));
    } else {
      nodes[slot] = std::move(n);
      catalogs[slot] = std::move(c);
    }
  }

  void stop(size_t slot) {
    catalogs[slot].reset();
    nodes[slot].reset();
  }

  ~three_nodes() {
    for (size_t i = 0; i < nodes.size(); ++i) {
      catalogs[i].reset(); // before its node
    }
  }

  // Whether every replica has `id` at `version`.
  bool everywhere(const std::string& id, uint64_t version) {
    return std::all_of(catalogs.begin(), catalogs.end(), [&](auto& c) {
      auto m = c->get(id);
      return m && m->version() == version;
    });
  }

  std::string owner_of(const std::string& id) {
    return sv::cluster::owner_of(id, {"node-a", "node-b", "node-c"});
  }

  size_t index_of(const std::string& name) {
    return static_cast<size_t>(name.back() - 'a');
  }
};

} // namespace

TEST_SUITE("actors.content") {
  TEST_CASE("an update sent to any node is versioned by the owner and reaches every replica") {
    three_nodes c{"catalog_test_data/propagate"};
    // Pick an id that node-c does not own, so the update is forwarded.
    std::string id;
    for (int i = 0; id.empty(); ++i) {
      auto candidate = "title-" + std::to_string(i);
      if (c.owner_of(candidate) != "node-c") {
        id = candidate;
      }
    }
    auto v = c.catalogs[2]->update(title(id, "First Cut"));
    REQUIRE(v);
    CHECK(*v == 1);
    CHECK(c.catalogs[2]->stats().forwarded == 1);
    CHECK(c.catalogs[c.index_of(c.owner_of(id))]->stats().updates_accepted == 1);
    REQUIRE(eventually([&] { return c.everywhere(id, 1); }));
    auto v2 = c.catalogs[0]->update(title(id, "Final Cut"), 1);
    REQUIRE(v2);
    CHECK(*v2 == 2);
    REQUIRE(eventually([&] { return c.everywhere(id, 2); }));
    for (auto& cat : c.catalogs) {
      CHECK(cat->get(id)->title() == "Final Cut");
    }
  }

  TEST_CASE("a stale expected version or bad metadata is refused and changes nothing") {
    three_nodes c{"catalog_test_data/refusals"};
    REQUIRE(c.catalogs[0]->update(title("title-x", "One")));
    REQUIRE(eventually([&] { return c.everywhere("title-x", 1); }));
    auto conflict = c.catalogs[1]->update(title("title-x", "Two"), 7);
    REQUIRE_FALSE(conflict);
    CHECK(sv::is(conflict.error(), sv::errc::version_conflict));
    auto empty = c.catalogs[2]->update(title("title-x", ""));
    REQUIRE_FALSE(empty);
    CHECK(sv::is(empty.error(), sv::errc::invalid_argument));
    auto bad_codec = title("title-x", "Three");
    bad_codec.mutable_renditions(0)->set_codecs("divx");
    auto r = c.catalogs[0]->update(bad_codec);
    REQUIRE_FALSE(r);
    CHECK(c.nodes[0]->system().render(r.error()).find("unknown codec \"divx\"")
          != std::string::npos);
    auto window = title("title-x", "Four");
    window.mutable_availability()->set_window_start_ms(2000);
    window.mutable_availability()->set_window_end_ms(1000);
    CHECK_FALSE(c.catalogs[1]->update(window));
    std::this_thread::sleep_for(200ms); // nothing may arrive late either
    CHECK(c.everywhere("title-x", 1));
    CHECK(c.catalogs[0]->get("title-x")->title() == "One");
    auto missing = c.catalogs[0]->get("no-such-title");
    REQUIRE_FALSE(missing);
    CHECK(sv::is(missing.error(), sv::errc::not_found));
  }

  TEST_CASE("concurrent updates from three nodes end in one order with every replica equal") {
    three_nodes c{"catalog_test_data/concurrent"};
    constexpr int per_node = 10;
    std::vector<std::vector<uint64_t>> versions(3);
    std::vector<std::thread> writers;
    for (size_t i = 0; i < 3; ++i) {
      writers.emplace_back([&, i] {
        for (int k = 0; k < per_node; ++k) {
          auto name = "from " + std::to_string(i) + " #" + std::to_string(k);
          if (auto v = c.catalogs[i]->update(title("title-race", name))) {
            versions[i].push_back(*v);
          }
        }
      });
    }
    for (auto& w : writers) {
      w.join();
    }
    std::set<uint64_t> all;
    for (auto& vs : versions) {
      CHECK(vs.size() == per_node);
      all.insert(vs.begin(), vs.end());
    }
    // The owner serialized them: versions 1..30, each assigned once.
    CHECK(all.size() == 3 * per_node);
    CHECK(*all.begin() == 1);
    CHECK(*all.rbegin() == 3 * per_node);
    REQUIRE(eventually([&] { return c.everywhere("title-race", 3 * per_node); }));
    auto reference = c.catalogs[0]->get("title-race")->SerializeAsString();
    for (auto& cat : c.catalogs) {
      CHECK(cat->get("title-race")->SerializeAsString() == reference);
    }
  }

  TEST_CASE("a restarted node serves its stored catalog at once") {
    three_nodes c{"catalog_test_data/restart"};
    REQUIRE(c.catalogs[0]->update(title("title-r", "Stored")));
    REQUIRE(eventually([&] { return c.everywhere("title-r", 1); }));
    c.stop(1);
    c.start("node-b", 1);
    // Straight from node-b's own store, before it heard from anyone.
    auto m = c.catalogs[1]->get("title-r");
    REQUIRE(m);
    CHECK(m->version() == 1);
    CHECK(m->title() == "Stored");
  }

  TEST_CASE("a node that missed updates while it was away catches up by anti-entropy") {
    three_nodes c{"catalog_test_data/repair"};
    REQUIRE(c.catalogs[0]->update(title("title-ae", "Before")));
    REQUIRE(eventually([&] { return c.everywhere("title-ae", 1); }));
    c.stop(2); // node-c leaves; it misses what follows
    REQUIRE(eventually([&] { return c.nodes[0]->status().members_up == 2; }));
    REQUIRE(c.catalogs[0]->update(title("title-ae", "During"), 1));
    REQUIRE(c.catalogs[1]->update(title("title-new", "Only While Away")));
    c.start("node-c", 2);
    // Nobody broadcasts these again: only the periodic digest exchange can repair them (a
    // read of a missing title would fetch it from its owner: count first, read after).
    CHECK(eventually([&] { return c.catalogs[2]->size() == 2; }));
    CHECK(eventually([&] { return c.everywhere("title-ae", 2) && c.everywhere("title-new", 1); }));
    CHECK(c.catalogs[2]->get("title-ae")->title() == "During");
  }

  TEST_CASE("a node that just joined answers a title it has not caught up on from its owner") {
    three_nodes c{"catalog_test_data/read_through"};
    c.stop(2);
    REQUIRE(eventually([&] { return c.nodes[0]->status().members_up == 2; }));
    // Stored while node-c was away: a title another node owns, and one that node-c owns
    // once it is back (so nobody but node-c's own replica is asked first).
    std::string other, mine;
    for (int k = 0; other.empty() || mine.empty(); ++k) {
      auto candidate = "title-rt-" + std::to_string(k);
      (c.owner_of(candidate) == "node-c" ? mine : other) = candidate;
    }
    REQUIRE(c.catalogs[0]->update(title(other, "Stored Meanwhile")));
    REQUIRE(c.catalogs[0]->update(title(mine, "Mine Now")));
    c.start("node-c", 2);
    REQUIRE(eventually([&] { return c.nodes[2]->status().members_up == 3; }));
    // Right away, before an anti-entropy round (every second) could bring them: the version
    // of the best-placed other replica, kept here from then on.
    auto m = c.catalogs[2]->get(other);
    REQUIRE_MESSAGE(m, c.nodes[2]->system().render(m.error()));
    CHECK(m->title() == "Stored Meanwhile");
    auto n = c.catalogs[2]->get(mine);
    REQUIRE_MESSAGE(n, c.nodes[2]->system().render(n.error()));
    CHECK(n->title() == "Mine Now");
    // A title that exists nowhere is still not_found, from any node.
    CHECK_FALSE(c.catalogs[2]->get("title-nowhere"));
    CHECK_FALSE(c.catalogs[0]->get("title-nowhere"));
  }

  TEST_CASE("a new node finds a title even when the replicas ranked first joined with it and "
            "have not caught up") {
    // node-a and node-b store the title; node-c and node-d join afterwards. Anti-entropy
    // runs once a minute on every node, so nobody catches up by it during the test.
    std::string dir = "catalog_test_data/read_through_new";
    std::filesystem::remove_all(dir);
    std::vector<std::unique_ptr<sv::node>> nodes;
    std::vector<std::unique_ptr<sv::content::catalog>> catalogs;
    auto start = [&](const std::string& name, std::chrono::milliseconds repair) {
      auto s = settings_for(name, dir);
      if (!nodes.empty()) {
        s.seeds = {{"127.0.0.1", nodes[0]->cluster_port()}};
      }
      auto n = std::make_unique<sv::node>(
          s, std::vector<sv::node::type_registrar>{sv::content::register_message_types});
      REQUIRE(n->start().empty());
      catalogs.push_back(std::make_unique<sv::content::catalog>(*n, 5s, repair));
      nodes.push_back(std::move(n));
    };
    start("node-a", 60s);
    start("node-b", 60s);
    REQUIRE(eventually([&] { return sv::test::full_mesh(nodes); }));
    // A title that node-c and node-d rank first and second once all four are up: node-c
    // asks node-d too, whose "not found" (it has not caught up either) must not decide.
    std::string id;
    for (int k = 0; id.empty(); ++k) {
      auto candidate = "title-rn-" + std::to_string(k);
      auto order = sv::cluster::owners_of(candidate, {"node-a", "node-b", "node-c", "node-d"}, 2);
      if (order == std::vector<std::string>{"node-c", "node-d"}) {
        id = candidate;
      }
    }
    REQUIRE(catalogs[0]->update(title(id, "Before They Joined")));
    REQUIRE(eventually([&] {
      auto m = catalogs[1]->get(id);
      return m && m->version() == 1;
    }));
    start("node-c", 60s);
    start("node-d", 60s);
    REQUIRE(eventually([&] { return sv::test::full_mesh(nodes); }));
    // node-d answers "not found" (it has not caught up): not the last word.
    auto m = catalogs[2]->get(id);
    REQUIRE_MESSAGE(m, nodes[2]->system().render(m.error()));
    CHECK(m->title() == "Before They Joined");
    auto again = catalogs[3]->get(id);
    REQUIRE_MESSAGE(again, nodes[3]->system().render(again.error()));
    CHECK(again->version() == 1);
    // A title that exists nowhere is still not_found.
    CHECK_FALSE(catalogs[2]->get("title-nowhere"));
    catalogs.clear();
    nodes.clear();
  }

  TEST_CASE("replicas that got two contents with the same version converge on one") {
    three_nodes c{"catalog_test_data/split"};
    REQUIRE(c.catalogs[0]->update(title("title-sb", "Agreed")));
    REQUIRE(eventually([&] { return c.everywhere("title-sb", 1); }));
    // Two owners during a view change each assigned version 2, and each told one node.
    auto tell = [&](size_t i, const std::string& name) {
      streamverse::v1::MetadataChanged changed;
      *changed.mutable_metadata() = title("title-sb", name);
      changed.mutable_metadata()->set_version(2);
      caf::anon_send(c.catalogs[i]->handle(), changed);
    };
    tell(0, "Owner X's edit");
    tell(1, "Owner Y's edit");
    // Anti-entropy compares content fingerprints, not only versions; the store's tie-break
    // makes every replica keep the same one.
    CHECK(eventually([&] {
      if (!c.everywhere("title-sb", 2)) {
        return false;
      }
      auto reference = c.catalogs[0]->get("title-sb")->SerializeAsString();
      return c.catalogs[1]->get("title-sb")->SerializeAsString() == reference
             && c.catalogs[2]->get("title-sb")->SerializeAsString() == reference;
    }));
  }

  TEST_CASE("a cached view is invalidated by a newer version on every node") {
    three_nodes c{"catalog_test_data/views"};
    REQUIRE(c.catalogs[0]->update(title("title-v", "Old Title")));
    REQUIRE(eventually([&] { return c.everywhere("title-v", 1); }));
    for (auto& cat : c.catalogs) {
      auto v = cat->view("title-v");
      REQUIRE(v);
      CHECK(v->find("Old Title") != std::string::npos);
    }
    REQUIRE(c.catalogs[1]->update(title("title-v", "New Title")));
    REQUIRE(eventually([&] { return c.everywhere("title-v", 2); }));
    for (auto& cat : c.catalogs) {
      auto v = cat->view("title-v");
      REQUIRE(v);
      CHECK(v->find("New Title") != std::string::npos);
    }
    CHECK_FALSE(c.catalogs[0]->view("nope"));
  }
}
