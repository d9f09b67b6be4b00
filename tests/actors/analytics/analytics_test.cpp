// The analytics service on nodes in one process on loopback: events emitted on any node
// are stored once by their partition and show in its windows; a resent batch is stored
// once, also after the partition's node restarted, and once at the partition's owner when
// it was stored elsewhere too (handoff); emit() refuses beyond max_pending.
// Every wait is bounded.

#include "actors/analytics/analytics.hpp"
#include "actors/analytics/analytics_settings.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "tests/support/eventually.hpp"
#include "tests/support/test_nodes.hpp"

#include "actors/analytics/analytics.pb.h"
#include "actors/analytics/history_store.hpp"
#include "actors/session/edge_client.hpp"
#include "actors/session/session_errc.hpp"
#include "actors/session/session_gateway.hpp"
#include "actors/session/session_service.hpp"
#include "caf/scoped_actor.hpp"
#include "runtime/cluster/placement.hpp"
#include "runtime/metrics/registry.hpp"
#include "runtime/node/node.hpp"
#include "runtime/wire/errc.hpp"
#include "runtime/wire/protobuf.hpp"

extern "C" const char* __asan_default_options() {
  // Same CAF 0.17.6 BASP shutdown cycle as in the catalog test (see there).
  return "detect_leaks=0";
}

namespace {

using sv::analytics::viewer_event;
using sv::test::eventually;
namespace v1 = streamverse::v1;

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

viewer_event heartbeat(const std::string& id, const std::string& content) {
  viewer_event e;
  e.set_event_id(id);
  e.set_session_id("s-" + id);
  e.set_user_id("u");
  e.set_content_id(content);
  e.set_region("eu-west");
  e.set_type(v1::EVENT_HEARTBEAT);
  e.set_timestamp_ms(wall_ms());
  e.set_watched_ms(2000);
  return e;
}

struct cluster {
  std::string dir;
  std::vector<std::unique_ptr<sv::node>> nodes;
  std::vector<std::unique_ptr<sv::analytics::analytics>> services;

  // `wipe`: start from empty data directories (false: reuse what an earlier run stored).
  cluster(const std::string& test_dir, size_t n,
          std::function<void(sv::config::node_settings&)> tweak = {}, bool wipe = true)
      : dir(test_dir) {
    if (wipe) {
      std::filesystem::remove_all(dir);
    }
    for (size_t i = 0; i < n; ++i) {
      start("node-" + std::string(1, static_cast<char>('a' + i)), tweak);
    }
    REQUIRE(eventually([&] {
      return std::all_of(nodes.begin(), nodes.end(), [&](auto& x) {
        return x->status().members_up == nodes.size() && x->status().peers == nodes.size() - 1;
      });
    }));
  }

  void start(const std::string& name,
             const std::function<void(sv::config::node_settings&)>& tweak) {
    auto s = sv::test::fast_node_settings(name, dir + "/" + name);
    // These tests count events exactly and query sessions: no sampling, and no degradation
    // from the load of three nodes in one (sanitizer-slowed) process, which would shed the
    // interactive queries and sample heartbeats.
    s.section<sv::config::analytics_node_settings>().sample_rate = 1;
    s.flow.dispatch_lag_budget_ms = 60'000;
    s.flow.critical_budget_ms = 60'000;
    s.flow.queue_delay_budget_ms = 0;
    s.flow.critical_backlog_budget_us = 0;
    if (!nodes.empty()) {
      s.seeds = {{"127.0.0.1", nodes[0]->cluster_port()}};
    }
    if (tweak) {
      tweak(s);
    }
    auto n = std::make_unique<sv::node>(
        s, std::vector<sv::node::type_registrar>{sv::analytics::register_message_types,
                                                 sv::session::register_message_types});
    REQUIRE(n->start().empty());
    services.push_back(std::make_unique<sv::analytics::analytics>(*n));
    nodes.push_back(std::move(n));
  }

  ~cluster() {
    for (auto& s : services) {
      s.reset(); // before its node
    }
  }
};

} // namespace

TEST_SUITE("actors.analytics") {
  TEST_CASE("events from every node are stored once by their partitions and seen live") {
    cluster c{"analytics_test_data/three", 3};
    std::map<std::string, size_t> per_title;
    for (size_t i = 0; i < 3000; ++i) {
      auto title = "title-" + std::to_string(i % 10);
      REQUIRE(c.services[i % 3]->emit(heartbeat("e" + std::to_string(i), title)));
      ++per_title[title];
    }
    for (auto& s : c.services) {
      REQUIRE(s->drain(std::chrono::seconds{10}));
    }
    uint64_t stored = 0;
    uint64_t acked = 0;
    for (auto& s : c.services) {
      auto st = s->stats();
      stored += st.stored;
      acked += st.acked_events;
      CHECK(st.pending == 0);
    }
    CHECK(stored == 3000);
    CHECK(acked == 3000);
    for (auto& [title, n] : per_title) {
      auto w = c.services[1]->window(title, "eu-west", std::chrono::seconds{60});
      REQUIRE(w);
      CHECK(w->events == static_cast<double>(n));
      CHECK(w->concurrent_viewers == static_cast<double>(n)); // one session per event here
    }
  }

  TEST_CASE("with regions, events are stored in the region where they happened and a "
            "region's window is answered there, from any node") {
    // node-a, node-b in eu-west; node-c, node-d in us-east.
    cluster c{"analytics_test_data/regions", 4, [](sv::config::node_settings& s) {
                s.region = s.name < "node-c" ? "eu-west" : "us-east";
              }};
    auto with_region = [](viewer_event e, const std::string& region) {
      e.set_region(region);
      return e;
    };
    // eu-west viewers on eu-west nodes, us-east viewers on us-east nodes.
    for (size_t i = 0; i < 384; ++i) { // 48 events per title, 12 from each node
      auto title = "title-" + std::to_string(i % 8);
      auto node = (i / 8) % 4;
      auto region = node < 2 ? "eu-west" : "us-east";
      REQUIRE(
          c.services[node]->emit(with_region(heartbeat("e" + std::to_string(i), title), region)));
    }
    for (auto& s : c.services) {
      REQUIRE(s->drain(std::chrono::seconds{10}));
    }
    auto stored = [&](size_t from, size_t to) {
      uint64_t n = 0;
      for (size_t i = from; i < to; ++i) {
        n += c.services[i]->stats().stored;
      }
      return n;
    };
    CHECK(stored(0, 2) == 192); // eu-west's events on eu-west's nodes
    CHECK(stored(2, 4) == 192); // us-east's on us-east's
    // Each region's window, asked through a node of the other region, is its own events.
    for (size_t t = 0; t < 8; ++t) {
      auto title = "title-" + std::to_string(t);
      auto eu = c.services[3]->window(title, "eu-west", std::chrono::seconds{60});
      auto us = c.services[0]->window(title, "us-east", std::chrono::seconds{60});
      REQUIRE(eu);
      REQUIRE(us);
      CHECK(eu->events == 24.0);
      CHECK(us->events == 24.0);
    }
    // Every region at once: each region's own answer, named.
    auto all = c.services[1]->windows("title-3", std::chrono::seconds{60});
    REQUIRE(all.size() == 2);
    REQUIRE(all.count("eu-west") == 1);
    REQUIRE(all.count("us-east") == 1);
    REQUIRE(all.at("eu-west"));
    REQUIRE(all.at("us-east"));
    CHECK(all.at("eu-west")->events == 24.0);
    CHECK(all.at("us-east")->events == 24.0);
    // us-east gone: eu-west still answers, and no us-east answer is made up.
    c.services[3].reset();
    c.services[2].reset();
    c.nodes[3]->stop();
    c.nodes[2]->stop();
    REQUIRE(eventually([&] { return c.nodes[0]->status().members_up == 2; }));
    auto left = c.services[0]->windows("title-3", std::chrono::seconds{60});
    REQUIRE(left.size() == 1);
    REQUIRE(left.count("eu-west") == 1);
    CHECK(left.at("eu-west")->events == 24.0);
  }

  TEST_CASE("with regions, a batch resent through another region is stored once, in its "
            "home region, and a title's history adds up every region's") {
    // node-a, node-b in eu-west; node-c, node-d in us-east.
    auto dir = std::string{"analytics_test_data/away"};
    cluster c{dir, 4, [](sv::config::node_settings& s) {
                s.region = s.name < "node-c" ? "eu-west" : "us-east";
                s.section<sv::config::analytics_node_settings>().partitions = 4;
              }};
    auto batch = [](uint64_t seq, const std::string& viewers, const std::string& home) {
      streamverse::v1::EventBatch b;
      b.set_producer_id("edge-" + viewers);
      b.set_sequence(seq);
      b.set_home_region(home);
      for (int i = 0; i < 12; ++i) { // three titles: parts for several partitions
        auto e = heartbeat(viewers + "-" + std::to_string(seq) + "-" + std::to_string(i),
                           "title-" + std::to_string(i % 3));
        e.set_region(viewers);
        *b.add_events() = e;
      }
      return b;
    };
    auto ingest = [&](size_t node, const streamverse::v1::EventBatch& b) {
      caf::scoped_actor self{c.nodes[node]->system()};
      bool ok = false;
      self->request(c.services[node]->handle(), std::chrono::seconds{5},
                    sv::analytics::ingest_atom::value, b)
          .receive(
              [&](const streamverse::v1::BatchAck& a) {
                ok = a.stored() + a.refused() > 0 || a.duplicate();
              },
              [](caf::error&) { FAIL("no acknowledgement"); });
      return ok;
    };
    // An eu-west edge server: batch 1 reached node-a, its acknowledgement was lost and
    // the resend went to node-c in us-east; batch 2 reached only node-d. us-east's own
    // viewers' batch 1 is at home in us-east.
    REQUIRE(ingest(0, batch(1, "eu-west", "eu-west")));
    REQUIRE(ingest(2, batch(1, "eu-west", "eu-west")));
    REQUIRE(ingest(3, batch(2, "eu-west", "eu-west")));
    REQUIRE(ingest(2, batch(1, "us-east", "us-east")));
    // Held in us-east for eu-west, then handed home: nothing is held away any more, and no
    // node holds a batch another node owns.
    auto settled = [&] {
      for (auto& node : c.nodes) {
        auto text = node->metrics().render();
        if (text.find("sv_analytics_held_away_batches 0\n") == std::string::npos
            || text.find("sv_analytics_unowned_batches 0\n") == std::string::npos) {
          return false;
        }
      }
      return true;
    };
    REQUIRE(eventually(settled, std::chrono::seconds{20}));
    uint64_t sent_home = 0;
    for (auto& s : c.services) {
      sent_home += s->stats().sent_home;
    }
    CHECK(sent_home >= 3); // batch 2's parts at least (batch 1's may have been duplicates)
    // The history of every region from a us-east node: each event once, by viewer region.
    auto to = wall_ms() + 60'000;
    for (int t = 0; t < 3; ++t) {
      auto title = "title-" + std::to_string(t);
      auto h = c.services[3]->history(title, sv::analytics::all_regions, to - 600'000, to);
      REQUIRE(h);
      REQUIRE(h->sources.size() == 2);
      CHECK(h->sources[0].region == "eu-west");
      CHECK(h->sources[0].error.empty());
      CHECK(h->sources[1].region == "us-east");
      CHECK(h->sources[1].error.empty());
      std::map<std::string, uint64_t> events;
      for (auto& m : h->minutes) {
        events[m.region] += m.events;
      }
      CHECK(events["eu-west"] == 8); // batches 1 and 2, 4 events of this title each
      CHECK(events["us-east"] == 4);
      // One region's store alone: us-east's holds none of eu-west's viewers now.
      auto us = c.services[0]->history(title, "us-east", to - 600'000, to);
      REQUIRE(us);
      REQUIRE(us->sources.size() == 1);
      for (auto& m : us->minutes) {
        CHECK(m.region == "us-east");
      }
    }
    auto bad = c.services[0]->history("", sv::analytics::all_regions, 0, 1);
    REQUIRE_FALSE(bad);
    CHECK(sv::is(bad.error(), sv::errc::invalid_argument));
    c.services.clear();
    for (auto& n : c.nodes) {
      n->stop();
    }
    // Every eu-west event once in eu-west's files, none in us-east's.
    std::map<std::string, int> seen;
    for (auto name : {"node-a", "node-b", "node-c", "node-d"}) {
      for (uint32_t p = 0; p < 4; ++p) {
        auto path = dir + "/" + name + "/analytics/partition-" + std::to_string(p) + ".db";
        if (!std::filesystem::exists(path)) {
          continue;
        }
        sv::analytics::history_store h{path};
        REQUIRE(h.error().empty());
        for (auto& e : h.read_all()) {
          auto east = std::string{name} >= "node-c";
          CHECK_MESSAGE(e.region() == (east ? "us-east" : "eu-west"), e.event_id(), " in ", name);
          ++seen[e.event_id()];
        }
      }
    }
    CHECK(seen.size() == 36);
    for (auto& [id, n] : seen) {
      CHECK_MESSAGE(n == 1, id);
    }
  }

  TEST_CASE("a resent batch is stored once, also after its partition's node restarted") {
    auto dir = std::string{"analytics_test_data/resend"};
    streamverse::v1::EventBatch b;
    b.set_producer_id("producer-x");
    b.set_sequence(1);
    for (int i = 0; i < 20; ++i) {
      *b.add_events() = heartbeat("r" + std::to_string(i), "title-r");
    }
    auto send = [&](cluster& c) {
      caf::scoped_actor self{c.nodes[0]->system()};
      streamverse::v1::BatchAck ack;
      self->request(c.services[0]->handle(), std::chrono::seconds{5},
                    sv::analytics::partition_atom::value, uint32_t{3}, b)
          .receive([&](const streamverse::v1::BatchAck& a) { ack = a; },
                   [](caf::error&) { FAIL("no acknowledgement"); });
      return ack;
    };
    {
      cluster c{dir, 1};
      auto first = send(c);
      CHECK_FALSE(first.duplicate());
      CHECK(first.stored() == 20);
      auto again = send(c); // the producer did not see the first answer
      CHECK(again.duplicate());
      CHECK(c.services[0]->stats().stored == 20);
      CHECK(c.services[0]->stats().duplicate_batches == 1);
    }
    // Same node, same data directory: the partition's history remembers the batch.
    cluster c{dir, 1, {}, false};
    auto after = send(c);
    CHECK(after.duplicate());
    CHECK(c.services[0]->stats().stored == 0);
  }

  TEST_CASE("a partition's batches stored elsewhere move to its owner, each once there") {
    auto dir = std::string{"analytics_test_data/handoff"};
    constexpr uint32_t p = 3;
    auto owner_name = sv::cluster::owner_of("analytics-partition-" + std::to_string(p),
                                            {"node-a", "node-b", "node-c"});
    auto batch = [](uint64_t seq) {
      streamverse::v1::EventBatch b;
      b.set_producer_id("producer-h");
      b.set_sequence(seq);
      b.set_partition(p);
      for (int i = 0; i < 10; ++i) {
        *b.add_events() = heartbeat("h" + std::to_string(seq) + "-" + std::to_string(i), "title-h");
      }
      return b;
    };
    auto store_at = [&](cluster& c, size_t node, const streamverse::v1::EventBatch& b) {
      caf::scoped_actor self{c.nodes[node]->system()};
      bool ok = false;
      self->request(c.services[node]->handle(), std::chrono::seconds{5},
                    sv::analytics::partition_atom::value, p, b)
          .receive([&](const streamverse::v1::BatchAck&) { ok = true; },
                   [](caf::error&) { FAIL("no acknowledgement"); });
      return ok;
    };
    size_t owner = 0;
    {
      cluster c{dir, 3};
      while (c.nodes[owner]->settings().name != owner_name) {
        ++owner;
      }
      auto giver = (owner + 1) % 3;
      // The giver stored batch 1 and its acknowledgement was lost: the producer resent it
      // and the owner stored it too. Batches 2 and 3 only reached the giver (as the owner
      // while the real owner was away).
      REQUIRE(store_at(c, giver, batch(1)));
      REQUIRE(store_at(c, owner, batch(1)));
      REQUIRE(store_at(c, giver, batch(2)));
      REQUIRE(store_at(c, giver, batch(3)));
      REQUIRE(eventually([&] { return c.services[giver]->stats().handed_off == 3; }));
      // No node holds a batch of a partition it does not own any more (what the soak
      // waits for before it reads the files).
      CHECK(eventually([&] {
        for (auto& node : c.nodes) {
          if (node->metrics().render().find("sv_analytics_unowned_batches 0\n")
              == std::string::npos) {
            return false;
          }
        }
        return true;
      }));
      CHECK(c.services[owner]->stats().adopted >= 2);
      CHECK(c.services[(owner + 2) % 3]->stats().handed_off == 0);
      // Once handed over, a resend to the owner is a duplicate.
      auto before = c.services[owner]->stats().duplicate_batches;
      REQUIRE(store_at(c, owner, batch(2)));
      CHECK(c.services[owner]->stats().duplicate_batches == before + 1);
    }
    // Every batch once, at the owner; nothing left elsewhere (rollups included).
    for (auto name : {"node-a", "node-b", "node-c"}) {
      auto path = dir + "/" + name + "/analytics/partition-3.db";
      if (!std::filesystem::exists(path)) {
        CHECK(name != owner_name);
        continue;
      }
      sv::analytics::history_store h{path};
      REQUIRE(h.error().empty());
      if (name == owner_name) {
        CHECK(h.batch_count() == 3);
        CHECK(h.event_count() == 30);
        uint64_t rolled = 0;
        for (auto& r : h.rollups()) {
          rolled += r.events;
        }
        CHECK(rolled == 30);
      } else {
        CHECK(h.batch_count() == 0);
        CHECK(h.rollups().empty());
      }
    }
  }

  TEST_CASE("a node that leaves hands its batches to the partitions' new owners first") {
    auto dir = std::string{"analytics_test_data/leave"};
    constexpr uint32_t p = 5;
    auto owner_name = sv::cluster::owner_of("analytics-partition-" + std::to_string(p),
                                            {"node-a", "node-b", "node-c"});
    std::string heir_name;
    size_t owner = 0;
    {
      cluster c{dir, 3};
      while (c.nodes[owner]->settings().name != owner_name) {
        ++owner;
      }
      std::vector<std::string> rest;
      for (auto& n : c.nodes) {
        if (n->settings().name != owner_name) {
          rest.push_back(n->settings().name);
        }
      }
      heir_name = sv::cluster::owner_of("analytics-partition-" + std::to_string(p), rest);
      // Four acknowledged batches of p, stored at its owner.
      for (uint64_t seq = 1; seq <= 4; ++seq) {
        streamverse::v1::EventBatch b;
        b.set_producer_id("producer-l");
        b.set_sequence(seq);
        b.set_partition(p);
        for (int i = 0; i < 5; ++i) {
          *b.add_events() =
              heartbeat("l" + std::to_string(seq) + "-" + std::to_string(i), "title-l");
        }
        caf::scoped_actor self{c.nodes[owner]->system()};
        bool acked = false;
        self->request(c.services[owner]->handle(), std::chrono::seconds{5},
                      sv::analytics::partition_atom::value, p, b)
            .receive([&](const streamverse::v1::BatchAck&) { acked = true; }, [](caf::error&) {});
        REQUIRE(acked);
      }
      // The owner leaves: the others place p on the heir, which takes the batches over
      // while the owner waits, still serving.
      REQUIRE(c.nodes[owner]->leave());
      CHECK(c.services[owner]->hand_over(std::chrono::seconds{20}));
      CHECK(c.services[owner]->stats().handed_off == 4);
      c.services[owner].reset();
      c.nodes[owner]->stop();
    }
    // Every batch is at the heir, none left with the node that left.
    for (auto name : {"node-a", "node-b", "node-c"}) {
      auto path = dir + "/" + name + "/analytics/partition-5.db";
      if (!std::filesystem::exists(path)) {
        CHECK(name != heir_name);
        continue;
      }
      sv::analytics::history_store h{path};
      REQUIRE(h.error().empty());
      CHECK(h.batch_count() == (name == heir_name ? 4 : 0));
    }
  }

  TEST_CASE("clients outside the cluster: batches ingested once, sessions through the gateway") {
    cluster c{"analytics_test_data/clients", 2, [](sv::config::node_settings& s) {
                s.section<sv::config::analytics_node_settings>().partitions = 4;
              }};
    sv::session::service sessions{*c.nodes[0]};
    sv::session::gateway gw{*c.nodes[0], sessions};
    // Node b's actor system plays the client (any CAF system with the types would do).
    auto& client = c.nodes[1]->system();
    auto port = c.nodes[0]->cluster_port();
    caf::scoped_actor self{client};

    auto svc = sv::analytics::connect_service(client, "127.0.0.1", port, std::chrono::seconds{3});
    REQUIRE(svc);
    streamverse::v1::EventBatch b;
    b.set_producer_id("edge-1");
    b.set_sequence(7);
    for (int i = 0; i < 40; ++i) { // ten titles: parts for several partitions
      *b.add_events() = heartbeat("edge-" + std::to_string(i), "title-" + std::to_string(i % 10));
    }
    auto ingest = [&] {
      streamverse::v1::BatchAck ack;
      self->request(*svc, std::chrono::seconds{5}, sv::analytics::ingest_atom::value, b)
          .receive([&](const streamverse::v1::BatchAck& a) { ack = a; },
                   [](caf::error&) { FAIL("no acknowledgement"); });
      return ack;
    };
    auto first = ingest();
    CHECK(first.stored() == 40);
    CHECK_FALSE(first.duplicate());
    auto again = ingest(); // the client missed the answer and sends it again
    CHECK(again.duplicate());
    CHECK(again.stored() == 0);
    CHECK(c.services[0]->stats().stored + c.services[1]->stats().stored == 40);

    // Sessions through the edge client (batches to the node's gateways).
    sv::session::edge_settings es;
    es.nodes = {{"node-a", "127.0.0.1", port}};
    sv::session::edge_client edge{client, es, {}};
    REQUIRE(edge.wait_connected(std::chrono::seconds{5}) == 1);
    sv::session::open_request open;
    open.session_id = 42;
    open.user = "u-1";
    open.content = "title-1";
    open.device = "tv";
    open.region = "eu-west";
    CHECK_FALSE(edge.open_sync(open));
    sv::session::heartbeat_report hb;
    hb.session_id = 42;
    hb.position_ms = 10'000;
    CHECK_FALSE(edge.heartbeat_sync(hb));
    auto info = sessions.info(42);
    REQUIRE(info);
    CHECK(info->position_ms == 10'000);
    hb.session_id = 43; // never opened: an explicit error, not silence
    auto err = edge.heartbeat_sync(hb);
    CHECK(sv::is(err, sv::session::session_errc::unknown_session));
    sv::session::command close;
    close.session_id = 42;
    close.kind = sv::session::command_kind::close;
    CHECK_FALSE(edge.command_sync(close));
    CHECK_FALSE(sessions.info(42));
    open.session_id = 44;
    CHECK_FALSE(edge.open_sync(open)); // the client's link to the node still works

    auto served = sv::serve_metrics(*c.nodes[0]);
    auto text = sv::fetch_metrics(client, "127.0.0.1", port, std::chrono::seconds{3});
    REQUIRE(text);
    CHECK(text->find("sv_analytics_stored_total") != std::string::npos);
    CHECK(text->find("sv_load_level") != std::string::npos);
  }

  TEST_CASE("emit refuses with overloaded once max_pending events await acknowledgement") {
    cluster c{"analytics_test_data/backpressure", 1, [](sv::config::node_settings& s) {
                s.section<sv::config::analytics_node_settings>().max_pending = 100;
                s.section<sv::config::analytics_node_settings>().max_batch =
                    1'000'000; // nothing leaves until drain()
                s.section<sv::config::analytics_node_settings>().linger_ms = 60'000;
              }};
    auto& a = *c.services[0];
    for (int i = 0; i < 100; ++i) {
      REQUIRE(a.emit(heartbeat("b" + std::to_string(i), "title-b")));
    }
    auto refused = a.emit(heartbeat("b100", "title-b"));
    REQUIRE_FALSE(refused);
    CHECK(sv::is(refused.error(), sv::errc::overloaded));
    CHECK(a.stats().overloaded == 1);
    REQUIRE(a.drain(std::chrono::seconds{10}));
    CHECK(a.stats().stored == 100);
    CHECK(a.emit(heartbeat("b101", "title-b")));
  }
}

TEST_SUITE("actors.analytics") {
  TEST_CASE("sessions emit their events as they happen") {
    cluster c{"analytics_test_data/sessions", 1};
    auto& a = *c.services[0];
    sv::session::service_settings ss;
    ss.hosts = 2;
    ss.host.outputs.events = a.session_events();
    sv::session::service sessions{*c.nodes[0], ss};
    for (uint64_t id = 1; id <= 3; ++id) {
      sv::session::open_request r;
      r.session_id = id;
      r.user = "u" + std::to_string(id);
      r.content = "title-live";
      r.device = "tv";
      r.region = "eu-west";
      REQUIRE(sessions.open(r));
      sv::session::heartbeat_report h;
      h.session_id = id;
      h.bitrate_kbps = 4500;
      REQUIRE_FALSE(sessions.heartbeat(h));
    }
    REQUIRE_FALSE(sessions.apply({3, sv::session::command_kind::close, 0}));
    // The hosts hand their events on in blocks (at the latest after their flush interval).
    CHECK(eventually([&] { return a.stats().emitted == 7; }));
    REQUIRE(a.drain(std::chrono::seconds{10}));
    CHECK(a.stats().stored == 7); // 3 starts, 3 heartbeats, 1 stop
    auto w = a.window("title-live", "eu-west", std::chrono::seconds{60});
    REQUIRE(w);
    CHECK(w->concurrent_viewers == 3);
    CHECK(w->starts == 3);
    CHECK(w->events == 7);
    CHECK(w->bitrate_mix[2] == 1.0); // every heartbeat at 4.5 Mbit/s: the 3-6 Mbit/s class
  }
}
