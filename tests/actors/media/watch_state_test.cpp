// Playback-state sync on three nodes in one process (loopback): a position recorded by a
// session on one node resumes on any other; two devices writing at once resolve by event
// time (then device name) on every node whatever the order; the user's owner going away
// loses nothing older than one sync interval (its replica answers). Every wait is bounded.

#include "actors/media/watch_state.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "tests/support/eventually.hpp"
#include "tests/support/mesh.hpp"
#include "tests/support/test_nodes.hpp"

#include "actors/session/session_service.hpp"
#include "runtime/cluster/placement.hpp"
#include "runtime/metrics/registry.hpp"
#include "runtime/node/ask.hpp"
#include "runtime/node/node.hpp"

extern "C" const char* __asan_default_options() {
  // Same CAF 0.17.6 BASP shutdown cycle as in the catalog test (see there).
  return "detect_leaks=0";
}

namespace {

using sv::test::eventually;

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct cluster {
  std::vector<std::unique_ptr<sv::node>> nodes;
  std::vector<std::unique_ptr<sv::media::watch_state>> watch;

  std::string dir;
  std::chrono::milliseconds sync_interval;
  std::chrono::milliseconds read_settle;

  // `names_regions`: each node's name and node.region.
  explicit cluster(const std::string& test_dir,
                   std::vector<std::pair<std::string, std::string>> names_regions =
                       {{"node-a", ""}, {"node-b", ""}, {"node-c", ""}},
                   std::chrono::milliseconds sync = std::chrono::milliseconds{100},
                   std::chrono::milliseconds settle = std::chrono::seconds{1})
      : dir(test_dir), sync_interval(sync), read_settle(settle) {
    std::filesystem::remove_all(dir);
    for (auto& [name, region] : names_regions) {
      add(name, region);
    }
    REQUIRE(eventually([&] { return sv::test::full_mesh(nodes); }));
  }

  // One more node, seeded with the first one still running.
  void add(const std::string& name, const std::string& region = {}) {
    auto s = sv::test::fast_node_settings(name, dir + "/" + name);
    s.region = region;
    s.flow.dispatch_lag_budget_ms = 60'000; // sessions' queries are never shed here
    s.flow.critical_budget_ms = 60'000;
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (watch[i] != nullptr) { // (stopped nodes have no watch service)
        s.seeds = {{"127.0.0.1", nodes[i]->cluster_port()}};
        break;
      }
    }
    auto n = std::make_unique<sv::node>(
        s, std::vector<sv::node::type_registrar>{sv::media::register_watch_types});
    REQUIRE(n->start().empty());
    sv::media::watch_settings ws;
    ws.sync_interval = sync_interval;
    ws.read_settle = read_settle;
    watch.push_back(std::make_unique<sv::media::watch_state>(*n, ws));
    nodes.push_back(std::move(n));
  }

  ~cluster() {
    for (auto& w : watch) {
      w.reset();
    }
  }

  size_t index_of(const std::string& name) const {
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (nodes[i]->settings().name == name) {
        return i;
      }
    }
    return 0;
  }

  int64_t position(size_t node, const std::string& user, const std::string& content,
                   const std::string& region = {}) {
    auto p = watch[node]->position(user, content, region);
    return p ? p->position_ms : -1;
  }

  // What node `node` itself stores for `user` in `content` (as owner or replica).
  int64_t stored_at(size_t node, const std::string& user, const std::string& content) {
    sv::media::watch_query_msg q;
    q.set_user(user);
    q.set_content(content);
    auto p = sv::ask<sv::media::watch_position_msg>(nodes[node]->system(), watch[node]->handle(),
                                                    std::chrono::seconds{2},
                                                    sv::media::watch_local_atom::value, q);
    return p ? p->position_ms() : -1;
  }

  // A counter of node `node`'s metrics (`series`: its name with its labels), 0 when absent.
  double metric(size_t node, const std::string& series) {
    auto text = nodes[node]->metrics().render();
    auto at = text.find("\n" + series + " ");
    return at == std::string::npos ? 0 : std::stod(text.substr(at + series.size() + 2));
  }
  double home_reads(size_t node) {
    return metric(node, "sv_watch_reads_total{asked=\"home_region\"}");
  }
};

} // namespace

TEST_SUITE("actors.media") {
  TEST_CASE("stop on one device and node, resume at that position on another") {
    cluster c{"watch_test_data/resume"};
    sv::session::service_settings ss;
    ss.host.outputs.positions = c.watch[0]->session_positions();
    sv::session::service sessions{*c.nodes[0], ss};
    REQUIRE(sessions.open(sv::session::open_request{7, "u-1", "premiere-1", "tv", "eu-west"}));
    sv::session::heartbeat_report hb;
    hb.session_id = 7;
    hb.position_ms = 754'000;
    REQUIRE_FALSE(sessions.heartbeat(hb));
    sv::session::command close;
    close.session_id = 7;
    close.kind = sv::session::command_kind::close;
    REQUIRE_FALSE(sessions.apply(close));
    // The phone opens the same title through node c: it resumes there.
    CHECK(eventually([&] { return c.position(2, "u-1", "premiere-1") == 754'000; }));
    CHECK(c.position(1, "u-1", "premiere-1") == 754'000);
    auto p = c.watch[2]->position("u-1", "premiere-1");
    REQUIRE(p);
    CHECK(p->device == "tv");
    // Never watched: position 0, event 0.
    auto none = c.watch[1]->position("u-1", "other-title");
    REQUIRE(none);
    CHECK(none->position_ms == 0);
    CHECK(none->event_ms == 0);
  }

  TEST_CASE("a close is acknowledged once its position is held by the owner and the replica") {
    // Syncs so rare that only the close's own confirmation can have stored them.
    cluster c{"watch_test_data/durable_close",
              {{"node-a", ""}, {"node-b", ""}, {"node-c", ""}},
              std::chrono::minutes{10}};
    sv::session::service_settings ss;
    ss.host.outputs.positions = c.watch[0]->session_positions();
    ss.host.outputs.durable_positions = c.watch[0]->durable_positions();
    sv::session::service sessions{*c.nodes[0], ss};
    for (uint64_t id = 1; id <= 8; ++id) {
      auto user = "u-" + std::to_string(id);
      REQUIRE(sessions.open(sv::session::open_request{id, user, "finale", "tv", "eu-west"}));
      sv::session::heartbeat_report hb;
      hb.session_id = id;
      hb.position_ms = static_cast<int64_t>(id) * 1'000;
      REQUIRE_FALSE(sessions.heartbeat(hb));
      sv::session::command close;
      close.session_id = id;
      close.kind = sv::session::command_kind::close;
      REQUIRE_FALSE(sessions.apply(close));
      // Right after the answer: stored at two of the three nodes (any one may fail now).
      int holders = 0;
      for (size_t i = 0; i < c.nodes.size(); ++i) {
        holders += c.stored_at(i, user, "finale") == hb.position_ms ? 1 : 0;
      }
      CHECK_MESSAGE(holders == 2, user);
    }
    // Counted where the closes happened.
    auto text = c.nodes[0]->metrics().render();
    CHECK(text.find("sv_watch_close_positions_held_total 8\n") != std::string::npos);
    CHECK(text.find("sv_watch_close_positions_unconfirmed_total 0\n") != std::string::npos);
  }

  TEST_CASE("a resume position lags the last heartbeat by at most the checkpoint interval") {
    cluster c{"watch_test_data/checkpoint"};
    sv::session::service_settings ss;
    ss.host.outputs.positions = c.watch[0]->session_positions();
    ss.host.outputs.checkpoint_interval = std::chrono::milliseconds{300};
    sv::session::service sessions{*c.nodes[0], ss};
    REQUIRE(sessions.open(sv::session::open_request{9, "u-9", "premiere-9", "web", "eu-west"}));
    // Heartbeats every 50 ms for about a second; the position is the play time in ms.
    auto start = std::chrono::steady_clock::now();
    int64_t last = 0;
    for (int i = 0; i < 20; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds{50});
      last = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now()
                                                                   - start)
                 .count();
      sv::session::heartbeat_report hb;
      hb.session_id = 9;
      hb.position_ms = last;
      REQUIRE_FALSE(sessions.heartbeat(hb));
    }
    // What the cluster holds once synced (no close: as if the node crashed now, minus the
    // sync interval) is a checkpoint at most one interval (plus a heartbeat) behind.
    CHECK(eventually([&] { return c.position(1, "u-9", "premiere-9") > 0; }));
    std::this_thread::sleep_for(std::chrono::milliseconds{1200}); // one more sync
    auto stored = c.position(1, "u-9", "premiere-9");
    CHECK(stored <= last);
    CHECK(stored >= last - 300 - 60);
  }

  TEST_CASE("two devices writing at once resolve by event time on every node") {
    cluster c{"watch_test_data/concurrent"};
    auto t = wall_ms();
    // The later event wins even when it arrives first; a late report of an earlier event
    // changes nothing.
    c.watch[1]->record("u-2", "show-1", 90'000, t + 10, "phone");
    c.watch[1]->sync();
    CHECK(eventually([&] { return c.position(0, "u-2", "show-1") == 90'000; }));
    c.watch[2]->record("u-2", "show-1", 30'000, t + 5, "tv");
    c.watch[2]->sync();
    c.watch[0]->record("u-2", "show-1", 10'000, t + 1, "web");
    c.watch[0]->sync();
    // Equal times: the larger device name wins, the same everywhere.
    c.watch[0]->record("u-3", "show-1", 1'000, t, "phone");
    c.watch[2]->record("u-3", "show-1", 2'000, t, "tv");
    c.watch[0]->sync();
    c.watch[2]->sync();
    CHECK(eventually([&] { return c.position(1, "u-3", "show-1") == 2'000; }));
    for (size_t n = 0; n < 3; ++n) {
      CHECK(c.position(n, "u-2", "show-1") == 90'000);
      CHECK(c.position(n, "u-3", "show-1") == 2'000);
    }
  }

  TEST_CASE("the owner's loss loses no position older than one sync interval") {
    cluster c{"watch_test_data/failover"};
    auto owner = c.index_of(sv::cluster::owner_of("watch-u-4", {"node-a", "node-b", "node-c"}));
    auto writer = (owner + 1) % 3;
    auto reader = (owner + 2) % 3;
    c.watch[writer]->record("u-4", "film-1", 3'600'000, wall_ms(), "tv");
    c.watch[writer]->sync();
    CHECK(eventually([&] { return c.position(reader, "u-4", "film-1") == 3'600'000; }));
    // Two sync intervals: the owner has passed it on to its replica.
    std::this_thread::sleep_for(std::chrono::milliseconds{300});
    c.watch[owner].reset();
    c.nodes[owner]->stop();
    // The reader asks the owner (gone) and the replica: the position is there.
    CHECK(eventually([&] { return c.position(reader, "u-4", "film-1") == 3'600'000; }));
    CHECK(eventually([&] { return c.nodes[reader]->status().members_up == 2; }));
    // Now the replica is the owner: new records go there and are read back.
    c.watch[writer]->record("u-4", "film-1", 3'700'000, wall_ms(), "phone");
    c.watch[writer]->sync();
    CHECK(eventually([&] { return c.position(reader, "u-4", "film-1") == 3'700'000; }));
  }

  TEST_CASE("a whole region's loss loses no position: the owner is in the user's home region, "
            "the replica in another") {
    cluster c{"watch_test_data/regions",
              {{"eu-1", "eu-west"}, {"eu-2", "eu-west"}, {"us-1", "us-east"}, {"us-2", "us-east"}}};
    REQUIRE(eventually([&] { return c.nodes[2]->status().members_up == 4; }));
    constexpr int users = 24;
    auto title = [](int u) {
      return "film-" + std::to_string(u);
    };
    auto user = [](int u) {
      return "u-" + std::to_string(u);
    };
    for (int u = 0; u < users; ++u) {
      // Viewers of eu-west, recorded on an eu-west node.
      c.watch[u % 2]->record(user(u), title(u), 1000 + u, wall_ms(), "tv", "eu-west");
    }
    c.watch[0]->sync();
    c.watch[1]->sync();
    // Each position is stored once in eu-west (its owner) and once in us-east (its replica).
    auto copies_in = [&](size_t first, int u) {
      return int{c.stored_at(first, user(u), title(u)) == 1000 + u}
             + int{c.stored_at(first + 1, user(u), title(u)) == 1000 + u};
    };
    CHECK(eventually([&] {
      for (int u = 0; u < users; ++u) {
        if (copies_in(0, u) != 1 || copies_in(2, u) != 1) {
          return false;
        }
      }
      return true;
    }));
    // eu-west goes away whole: every position is still there, read from us-east.
    for (size_t n : {0, 1}) {
      c.watch[n].reset();
      c.nodes[n]->stop();
    }
    REQUIRE(eventually([&] { return c.nodes[2]->status().members_up == 2; }));
    for (int u = 0; u < users; ++u) {
      CHECK(c.position(2, user(u), title(u), "eu-west") == 1000 + u);
      CHECK(c.position(3, user(u), title(u)) == 1000 + u); // the reader's region asked
    }
    // The home region down, its users are owned in us-east: new records are kept and read.
    c.watch[3]->record(user(0), title(0), 5000, wall_ms(), "phone", "eu-west");
    c.watch[3]->sync();
    CHECK(eventually([&] { return c.position(2, user(0), title(0), "eu-west") == 5000; }));
  }

  TEST_CASE("reads stay in the home region once the members settle, and a region that returns "
            "gets what was written while it was away before its reads do") {
    // Settled 3 s after the last change: the rebalance and its sync take a few hundred ms.
    cluster c{"watch_test_data/settle",
              {{"eu-1", "eu-west"}, {"eu-2", "eu-west"}, {"us-1", "us-east"}, {"us-2", "us-east"}},
              std::chrono::milliseconds{100},
              std::chrono::seconds{3}};
    REQUIRE(eventually([&] { return c.nodes[0]->status().members_up == 4; }));
    constexpr int users = 24;
    auto user = [](int u) {
      return "s-" + std::to_string(u);
    };
    for (int u = 0; u < users; ++u) {
      c.watch[u % 2]->record(user(u), "film-s", 1000 + u, wall_ms(), "tv", "eu-west");
    }
    c.watch[0]->sync();
    c.watch[1]->sync();
    REQUIRE(
        eventually([&] { return c.position(0, user(users - 1), "film-s") == 1000 + users - 1; }));
    // Settled: each read asks eu-west's members alone, and finds what was written there.
    REQUIRE(eventually(
        [&] { return c.position(0, user(0), "film-s") == 1000 && c.home_reads(0) > 0; }));
    auto home_before = c.home_reads(0);
    for (int u = 0; u < users; ++u) {
      CHECK(c.position(0, user(u), "film-s", "eu-west") == 1000 + u);
    }
    CHECK(c.home_reads(0) == home_before + users);
    // eu-west lost whole: its users are owned in us-east, where new positions are written.
    for (size_t n : {0, 1}) {
      c.watch[n].reset();
      c.nodes[n]->stop();
    }
    REQUIRE(eventually([&] { return c.nodes[2]->status().members_up == 2; }));
    for (int u = 0; u < users; ++u) {
      c.watch[2]->record(user(u), "film-s", 5000 + u, wall_ms(), "phone", "eu-west");
    }
    c.watch[2]->sync();
    REQUIRE(eventually(
        [&] { return c.position(3, user(users - 1), "film-s", "eu-west") == 5000 + users - 1; }));
    // eu-west back, on new nodes with empty stores: us-east sends them what it stored
    // meanwhile, so once eu-3's view settles its reads (eu-west alone) find the new positions.
    auto rebalanced_before =
        c.metric(2, "sv_watch_rebalanced_total") + c.metric(3, "sv_watch_rebalanced_total");
    c.add("eu-3", "eu-west");
    c.add("eu-4", "eu-west");
    REQUIRE(eventually([&] { return c.nodes[4]->status().members_up == 4; }));
    // (A read of a position nobody wrote: it repairs nothing.)
    REQUIRE(eventually([&] {
      c.position(4, "nobody", "film-s", "eu-west");
      return c.home_reads(4) > 0;
    }));
    auto home_at_eu3 = c.home_reads(4);
    for (int u = 0; u < users; ++u) {
      CHECK(c.position(4, user(u), "film-s", "eu-west") == 5000 + u);
    }
    CHECK(c.home_reads(4) == home_at_eu3 + users);
    CHECK(c.metric(2, "sv_watch_rebalanced_total") + c.metric(3, "sv_watch_rebalanced_total")
          >= rebalanced_before + users); // us-east queued each for eu-west
    // Each user's owner in eu-west stores the new position (not only read from the replica).
    std::vector<std::string> eu{"eu-3", "eu-4"};
    for (int u = 0; u < users; ++u) {
      auto owner = c.index_of(sv::cluster::owner_of("watch-" + user(u), eu));
      CHECK(eventually([&] { return c.stored_at(owner, user(u), "film-s") == 5000 + u; }));
    }
  }

  TEST_CASE("positions written before nodes joined are read after, and move to their new owners") {
    cluster c{"watch_test_data/joined"};
    constexpr int users = 30;
    auto user = [](int u) {
      return "j-" + std::to_string(u);
    };
    for (int u = 0; u < users; ++u) {
      c.watch[u % 3]->record(user(u), "film-j", 100 + u, wall_ms(), "tv");
    }
    for (auto& w : c.watch) {
      w->sync();
    }
    REQUIRE(
        eventually([&] { return c.position(0, user(users - 1), "film-j") == 100 + users - 1; }));
    std::this_thread::sleep_for(std::chrono::milliseconds{300}); // replicas too
    // Two nodes join: some users' owner and replica are new nodes that hold nothing of them.
    c.add("node-d");
    c.add("node-e");
    REQUIRE(eventually([&] { return sv::test::full_mesh(c.nodes); }));
    std::vector<std::string> all{"node-a", "node-b", "node-c", "node-d", "node-e"};
    int moved = 0;
    for (int u = 0; u < users; ++u) {
      auto now = sv::cluster::owners_of("watch-" + user(u), all, 2);
      auto before = sv::cluster::owners_of("watch-" + user(u), {"node-a", "node-b", "node-c"}, 2);
      moved += now != before ? 1 : 0;
      CHECK(c.position(4, user(u), "film-j") == 100 + u);
    }
    CHECK(moved > 0); // the case this is about happened
    // Read repair: the new owners got them (the old copies may go; these stay readable).
    for (int u = 0; u < users; ++u) {
      auto owner = c.index_of(sv::cluster::owner_of("watch-" + user(u), all));
      CHECK(eventually([&] { return c.stored_at(owner, user(u), "film-j") == 100 + u; }));
    }
  }

  TEST_CASE("nodes that leave hand the positions they hold to the users' new holders") {
    cluster c{"watch_test_data/leave",
              {{"node-a", ""}, {"node-b", ""}, {"node-c", ""}, {"node-d", ""}}};
    REQUIRE(eventually([&] { return c.nodes[0]->status().members_up == 4; }));
    std::vector<std::string> all{"node-a", "node-b", "node-c", "node-d"};
    // Users whose owner and replica are both node-c and node-d, which will both leave.
    std::vector<std::string> users;
    for (int k = 0; users.size() < 5; ++k) {
      auto u = "l-" + std::to_string(k);
      auto h = sv::cluster::owners_of("watch-" + u, all, 2);
      if ((h[0] == "node-c" || h[0] == "node-d") && (h[1] == "node-c" || h[1] == "node-d")) {
        users.push_back(u);
      }
    }
    for (size_t i = 0; i < users.size(); ++i) {
      c.watch[0]->record(users[i], "film-l", 1000 + static_cast<int64_t>(i), wall_ms(), "tv");
    }
    c.watch[0]->sync();
    REQUIRE(eventually([&] {
      for (size_t i = 0; i < users.size(); ++i) {
        if (c.stored_at(2, users[i], "film-l") != 1000 + static_cast<int64_t>(i)
            || c.stored_at(3, users[i], "film-l") != 1000 + static_cast<int64_t>(i)) {
          return false;
        }
      }
      return true;
    }));
    // node-c, then node-d leave, each handing over first.
    for (size_t n : {2, 3}) {
      REQUIRE(c.nodes[n]->leave());
      REQUIRE(eventually([&] { return c.nodes[0]->status().members_up == 5 - n; }));
      auto moved = c.watch[n]->hand_over(std::chrono::seconds{5});
      REQUIRE(moved);
      CHECK(*moved >= users.size());
      std::this_thread::sleep_for(std::chrono::milliseconds{300}); // delivered and stored
      c.watch[n].reset();
      c.nodes[n]->stop();
    }
    for (size_t i = 0; i < users.size(); ++i) {
      CHECK(c.position(0, users[i], "film-l") == 1000 + static_cast<int64_t>(i));
    }
  }
}
