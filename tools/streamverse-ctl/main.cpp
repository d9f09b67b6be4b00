// streamverse-ctl: asks a running node about its cluster.
//
//   streamverse-ctl members --node HOST:PORT [--timeout-ms N]
//
// Exit codes: 0 ok, 1 the node could not be reached or answered with an error,
// 2 bad arguments.

#include <cstdlib>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <string>
#include <vector>

#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/io/middleman.hpp"
#include "runtime/cluster/client.hpp"
#include "runtime/wire/message_types.hpp"

namespace {

constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

const char* usage =
    "usage: streamverse-ctl members --node HOST:PORT [--timeout-ms N]\n"
    "  members   the member list as that node sees it: name, address, state, incarnation,\n"
    "            version (states: joining, up, suspect, leaving, down)\n"
    "  --node    the node's cluster endpoint (cluster.bind and cluster.port in its config)\n"
    "Exit codes: 0 ok, 1 node unreachable or error, 2 bad arguments.\n";

struct args {
  std::string command;
  std::string host;
  uint16_t port = 0;
  long timeout_ms = 3000;
};

// Parses argv; on failure prints why and returns false.
bool parse(int argc, char** argv, args& out) {
  if (argc < 2) {
    std::cerr << usage;
    return false;
  }
  out.command = argv[1];
  if (out.command != "members") {
    std::cerr << "streamverse-ctl: unknown command \"" << out.command << "\"\n" << usage;
    return false;
  }
  for (int i = 2; i < argc; i += 2) {
    std::string flag = argv[i];
    if (i + 1 >= argc) {
      std::cerr << "streamverse-ctl: " << flag << " needs a value\n";
      return false;
    }
    std::string value = argv[i + 1];
    if (flag == "--node") {
      auto colon = value.rfind(':');
      char* end = nullptr;
      auto port = colon == std::string::npos ? 0 : std::strtol(value.c_str() + colon + 1, &end, 10);
      if (colon == std::string::npos || colon == 0 || port <= 0 || port > 65535 || *end != '\0') {
        std::cerr << "streamverse-ctl: --node wants HOST:PORT, got \"" << value << "\"\n";
        return false;
      }
      out.host = value.substr(0, colon);
      if (out.host.size() > 2 && out.host.front() == '[' && out.host.back() == ']') {
        out.host = out.host.substr(1, out.host.size() - 2); // [ipv6]:port
      }
      out.port = static_cast<uint16_t>(port);
    } else if (flag == "--timeout-ms") {
      char* end = nullptr;
      out.timeout_ms = std::strtol(value.c_str(), &end, 10);
      if (*end != '\0' || out.timeout_ms <= 0 || out.timeout_ms > 600'000) {
        std::cerr << "streamverse-ctl: --timeout-ms wants 1..600000, got \"" << value << "\"\n";
        return false;
      }
    } else {
      std::cerr << "streamverse-ctl: unknown option " << flag << "\n" << usage;
      return false;
    }
  }
  if (out.port == 0) {
    std::cerr << "streamverse-ctl: " << out.command << " needs --node HOST:PORT\n";
    return false;
  }
  return true;
}

struct ctl_config : caf::actor_system_config {
  ctl_config() {
    load<caf::io::middleman>();
    sv::wire::register_message_types(*this);
    set("scheduler.max-threads", size_t{1});
    set("logger.console-verbosity", caf::atom("quiet"));
  }
};

} // namespace

int main(int argc, char** argv) {
  if (argc == 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "help") == 0)) {
    std::cout << usage;
    return 0;
  }
  args a;
  if (!parse(argc, argv, a)) {
    return exit_usage;
  }
  ctl_config cfg;
  caf::actor_system sys{cfg};
  auto members =
      sv::cluster::fetch_members(sys, a.host, a.port, std::chrono::milliseconds{a.timeout_ms});
  if (!members) {
    std::cerr << "streamverse-ctl: " << a.host << ":" << a.port << ": "
              << sys.render(members.error()) << "\n";
    return exit_failure;
  }
  size_t name_w = 4;
  size_t addr_w = 7;
  for (auto& m : *members) {
    name_w = std::max(name_w, m.name.size());
    addr_w = std::max(addr_w, m.address.size());
  }
  auto row = [&](const std::string& name, const std::string& addr, const std::string& state,
                 const std::string& inc, const std::string& version) {
    std::cout << std::left << std::setw(static_cast<int>(name_w + 2)) << name
              << std::setw(static_cast<int>(addr_w + 2)) << addr << std::setw(9) << state
              << std::setw(15) << inc << version << "\n";
  };
  row("NAME", "ADDRESS", "STATE", "INCARNATION", "VERSION");
  for (auto& m : *members) {
    row(m.name, m.address, std::string{sv::cluster::to_string(m.state)},
        std::to_string(m.incarnation), m.version);
  }
  return 0;
}
