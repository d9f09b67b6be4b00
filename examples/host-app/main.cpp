// A host application of StreamVerse, built out of tree against the installed package
// (README, "A first host app"): it runs a node in-process that joins a cluster through a
// seed, starts every node service with one call, registers an entity type of its own,
// opens viewer sessions through the host API, and reads the analytics they produced.
//
// usage: host-app SEED_HOST:PORT DATA_DIR
// Prints what it did, one line per step; exit 0 when every step worked, 1 otherwise.

#include <chrono>
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>

#include <streamverse/actors/analytics/analytics.hpp>
#include <streamverse/actors/content/catalog.hpp>
#include <streamverse/actors/services/node_services.hpp>
#include <streamverse/actors/session/session_service.hpp>
#include <streamverse/runtime/config/node_settings.hpp>
#include <streamverse/runtime/entity/entity_type.hpp>
#include <streamverse/runtime/node/node.hpp>

namespace {

// The host's own entity type: how many times each viewer started a title. One entity per
// viewer (the key), activated on first use, passivated when idle, on the node's flow gate.
struct start_counter {
  using request = std::string; // the title started
  using reply = uint64_t;      // starts of that title by this viewer so far
  std::unordered_map<std::string, uint64_t> starts;
  caf::expected<reply> handle(uint64_t, const request& title) {
    return ++starts[title];
  }
};

int fail(const std::string& what) {
  std::cout << "FAIL " << what << "\n";
  return 1;
}

template <class Pred>
bool wait_for(Pred pred, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
  return true;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: host-app SEED_HOST:PORT DATA_DIR\n";
    return 2;
  }
  std::string seed = argv[1];
  auto colon = seed.rfind(':');
  if (colon == std::string::npos) {
    std::cerr << "host-app: the seed must be HOST:PORT\n";
    return 2;
  }
  sv::config::node_settings settings;
  settings.name = "host-app";
  settings.cluster_port = 0; // any free port
  settings.data_dir = argv[2];
  settings.seeds = {
      {seed.substr(0, colon), static_cast<uint16_t>(std::stoul(seed.substr(colon + 1)))}};
  settings.log_level = "warn";
  sv::setup_logging(settings);

  sv::node node{settings, sv::node_services::message_types()};
  if (auto err = node.start(); !err.empty()) {
    return fail("node start: " + err);
  }
  if (!wait_for([&] { return node.status().members_up >= 2; }, std::chrono::seconds{10})) {
    return fail("the cluster did not form through " + seed);
  }
  std::cout << "joined the cluster: " << node.status().members_up << " members up\n";

  sv::entity::entity_type<start_counter>* counters = nullptr;
  sv::services_options options;
  options.host_services = [&](sv::node& n, sv::node_services&) -> std::shared_ptr<void> {
    auto type = sv::entity::entities<start_counter>(n, "start_counter");
    counters = type.get();
    return std::shared_ptr<void>(std::move(type));
  };
  sv::node_services services{node, std::move(options)};

  sv::content::metadata title;
  title.set_id("host-title-1");
  title.set_title("A title from the host app");
  if (auto v = services.catalog().update(title); !v) {
    return fail("catalog update: " + node.system().render(v.error()));
  }
  std::cout << "catalog: host-title-1 stored\n";

  for (uint64_t id = 1; id <= 3; ++id) {
    sv::session::open_request open{
        id, "viewer-" + std::to_string(id), "host-title-1", "tv", "eu-west", 2};
    auto opened = services.sessions().open(open);
    if (!opened) {
      return fail("open: " + node.system().render(opened.error()));
    }
    for (int64_t pos = 10'000; pos <= 30'000; pos += 10'000) {
      if (auto err = services.sessions().heartbeat({id, pos, 4500, 8000, 0})) {
        return fail("heartbeat: " + node.system().render(err));
      }
    }
    auto starts = counters->request(id, sv::flow::service_class::interactive, "host-title-1");
    if (!starts || *starts != 1) {
      return fail("the start_counter entity did not count the start");
    }
    if (auto err = services.sessions().apply({id, sv::session::command_kind::close, 0})) {
      return fail("close: " + node.system().render(err));
    }
  }
  std::cout << "sessions: 3 opened, 9 heartbeats, 3 closed; start_counter counted 3 starts\n";

  // Session hosts hand their events on in blocks (every few hundred ms); drain() then
  // sends the open batches and waits for their acknowledgement.
  auto& analytics = services.analytics();
  if (!wait_for(
          [&] {
            analytics.drain(std::chrono::seconds{1});
            return analytics.stats().acked_events >= 3;
          },
          std::chrono::seconds{15})) {
    return fail("analytics did not acknowledge the sessions' events within 15 s");
  }
  std::cout << "analytics: " << analytics.stats().acked_events
            << " events acknowledged (stored exactly once)\n";
  caf::expected<sv::analytics::window_stats> live = sv::analytics::window_stats{};
  if (!wait_for(
          [&] {
            live = analytics.window("host-title-1", "eu-west", std::chrono::seconds{60});
            return live && live->starts >= 3;
          },
          std::chrono::seconds{10})) {
    return fail("the real-time window did not see the 3 starts");
  }
  std::cout << "analytics window: " << live->starts << " starts of host-title-1 in eu-west\n";

  services.stop();
  node.stop();
  std::cout << "OK\n";
  return 0;
}
