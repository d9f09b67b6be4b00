// The catalog's per-title consensus rules on three in-memory replicas, with the network
// played by hand: which replica hears which message decides the scenario. Deterministic.

#include "actors/content/consensus.hpp"

#include <filesystem>
#include <string>
#include <vector>

#include <doctest/doctest.h>

namespace {

using sv::content::ballot;
using sv::content::catalog_store;
using sv::content::metadata;
using sv::content::stored_version;
namespace consensus = sv::content::consensus;

metadata titled(const std::string& title, uint64_t version) {
  metadata m;
  m.set_id("premiere");
  m.set_version(version);
  m.set_title(title);
  return m;
}

// Phase 1 from `b` to the replicas in `reach`.
consensus::proposal prepare(const ballot& b, const std::vector<catalog_store*>& reach) {
  consensus::proposal p{b, 3};
  for (auto* r : reach) {
    p.on_promise(consensus::prepare(*r, "premiere", b));
  }
  return p;
}

// Phase 2 of `p` with `m` to the replicas in `reach`.
void accept(consensus::proposal& p, const metadata& m, const std::vector<catalog_store*>& reach) {
  for (auto* r : reach) {
    p.on_accepted(consensus::accept(*r, m, p.number()));
  }
}

// Anti-entropy between every pair: each replica offers its version to the others.
void heal(const std::vector<catalog_store*>& all) {
  for (auto* from : all) {
    auto v = from->get_stored("premiere");
    REQUIRE(v);
    for (auto* to : all) {
      to->apply(v->value, v->accepted);
    }
  }
}

} // namespace

TEST_SUITE("actors.content") {
  TEST_CASE("an edit acknowledged by a majority survives a partition and its heal") {
    catalog_store a{":memory:"};
    catalog_store b{":memory:"};
    catalog_store c{":memory:"};
    std::vector<catalog_store*> all{&a, &b, &c};
    auto p1 = prepare({1, "node-a"}, all);
    REQUIRE(p1.prepared());
    CHECK_FALSE(p1.highest());
    accept(p1, titled("Agreed", 1), all);
    REQUIRE(p1.chosen());

    // node-a starts an edit; the partition {a} | {b, c} cuts it off after its own replica
    // stored it: not chosen, so never acknowledged.
    auto p2 = prepare({2, "node-a"}, all);
    REQUIRE(p2.prepared());
    auto zeta = titled("Zeta, node-a's edit", 2);
    accept(p2, zeta, {&a});
    CHECK_FALSE(p2.chosen());

    // node-b's side has a majority: its edit of the same version is chosen and acknowledged.
    auto p3 = prepare({2, "node-b"}, {&b, &c});
    REQUIRE(p3.prepared());
    REQUIRE(p3.highest());
    CHECK(p3.highest()->value.version() == 1);
    auto alpha = titled("Alfa, node-b's edit", 2);
    accept(p3, alpha, {&b, &c});
    REQUIRE(p3.chosen());

    // node-a alone cannot get anything further: neither a promise majority ...
    auto p4 = prepare({3, "node-a"}, {&a});
    CHECK_FALSE(p4.prepared());
    // ... nor a stored majority with an old ballot the others have moved past.
    consensus::proposal late{{2, "node-a"}, 3};
    accept(late, zeta, {&b, &c});
    CHECK_FALSE(late.chosen());
    CHECK(late.highest_refusal() == ballot{2, "node-b"});

    // After the heal every replica has the acknowledged edit, although the unacknowledged
    // one's bytes sort after it (the tie-break before ballots kept the larger bytes).
    REQUIRE(zeta.SerializeAsString() > alpha.SerializeAsString());
    heal(all);
    for (auto* r : all) {
      CHECK(r->get("premiere")->title() == "Alfa, node-b's edit");
    }
    // The next edit builds on it, from any side.
    auto p5 = prepare({4, "node-a"}, all);
    REQUIRE(p5.prepared());
    CHECK(p5.highest()->value.title() == "Alfa, node-b's edit");
    CHECK(p5.highest()->value.version() == 2);
  }

  TEST_CASE("a proposal after a chosen version sees it through any majority") {
    catalog_store a{":memory:"};
    catalog_store b{":memory:"};
    catalog_store c{":memory:"};
    auto p1 = prepare({1, "node-a"}, {&a, &b});
    accept(p1, titled("First", 1), {&a, &b});
    REQUIRE(p1.chosen());
    // The other majority shares node-b with the first one.
    auto p2 = prepare({1, "node-c"}, {&b, &c});
    REQUIRE(p2.prepared());
    REQUIRE(p2.highest());
    CHECK(p2.highest()->value.title() == "First");
    // A ballot at or below one already promised is refused, and says what it must beat.
    auto p3 = prepare({1, "node-b"}, {&b, &c});
    CHECK_FALSE(p3.prepared());
    CHECK(p3.highest_refusal() == ballot{1, "node-c"});
    // A repeated accept of the same version under the same ballot is fine (a resend).
    consensus::proposal again{{1, "node-a"}, 3};
    accept(again, titled("First", 1), {&a});
    CHECK(again.chosen() == false);
    CHECK(again.highest_refusal() == ballot{});
  }

  TEST_CASE("promises and voters survive a restart of the replica") {
    namespace fs = std::filesystem;
    auto dir = fs::path{"consensus_test_data"};
    fs::remove_all(dir);
    fs::create_directories(dir);
    auto path = (dir / "catalog.db").string();
    {
      catalog_store store{path};
      REQUIRE(store.error().empty());
      CHECK(consensus::prepare(store, "premiere", {7, "node-b"}).ok);
      REQUIRE(store.set_voters({"node-a", "node-b", "node-c"}));
    }
    catalog_store store{path};
    CHECK(store.promised("premiere") == ballot{7, "node-b"});
    CHECK_FALSE(consensus::prepare(store, "premiere", {7, "node-a"}).ok);
    CHECK(store.voters() == std::vector<std::string>{"node-a", "node-b", "node-c"});
    REQUIRE(store.set_voters({"node-a", "node-c"}));
    CHECK(store.voters() == std::vector<std::string>{"node-a", "node-c"});
  }
}

TEST_SUITE("actors.content") {
  TEST_CASE("an owner skips phase 1 after its own chosen version until another owner prepares") {
    catalog_store a{":memory:"};
    catalog_store b{":memory:"};
    catalog_store c{":memory:"};
    std::vector<catalog_store*> all{&a, &b, &c};
    auto p1 = prepare({1, "node-a"}, all);
    accept(p1, titled("One", 1), all);
    REQUIRE(p1.chosen());
    // node-a's next change, straight to phase 2 under the same ballot.
    auto next = consensus::proposal::continuing({titled("One", 1), {1, "node-a"}}, 3);
    REQUIRE(next.prepared());
    CHECK(next.highest()->value.version() == 1);
    accept(next, titled("Two", 2), all);
    REQUIRE(next.chosen());
    // node-c takes over (a view change) and prepares a majority: it sees version 2.
    auto p3 = prepare({2, "node-c"}, {&b, &c});
    REQUIRE(p3.prepared());
    CHECK(p3.highest()->value.title() == "Two");
    // node-a, not knowing, continues with its old ballot: refused by that majority, so its
    // version 3 is never chosen, whatever node-a alone stored.
    auto stale = consensus::proposal::continuing({titled("Two", 2), {1, "node-a"}}, 3);
    accept(stale, titled("Three from node-a", 3), all);
    CHECK_FALSE(stale.chosen());
    CHECK(stale.highest_refusal() == ballot{2, "node-c"});
    accept(p3, titled("Three from node-c", 3), {&b, &c});
    REQUIRE(p3.chosen());
    heal(all);
    for (auto* r : all) {
      CHECK(r->get("premiere")->title() == "Three from node-c");
    }
  }
}
