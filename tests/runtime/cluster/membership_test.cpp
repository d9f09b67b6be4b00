// Membership merge rules, the failure detector's timeouts and rendezvous placement.
// Pure logic: time is passed in.

#include "runtime/cluster/membership.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "runtime/cluster/placement.hpp"

using namespace std::chrono_literals;
using sv::cluster::member;
using sv::cluster::member_state;
using sv::cluster::membership;

namespace {

member node(const std::string& name, uint64_t incarnation = 100,
            member_state state = member_state::up) {
  return member{name, name + ":7100", "0.1.0", incarnation, state, "", ""};
}

member_state state_of(const membership& m, const std::string& name) {
  auto x = m.find(name);
  REQUIRE(x.has_value());
  return x->state;
}

} // namespace

TEST_SUITE("runtime.cluster") {
  TEST_CASE("members of another region get the remote thresholds, members of this one the "
            "local ones") {
    sv::cluster::membership_settings cfg;
    cfg.suspect_after = 1500ms;
    cfg.down_after = 3000ms;
    cfg.remote_suspect_after = 2000ms;
    cfg.remote_down_after = 3000ms;
    auto in = [](member m, const std::string& region) {
      m.region = region;
      return m;
    };
    membership m{in(node("a"), "eu-west"), cfg};
    m.hello(in(node("b"), "eu-west"), 0ms); // same region
    m.hello(in(node("c"), "us-east"), 0ms); // across the WAN
    m.hello(node("d"), 0ms);                // no region: treated as local
    CHECK(m.find("c")->region == "us-east");
    // 1.8 s of silence (e.g. 230 ms RTT with jitter and a slow gossip round): the local
    // members are suspect, the remote one is not.
    m.tick(1800ms);
    CHECK(state_of(m, "b") == member_state::suspect);
    CHECK(state_of(m, "d") == member_state::suspect);
    CHECK(state_of(m, "c") == member_state::up);
    m.tick(2000ms);
    CHECK(state_of(m, "c") == member_state::suspect);
    // Down: local after 1.5 + 3 s of silence, remote after 2 + 3 s: a dead region is down
    // within remote_suspect_after + remote_down_after.
    m.tick(4800ms);
    CHECK(state_of(m, "b") == member_state::down);
    CHECK(state_of(m, "c") == member_state::suspect);
    m.tick(5000ms);
    CHECK(state_of(m, "c") == member_state::down);
  }

  TEST_CASE("a service placed per region places a node's keys on the up members of its region") {
    using sv::cluster::member;
    using sv::cluster::member_state;
    std::vector<member> ms = {
        {"node-a", "", "", 1, member_state::up, "eu-west", ""},
        {"node-c", "", "", 1, member_state::up, "us-east", ""},
        {"node-b", "", "", 1, member_state::up, "eu-west", ""},
        {"node-d", "", "", 1, member_state::suspect, "us-east", ""},
        {"node-e", "", "", 1, member_state::down, "eu-west", ""},
    };
    CHECK(sv::cluster::up_names_in(ms, "eu-west") == std::vector<std::string>{"node-a", "node-b"});
    CHECK(sv::cluster::up_names_in(ms, "us-east") == std::vector<std::string>{"node-c"});
    CHECK(sv::cluster::up_names_in(ms, "")
          == std::vector<std::string>{"node-a", "node-b", "node-c"});
    CHECK(sv::cluster::up_names_in(ms, "ap-south").empty());
    // The regions with a member up, once each; ap-south's only member is down.
    ms.push_back({"node-f", "", "", 1, member_state::down, "ap-south", ""});
    ms.push_back({"node-g", "", "", 1, member_state::up, "", ""});
    CHECK(sv::cluster::up_regions(ms) == std::vector<std::string>{"eu-west", "us-east"});
    ms.back().state = member_state::suspect;
    ms.push_back({"node-h", "", "", 1, member_state::up, "ap-south", ""});
    CHECK(sv::cluster::up_regions(ms)
          == std::vector<std::string>{"ap-south", "eu-west", "us-east"});
    // Every key of eu-west's nodes is owned in eu-west.
    for (int k = 0; k < 50; ++k) {
      auto owner = sv::cluster::owner_of("key-" + std::to_string(k),
                                         sv::cluster::up_names_in(ms, "eu-west"));
      CHECK((owner == "node-a" || owner == "node-b"));
    }
  }

  TEST_CASE("a key with a home region: owner at home, replica in another region, both move "
            "only when their region has no member up") {
    using sv::cluster::holders_across_regions;
    std::vector<member> ms{
        {"eu-1", "", "", 1, member_state::up, "eu-west", ""},
        {"eu-2", "", "", 1, member_state::up, "eu-west", ""},
        {"us-1", "", "", 1, member_state::up, "us-east", ""},
        {"us-2", "", "", 1, member_state::up, "us-east", ""},
        {"ap-1", "", "", 1, member_state::up, "ap-south", ""},
    };
    auto region_of = [&](const std::string& name) {
      for (auto& m : ms) {
        if (m.name == name) {
          return m.region;
        }
      }
      return std::string{"?"};
    };
    std::map<std::string, int> replica_regions;
    for (int k = 0; k < 200; ++k) {
      auto key = "watch-u-" + std::to_string(k);
      auto h = holders_across_regions(key, "eu-west", ms);
      REQUIRE(h.size() == 2);
      CHECK(region_of(h[0]) == "eu-west");
      CHECK(region_of(h[1]) != "eu-west");
      ++replica_regions[region_of(h[1])];
      // Every node with this view picks the same two, whatever the list's order.
      auto reversed = ms;
      std::reverse(reversed.begin(), reversed.end());
      CHECK(holders_across_regions(key, "eu-west", reversed) == h);
    }
    // Replicas spread over the other regions.
    CHECK(replica_regions["us-east"] > 40);
    CHECK(replica_regions["ap-south"] > 40);
    // The home region down: each key's owner is its former replica's region, and the new
    // replica is in the third region; the home back: the same holders as before.
    auto before = holders_across_regions("watch-u-7", "eu-west", ms);
    auto down = ms;
    down[0].state = member_state::down;
    down[1].state = member_state::down;
    auto during = holders_across_regions("watch-u-7", "eu-west", down);
    REQUIRE(during.size() == 2);
    CHECK(region_of(during[0]) == region_of(before[1]));
    CHECK(region_of(during[1]) != region_of(during[0]));
    CHECK(region_of(during[1]) != "eu-west");
    // One region left: the replica is its runner-up; no region configured: the same.
    std::vector<member> lan{{"a", "", "", 1, member_state::up, "", ""},
                            {"b", "", "", 1, member_state::up, "", ""},
                            {"c", "", "", 1, member_state::up, "", ""}};
    CHECK(holders_across_regions("watch-u-7", "", lan)
          == sv::cluster::owners_of("watch-u-7", {"a", "b", "c"}, 2));
    CHECK(holders_across_regions("watch-u-7", "eu-west", lan).size() == 2);
    CHECK(holders_across_regions("watch-u-7", "eu-west", {}).empty());
  }

  TEST_CASE("a placement view built once per batch picks the same holders as the rule, so "
            "nodes of either build agree during an upgrade") {
    // The rule of holders_across_regions, written out from owners_of: home first while it
    // has a member up, the other regions by rendezvous weight; the owner and the replica
    // from the first two (one region: its best two).
    auto rule = [](const std::string& key, const std::string& home, const std::vector<member>& ms) {
      std::map<std::string, std::vector<std::string>> up;
      for (auto& m : ms) {
        if (m.state == member_state::up) {
          up[m.region].push_back(m.name);
        }
      }
      std::vector<std::string> others;
      for (auto& [r, names] : up) {
        if (r != home) {
          others.push_back(r);
        }
      }
      auto order = sv::cluster::owners_of(key, others, others.size());
      if (up.count(home) != 0) {
        order.insert(order.begin(), home);
      }
      if (order.empty()) {
        return std::vector<std::string>{};
      }
      if (order.size() == 1) {
        return sv::cluster::owners_of(key, up[order[0]], 2);
      }
      return std::vector<std::string>{sv::cluster::owner_of(key, up[order[0]]),
                                      sv::cluster::owner_of(key, up[order[1]])};
    };
    const std::vector<std::string> regions{"eu-west", "us-east", "ap-south", ""};
    size_t compared = 0;
    for (uint32_t seed = 1; seed <= 40; ++seed) {
      std::vector<member> ms;
      for (uint32_t i = 0; i < seed % 9; ++i) {
        auto h = sv::cluster::stable_hash("m" + std::to_string(seed * 31 + i));
        ms.push_back({"n-" + std::to_string(h % 1000), "", "", 1,
                      h % 5 == 0 ? member_state::down : member_state::up, regions[(h >> 8) % 4],
                      ""});
      }
      sv::cluster::region_holders view{ms};
      for (int k = 0; k < 50; ++k) {
        auto key = "watch-u-" + std::to_string(k);
        for (auto& home : {std::string{"eu-west"}, std::string{"ap-south"}, std::string{"mars"},
                           std::string{}}) {
          CHECK(view(key, home) == rule(key, home, ms));
          CHECK(sv::cluster::holders_across_regions(key, home, ms) == rule(key, home, ms));
          CHECK(view.has_region(home)
                == std::any_of(ms.begin(), ms.end(), [&home](const member& m) {
                     return m.state == member_state::up && m.region == home;
                   }));
          ++compared;
        }
      }
    }
    CHECK(compared == 40 * 50 * 4);
  }

  TEST_CASE("a member's region travels in gossip and is learned when first heard without one") {
    membership m{node("a")};
    m.hello(node("b"), 0ms); // an older build's hello: no region
    CHECK(m.find("b")->region.empty());
    auto b = node("b");
    b.region = "ap-south";
    b.zone = "1a";
    CHECK(m.merge(b, 10ms)); // the same incarnation, now with its region
    CHECK(m.find("b")->region == "ap-south");
    CHECK(m.find("b")->zone == "1a");
    CHECK_FALSE(m.merge(b, 20ms));
    // A later hello without a region keeps the known one.
    m.hello(node("b"), 30ms);
    CHECK(m.find("b")->region == "ap-south");
    CHECK(sv::cluster::crosses_regions("eu-west", "us-east"));
    CHECK_FALSE(sv::cluster::crosses_regions("eu-west", "eu-west"));
    CHECK_FALSE(sv::cluster::crosses_regions("", "us-east"));
  }

  TEST_CASE("a member first heard of without an address takes it from later gossip") {
    membership m{node("a")};
    auto early = node("b");
    early.address.clear(); // its hello came before it knew its own address
    CHECK(m.hello(early, 0ms));
    CHECK(m.find("b")->address.empty());
    CHECK(m.merge(node("b"), 10ms)); // the same incarnation, now with the address
    CHECK(m.find("b")->address == node("b").address);
    CHECK(m.find("b")->state == member_state::up);
    CHECK_FALSE(m.merge(node("b"), 20ms)); // nothing new any more
  }

  TEST_CASE("a node lists itself as up and learns peers by hello and by gossip") {
    membership m{node("a", 1, member_state::joining)};
    CHECK(m.self().state == member_state::up);
    CHECK(m.hello(node("b"), 0ms));
    CHECK_FALSE(m.hello(node("b"), 10ms)); // nothing new
    CHECK_FALSE(m.hello(node("a"), 10ms)); // itself
    CHECK(m.merge(node("c", 100, member_state::up), 10ms));
    CHECK(m.up_members() == std::vector<std::string>{"a", "b", "c"});
    CHECK_FALSE(m.merge(node("d", 100, member_state::down), 10ms)); // never knew it
    CHECK_FALSE(m.find("d").has_value());
    auto counts = m.count_by_state();
    CHECK(counts[static_cast<size_t>(member_state::up)] == 3);
    CHECK(m.snapshot().front().name == "a");
  }

  TEST_CASE("a silent member becomes suspect, then down, then is forgotten") {
    membership m{node("a"), {3s, 5s, 60s}};
    m.hello(node("b"), 0ms);
    CHECK(m.tick(2900ms).empty());
    m.heard_from("b", 2900ms); // heard again: the clock restarts
    CHECK(m.tick(5800ms).empty());
    auto changed = m.tick(5900ms);
    REQUIRE(changed.size() == 1);
    CHECK(changed[0].state == member_state::suspect);
    CHECK(m.up_members() == std::vector<std::string>{"a"});
    CHECK(m.tick(10800ms).empty());
    CHECK(m.tick(10900ms).at(0).state == member_state::down);
    CHECK(m.tick(70800ms).empty());
    m.tick(70900ms);
    CHECK_FALSE(m.find("b").has_value());
  }

  TEST_CASE("hearing from a suspect clears the suspicion, a lost connection raises it") {
    membership m{node("a"), {3s, 5s, 60s}};
    m.hello(node("b"), 0ms);
    m.connection_lost("b", 1s);
    CHECK(state_of(m, "b") == member_state::suspect);
    m.heard_from("b", 2s);
    CHECK(state_of(m, "b") == member_state::up);
    m.heard_from("nobody", 2s); // unknown names are ignored
    m.connection_lost("nobody", 2s);
    m.heard_from("a", 2s); // so is the node itself
    m.connection_lost("a", 2s);
    CHECK(m.self().state == member_state::up);
  }

  TEST_CASE("down is undone only by the member itself with a higher incarnation") {
    membership m{node("a"), {3s, 5s, 60s}};
    m.hello(node("b", 100), 0ms);
    CHECK(m.merge(node("b", 100, member_state::down), 1s));
    m.heard_from("b", 2s); // a late message: still down
    CHECK(state_of(m, "b") == member_state::down);
    CHECK_FALSE(m.merge(node("b", 100, member_state::up), 2s)); // an old rumour
    CHECK(m.merge(node("b", 101, member_state::up), 3s));       // b refuted
    CHECK(state_of(m, "b") == member_state::up);
    CHECK(m.tick(5900ms).empty()); // a refutation restarts the silence clock
  }

  TEST_CASE("a node refutes rumours of its own failure by raising its incarnation") {
    membership m{node("a", 100)};
    CHECK(m.merge(node("a", 100, member_state::suspect), 0ms));
    CHECK(m.self().incarnation == 101);
    CHECK(m.self().state == member_state::up);
    CHECK_FALSE(m.merge(node("a", 100, member_state::down), 0ms)); // already newer
    CHECK(m.merge(node("a", 101, member_state::down), 0ms));
    CHECK(m.self().incarnation == 102);
    CHECK_FALSE(m.merge(node("a", 102, member_state::up), 0ms)); // harmless
    m.leave();
    CHECK(m.self().state == member_state::leaving);
    CHECK_FALSE(m.merge(node("a", 102, member_state::leaving), 0ms)); // true now
    CHECK(m.up_members().empty());
  }

  TEST_CASE("a departing member is leaving, then down once its timeout passes") {
    membership m{node("a"), {3s, 5s, 60s}};
    m.hello(node("b", 100), 0ms);
    CHECK(m.merge(node("b", 100, member_state::leaving), 1s));
    CHECK(m.up_members() == std::vector<std::string>{"a"});
    CHECK(m.tick(5900ms).empty());
    CHECK(m.tick(6s).at(0).state == member_state::down);
    // A restarted b (new process, new incarnation) says hello: up again.
    CHECK(m.hello(node("b", 200), 7s));
    CHECK(state_of(m, "b") == member_state::up);
    CHECK(m.find("b")->incarnation == 200);
  }

  TEST_CASE("a leaving member stays leaving while it speaks (handing over), down once quiet") {
    membership m{node("a"), {3s, 5s, 60s}};
    m.hello(node("b", 100), 0ms);
    CHECK(m.merge(node("b", 100, member_state::leaving), 1s));
    for (auto t = 2s; t <= 20s; t += 2s) {
      m.heard_from("b", t);
      CHECK(m.tick(t).empty());
      CHECK(state_of(m, "b") == member_state::leaving);
    }
    CHECK(m.tick(24900ms).empty());
    CHECK(m.tick(25s).at(0).state == member_state::down);
  }

  TEST_CASE("merges keep the later state of the same incarnation") {
    CHECK(
        sv::cluster::supersedes(node("b", 2, member_state::up), node("b", 1, member_state::down)));
    CHECK(sv::cluster::supersedes(node("b", 1, member_state::suspect), node("b", 1)));
    CHECK_FALSE(sv::cluster::supersedes(node("b", 1), node("b", 1, member_state::suspect)));
    CHECK_FALSE(sv::cluster::supersedes(node("b", 1), node("b", 1)));
    for (auto s : {member_state::joining, member_state::up, member_state::suspect,
                   member_state::leaving, member_state::down}) {
      CHECK(sv::cluster::to_string(s) != "unknown");
    }
    CHECK(sv::cluster::to_string(static_cast<member_state>(9)) == "unknown");
  }

  TEST_CASE("rendezvous placement: one owner per view, and a view change moves only 1/N") {
    std::vector<std::string> three{"node-a", "node-b", "node-c"};
    std::vector<std::string> shuffled{"node-c", "node-a", "node-b"};
    std::map<std::string, size_t> per_owner;
    std::map<std::string, std::string> before;
    for (int i = 0; i < 30'000; ++i) {
      auto key = "content-" + std::to_string(i);
      auto owner = sv::cluster::owner_of(key, three);
      CHECK(owner == sv::cluster::owner_of(key, shuffled)); // order of the view is irrelevant
      ++per_owner[owner];
      before[key] = owner;
    }
    for (auto& [name, n] : per_owner) {
      INFO(name);
      CHECK(n > 9'000); // about a third each
      CHECK(n < 11'000);
    }
    // node-b leaves: only its keys move, spread over the others.
    std::vector<std::string> two{"node-a", "node-c"};
    size_t moved = 0;
    for (auto& [key, owner] : before) {
      auto now = sv::cluster::owner_of(key, two);
      if (owner != "node-b") {
        CHECK(now == owner);
      } else {
        ++moved;
      }
    }
    CHECK(moved == per_owner["node-b"]);
    CHECK(sv::cluster::owner_of("x", {}).empty());
    auto ranked = sv::cluster::owners_of("content-1", three, 5);
    CHECK(ranked.size() == 3);
    CHECK(ranked.front() == sv::cluster::owner_of("content-1", three));
    CHECK(std::set<std::string>(ranked.begin(), ranked.end()).size() == 3);
  }

  TEST_CASE("the placement hash is stable across builds and separates member from key") {
    // Fixed values: a change here would move every key of a running cluster on upgrade.
    CHECK(sv::cluster::stable_hash("content-1") == 0xf7e0a8731861428fULL);
    CHECK(sv::cluster::rendezvous_weight("node-a", "content-1") == 0xa93303967303e9fcULL);
    CHECK(sv::cluster::stable_hash("content-1") != sv::cluster::stable_hash("content-2"));
    CHECK(sv::cluster::rendezvous_weight("ab", "c") != sv::cluster::rendezvous_weight("a", "bc"));
    CHECK(sv::cluster::owner_of("content-42", {"node-a", "node-b", "node-c"}) == "node-b");
  }
}
