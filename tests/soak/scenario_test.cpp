// Scenario files with regions and WAN links: what loads, what is refused with its reason,
// and the links the relays get.

#include "soak/scenario.hpp"

#include <filesystem>
#include <fstream>
#include <string>

#include <doctest/doctest.h>
#include <unistd.h>

namespace {

// Loads `text` as a scenario file; the error (empty when it loaded) in `error`.
std::optional<sv::soak::scenario> load(const std::string& text, std::string& error) {
  // One file per process and call: ctest runs the test cases in parallel processes.
  static int calls = 0;
  auto path = std::filesystem::temp_directory_path()
              / ("sv_scenario_test_" + std::to_string(::getpid()) + "_" + std::to_string(++calls)
                 + ".toml");
  std::ofstream{path} << text;
  error.clear();
  auto sc = sv::soak::load_scenario(path.string(), error);
  std::filesystem::remove(path);
  return sc;
}

const std::string regions = R"(
[cluster]
nodes = 4
regions = ["eu-west", "eu-west", "us-east", "ap-south"]

[[link]]
between = ["eu-west", "us-east"]
rtt_ms = 80
jitter_ms = 10
)";

} // namespace

TEST_SUITE("soak.scenario") {
  TEST_CASE("regions and links give each pair of nodes its link, and a region names its "
            "nodes in a partition") {
    std::string error;
    auto sc = load(regions + R"(
[[phase]]
kind = "partition"
groups = [["eu-west"], ["node-c", "node-d"]]
seconds = 5
)",
                   error);
    REQUIRE_MESSAGE(sc, error);
    CHECK(sc->relayed());
    CHECK(sc->region_of(2) == "us-east");
    CHECK(sc->link_between(0, 2).rtt_ms == 80);
    CHECK(sc->link_between(2, 1).jitter_ms == 10);
    CHECK(sc->link_between(0, 1).rtt_ms == 0); // one region
    CHECK(sc->link_between(0, 3).rtt_ms == 0); // no [[link]] for eu-west - ap-south
    REQUIRE(sc->phases.size() == 1);
    CHECK(sc->phases[0].groups
          == std::vector<std::vector<std::string>>{{"node-a", "node-b"}, {"node-c", "node-d"}});
  }

  TEST_CASE("a scenario without regions, links or a wan phase is not relayed") {
    std::string error;
    auto sc = load("[cluster]\nnodes = 2\n[[phase]]\nkind = \"steady\"\nseconds = 1\n", error);
    REQUIRE_MESSAGE(sc, error);
    CHECK_FALSE(sc->relayed());
    auto wan = load("[[phase]]\nkind = \"wan\"\ndelay_ms = 20\nseconds = 1\n", error);
    REQUIRE_MESSAGE(wan, error);
    CHECK(wan->relayed());
  }

  TEST_CASE("bad regions, links and wan phases are refused with the reason") {
    std::string error;
    CHECK_FALSE(load("[cluster]\nnodes = 2\nregions = [\"eu-west\"]\n[[phase]]\nkind = "
                     "\"steady\"\n",
                     error));
    CHECK(error.find("names 1 regions for 2 nodes") != std::string::npos);
    CHECK_FALSE(load(regions
                         + "[[link]]\nbetween = [\"us-east\", \"eu-west\"]\n[[phase]]\nkind "
                           "= \"steady\"\n",
                     error));
    CHECK(error.find("is given twice") != std::string::npos);
    CHECK_FALSE(load(regions
                         + "[[link]]\nbetween = [\"eu-west\", \"mars\"]\n[[phase]]\nkind = "
                           "\"steady\"\n",
                     error));
    CHECK(error.find("two different regions of cluster.regions") != std::string::npos);
    CHECK_FALSE(load(regions + "[[phase]]\nkind = \"wan\"\nseconds = 1\n", error));
    CHECK(error.find("not both 0") != std::string::npos);
    CHECK_FALSE(load(
        regions + "[[phase]]\nkind = \"partition\"\ngroups = [[\"mars\"], [\"node-a\"]]\n", error));
    CHECK(error.find("not a node or region") != std::string::npos);
  }

  TEST_CASE("join and leave phases: a node whose first phase is a join starts there, one that "
            "left stays away, and impossible orders are refused") {
    std::string error;
    auto phases = [](const std::string& body) {
      return "[cluster]\nnodes = 3\n" + body;
    };
    auto sc = load(phases("[[phase]]\nkind = \"steady\"\n"
                          "[[phase]]\nkind = \"join\"\nnode = \"node-c\"\n"
                          "[[phase]]\nkind = \"leave\"\nnode = \"node-a\"\n"),
                   error);
    REQUIRE_MESSAGE(sc, error);
    CHECK(sc->starts(0));
    CHECK(sc->starts(1));
    CHECK_FALSE(sc->starts(2));
    CHECK_FALSE(sc->runs_at_end(0));
    CHECK(sc->runs_at_end(1));
    CHECK(sc->runs_at_end(2));
    CHECK(sc->phases[1].nodes == std::vector<std::string>{"node-c"});
    // A node that left may join again.
    REQUIRE(load(phases("[[phase]]\nkind = \"leave\"\nnode = \"node-a\"\n"
                        "[[phase]]\nkind = \"join\"\nnode = \"node-a\"\n"),
                 error));
    CHECK(load(phases(""), error) == std::nullopt); // (no phases)
    // Refused: joining a running node, leaving or killing one that is gone, nobody left.
    CHECK_FALSE(load(phases("[[phase]]\nkind = \"leave\"\nnode = \"node-a\"\n"
                            "[[phase]]\nkind = \"kill\"\nnode = \"node-a\"\n"),
                     error));
    CHECK(error.find("node-a is not running then") != std::string::npos);
    CHECK_FALSE(load(phases("[[phase]]\nkind = \"stall\"\nnode = \"node-b\"\n"
                            "[[phase]]\nkind = \"join\"\nnode = \"node-b\"\n"),
                     error));
    CHECK(error.find("node-b is running already") != std::string::npos);
    CHECK_FALSE(load(phases("[[phase]]\nkind = \"leave\"\nnode = \"node-a\"\n"
                            "[[phase]]\nkind = \"leave\"\nnode = \"node-b\"\n"
                            "[[phase]]\nkind = \"leave\"\nnode = \"node-c\"\n"),
                     error));
    CHECK(error.find("leaves no node running") != std::string::npos);
    CHECK_FALSE(load(phases("[[phase]]\nkind = \"join\"\nnode = \"node-z\"\n"), error));
    CHECK(error.find("not one of the cluster's nodes") != std::string::npos);
  }

  TEST_CASE("autoscale.orchestrate turns the orchestrator on from the scenario: each region "
            "starts with min_nodes, and join or leave phases or a non-boolean are refused") {
    std::string error;
    auto with = [](const std::string& autoscale, const std::string& phases) {
      return regions + "[autoscale]\nmin_nodes = 1\n" + autoscale + phases;
    };
    const std::string steady = "[[phase]]\nkind = \"steady\"\n";
    auto sc = load(with("orchestrate = true\n", steady), error);
    REQUIRE_MESSAGE(sc, error);
    CHECK(sc->autoscale.on);
    CHECK(sc->starts(0));       // eu-west's first node
    CHECK_FALSE(sc->starts(1)); // eu-west's second: a slot the orchestrator may start
    CHECK(sc->starts(2));       // us-east and ap-south have one node each
    CHECK(sc->starts(3));
    // Without it, the section only sets the nodes' targets (--autoscale turns it on).
    sc = load(with("", steady), error);
    REQUIRE_MESSAGE(sc, error);
    CHECK_FALSE(sc->autoscale.on);
    CHECK(sc->starts(1));
    CHECK_FALSE(load(with("orchestrate = \"yes\"\n", steady), error));
    CHECK(error.find("autoscale.orchestrate wants true or false") != std::string::npos);
    CHECK_FALSE(load(
        with("orchestrate = true\n", "[[phase]]\nkind = \"leave\"\nnode = \"node-a\"\n"), error));
    CHECK(error.find("not join or leave phases") != std::string::npos);
  }

  TEST_CASE("viewers.protocol is edge by default and http gives each node an API port while "
            "another value is refused") {
    std::string error;
    const std::string phase = "[[phase]]\nkind = \"steady\"\n";
    auto sc = load("[cluster]\nbase_port = 7400\n" + phase, error);
    REQUIRE_MESSAGE(sc, error);
    CHECK(sc->protocol == "edge");
    sc = load("[cluster]\nbase_port = 7400\n[viewers]\nprotocol = \"http\"\n" + phase, error);
    REQUIRE_MESSAGE(sc, error);
    CHECK(sc->protocol == "http");
    CHECK(sc->http_port(2) == 7602);
    CHECK_FALSE(load("[viewers]\nprotocol = \"grpc\"\n" + phase, error));
    CHECK(error.find("viewers.protocol wants \"edge\" or \"http\", got \"grpc\"")
          != std::string::npos);
    // A float past int64 (toml++ would cast it with undefined behaviour; found by fuzzing).
    CHECK_FALSE(load("[cluster]\nbase_port = 36e81\n" + phase, error));
    CHECK(error.find("a number too large") != std::string::npos);
  }
  TEST_CASE("a chaos section appends a seeded schedule of faults that the same seed replays") {
    std::string error;
    const std::string base = "[cluster]\nnodes = 3\n[[phase]]\nkind = \"ramp\"\nseconds = 5\n";
    auto a = load(base + "[chaos]\nseed = 4\nfaults = 12\ngap_s = 3\n", error);
    REQUIRE_MESSAGE(a, error);
    auto again = load(base + "[chaos]\nseed = 4\nfaults = 12\ngap_s = 3\n", error);
    REQUIRE(again);
    auto other = load(base + "[chaos]\nseed = 5\nfaults = 12\ngap_s = 3\n", error);
    REQUIRE(other);
    // ramp, then each fault and its gap, then recovery.
    REQUIRE(a->phases.size() == 1 + 2 * 12 + 1);
    CHECK(a->phases.back().kind == sv::soak::phase_kind::recovery);
    bool differs = false;
    for (size_t i = 0; i < a->phases.size(); ++i) {
      CHECK(a->phases[i].name == again->phases[i].name);
      CHECK(a->phases[i].seconds == again->phases[i].seconds);
      differs = differs || a->phases[i].name != other->phases[i].name;
    }
    CHECK(differs);
    for (size_t f = 0; f < 12; ++f) {
      auto& p = a->phases[1 + 2 * f];
      auto& gap = a->phases[2 + 2 * f];
      CHECK(p.name.rfind("chaos-", 0) == 0);
      CHECK(gap.kind == sv::soak::phase_kind::steady);
      CHECK(gap.seconds == 3);
      if (p.kind == sv::soak::phase_kind::kill) {
        CHECK(p.restart_after_s < p.seconds);
        CHECK(p.nodes.size() == 1);
      }
      if (p.kind == sv::soak::phase_kind::partition) {
        REQUIRE(p.groups.size() == 2);
        CHECK(p.groups[0].size() + p.groups[1].size() == 3);
        CHECK_FALSE(p.groups[0].empty());
        CHECK_FALSE(p.groups[1].empty());
      }
    }
    // Only the kinds asked for.
    auto kills = load(base + "[chaos]\nfaults = 6\nkinds = [\"kill\"]\n", error);
    REQUIRE(kills);
    for (size_t f = 0; f < 6; ++f) {
      CHECK(kills->phases[1 + 2 * f].kind == sv::soak::phase_kind::kill);
    }
    CHECK_FALSE(load(base + "[chaos]\nkinds = [\"meteor\"]\n", error));
    CHECK(error.find("not a fault kind") != std::string::npos);
    CHECK_FALSE(load(base + "[chaos]\nfaults = 0\n", error));
    CHECK(error.find("faults 1..500") != std::string::npos);
    CHECK_FALSE(load("[cluster]\nnodes = 1\n[[phase]]\nkind = \"ramp\"\n[chaos]\n", error));
    CHECK(error.find("at least two nodes") != std::string::npos);
  }
  TEST_CASE("a disk_full phase names a node and ends its full disk within the phase") {
    std::string error;
    const std::string base = "[cluster]\nnodes = 3\n[[phase]]\nkind = \"ramp\"\nseconds = 5\n";
    auto sc = load(base
                       + "[[phase]]\nkind = \"disk_full\"\nnode = \"node-b\"\nfull_s = 4\n"
                         "seconds = 8\n",
                   error);
    REQUIRE_MESSAGE(sc, error);
    CHECK(sc->phases[1].kind == sv::soak::phase_kind::disk_full);
    CHECK(sc->phases[1].nodes == std::vector<std::string>{"node-b"});
    CHECK(sc->phases[1].full_s == 4);
    CHECK_FALSE(load(base
                         + "[[phase]]\nkind = \"disk_full\"\nnode = \"node-b\"\nfull_s = 9\n"
                           "seconds = 8\n",
                     error));
    CHECK(error.find("full_s must end within the phase") != std::string::npos);
    CHECK_FALSE(load(base + "[[phase]]\nkind = \"disk_full\"\nnode = \"node-x\"\n", error));
    CHECK(error.find("not one of the cluster's nodes") != std::string::npos);
    auto chaos = load(base + "[chaos]\nfaults = 4\nkinds = [\"disk_full\"]\n", error);
    REQUIRE(chaos);
    CHECK(chaos->phases[1].kind == sv::soak::phase_kind::disk_full);
    CHECK(chaos->phases[1].full_s < chaos->phases[1].seconds);
  }
}
