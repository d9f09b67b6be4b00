// streamverse-node: runs one StreamVerse cluster node from a TOML config file.

#include <cstring>
#include <iostream>
#include <string>

#include "actors/services/node_services.hpp"
#include "runtime/config/node_settings.hpp"
#include "runtime/node/node.hpp"

namespace {

constexpr int exit_usage = 2;

const char* usage = "usage: streamverse-node --config FILE      run a node until SIGINT/SIGTERM\n"
                    "       streamverse-node --check-config FILE validate FILE and exit\n"
                    "       streamverse-node --version\n"
                    "Config keys: config/README.md. Exit codes: 0 ok, 1 runtime failure, "
                    "2 bad arguments or config.\n";

} // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "--help") == 0) {
    std::cout << usage;
    return 0;
  }
  if (argc == 2 && std::strcmp(argv[1], "--version") == 0) {
    std::cout << "streamverse-node " << sv::version() << "\n";
    return 0;
  }
  if (argc != 3
      || (std::strcmp(argv[1], "--config") != 0 && std::strcmp(argv[1], "--check-config") != 0)) {
    std::cerr << usage;
    return exit_usage;
  }
  auto loaded = sv::node_services::load_config(argv[2]);
  if (!loaded) {
    std::cerr << "streamverse-node: " << loaded.error->to_string() << "\n";
    return exit_usage;
  }
  if (std::strcmp(argv[1], "--check-config") == 0) {
    std::cout << argv[2] << ": ok (node " << loaded.settings->name << ")\n";
    return 0;
  }
  // Every service of a full node (actors/services/node_services.hpp), with the metrics
  // that streamverse-soak reads over the cluster transport.
  sv::run_options options;
  options.types = sv::node_services::message_types();
  options.start_services = [](sv::node& n) -> std::shared_ptr<void> {
    sv::services_options so;
    so.serve_metrics = true;
    return std::make_shared<sv::node_services>(n, std::move(so));
  };
  options.leave = [](sv::node& n, const std::shared_ptr<void>& services,
                     std::chrono::milliseconds timeout) {
    auto* s = static_cast<sv::node_services*>(services.get());
    return s != nullptr ? s->leave(n, timeout) : n.leave();
  };
  return sv::run_until_signal(*loaded.settings, options);
}
