// streamverse-ctl: asks a running node about its cluster and its catalog.
//
//   streamverse-ctl members --node HOST:PORT [--timeout-ms N]
//   streamverse-ctl metadata get --node HOST:PORT --id ID [--timeout-ms N]
//   streamverse-ctl metadata put --node HOST:PORT --file FILE.json [--expect V] [--timeout-ms N]
//   streamverse-ctl cache get --node HOST:PORT --key KEY [--timeout-ms N]
//   streamverse-ctl analytics window --node HOST:PORT --content ID --region R [--seconds S]
//
// Exit codes: 0 ok, 1 the node could not be reached or answered with an error,
// 2 bad arguments or input.

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <google/protobuf/util/json_util.h>

#include "actors/analytics/analytics.hpp"
#include "actors/cache/cache.hpp"
#include "actors/content/catalog_client.hpp"
#include "actors/content/content_types.hpp"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/io/middleman.hpp"
#include "caf/openssl/manager.hpp"
#include "runtime/cluster/client.hpp"
#include "runtime/wire/message_types.hpp"

namespace {

constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

const char* usage =
    "usage: streamverse-ctl members --node HOST:PORT [--timeout-ms N]\n"
    "       streamverse-ctl metadata get --node HOST:PORT --id ID [--timeout-ms N]\n"
    "       streamverse-ctl metadata put --node HOST:PORT --file FILE.json [--expect V]\n"
    "                                    [--timeout-ms N]\n"
    "       streamverse-ctl cache get --node HOST:PORT --key KEY [--timeout-ms N]\n"
    "       streamverse-ctl analytics window --node HOST:PORT --content ID --region R\n"
    "                                        [--seconds 1..60] [--timeout-ms N]\n"
    "  --timeout-ms  how long to wait for the node (default 3000; 6000 for metadata put)\n"
    "  members       the member list as that node sees it: name, address, state,\n"
    "                incarnation, version (states: joining, up, suspect, leaving, down)\n"
    "  metadata get  that node's replica of a title, as JSON (ContentMetadata)\n"
    "  metadata put  a ContentMetadata JSON object to the title's owner, through that node;\n"
    "                prints the version assigned (--expect V: refuse unless at version V)\n"
    "  cache get     KEY through that node's cache (e.g. meta/premiere-1): a line\n"
    "                \"KEY version V from l1|l2|origin\", then the value\n"
    "  analytics window  the real-time figures of a title in a region over the last\n"
    "                S seconds (default 10), from its analytics partition\n"
    "  --node        the node's cluster endpoint (cluster.bind and cluster.port)\n"
    "  --tls-cert F --tls-key F --tls-ca F   for a cluster with mutual TLS: a certificate\n"
    "                signed by the cluster's CA, its key, and the CA\n"
    "Exit codes: 0 ok, 1 node unreachable or request refused, 2 bad arguments or input.\n";

struct args {
  std::string command; // "members", "metadata get", "metadata put"
  std::string host;
  uint16_t port = 0;
  long timeout_ms = 3000;
  std::map<std::string, std::string> flags;
};

bool fail_usage(const std::string& why) {
  std::cerr << "streamverse-ctl: " << why << "\n";
  return false;
}

bool parse_node(const std::string& value, args& out) {
  auto colon = value.rfind(':');
  char* end = nullptr;
  auto port = colon == std::string::npos ? 0 : std::strtol(value.c_str() + colon + 1, &end, 10);
  if (colon == std::string::npos || colon == 0 || port <= 0 || port > 65535 || *end != '\0') {
    return fail_usage("--node wants HOST:PORT, got \"" + value + "\"");
  }
  out.host = value.substr(0, colon);
  if (out.host.size() > 2 && out.host.front() == '[' && out.host.back() == ']') {
    out.host = out.host.substr(1, out.host.size() - 2); // [ipv6]:port
  }
  out.port = static_cast<uint16_t>(port);
  return true;
}

// Parses argv; on failure prints why and returns false.
bool parse(int argc, char** argv, args& out) {
  int i = 1;
  for (; i < argc && std::strncmp(argv[i], "--", 2) != 0; ++i) {
    out.command += (out.command.empty() ? "" : " ") + std::string{argv[i]};
  }
  static const std::map<std::string, std::vector<std::string>> allowed = {
      {"members", {"--node", "--timeout-ms"}},
      {"metadata get", {"--node", "--timeout-ms", "--id"}},
      {"metadata put", {"--node", "--timeout-ms", "--file", "--expect"}},
      {"cache get", {"--node", "--timeout-ms", "--key"}},
      {"analytics window", {"--node", "--timeout-ms", "--content", "--region", "--seconds"}},
  };
  static const std::vector<std::string> tls_flags = {"--tls-cert", "--tls-key", "--tls-ca"};
  auto spec = allowed.find(out.command);
  if (spec == allowed.end()) {
    std::cerr << "streamverse-ctl: unknown command \"" << out.command << "\"\n" << usage;
    return false;
  }
  for (; i < argc; i += 2) {
    std::string flag = argv[i];
    if (std::find(spec->second.begin(), spec->second.end(), flag) == spec->second.end()
        && std::find(tls_flags.begin(), tls_flags.end(), flag) == tls_flags.end()) {
      std::cerr << "streamverse-ctl: " << out.command << " takes no option " << flag << "\n"
                << usage;
      return false;
    }
    if (i + 1 >= argc) {
      return fail_usage(flag + " needs a value");
    }
    out.flags[flag] = argv[i + 1];
  }
  if (out.flags.count("--node") == 0) {
    return fail_usage(out.command + " needs --node HOST:PORT");
  }
  if (!parse_node(out.flags["--node"], out)) {
    return false;
  }
  if (out.command == "metadata put") {
    // The owner answers within about 3 s even when it has to give up (no majority).
    out.timeout_ms = 6000;
  }
  if (auto t = out.flags.find("--timeout-ms"); t != out.flags.end()) {
    char* end = nullptr;
    out.timeout_ms = std::strtol(t->second.c_str(), &end, 10);
    if (*end != '\0' || out.timeout_ms <= 0 || out.timeout_ms > 600'000) {
      return fail_usage("--timeout-ms wants 1..600000, got \"" + t->second + "\"");
    }
  }
  auto tls_given = std::count_if(tls_flags.begin(), tls_flags.end(),
                                 [&](const std::string& f) { return out.flags.count(f) != 0; });
  if (tls_given != 0 && tls_given != 3) {
    return fail_usage("mutual TLS needs --tls-cert, --tls-key and --tls-ca");
  }
  if (out.command == "metadata get" && out.flags.count("--id") == 0) {
    return fail_usage("metadata get needs --id ID");
  }
  if (out.command == "analytics window"
      && (out.flags.count("--content") == 0 || out.flags.count("--region") == 0)) {
    return fail_usage("analytics window needs --content ID and --region R");
  }
  if (out.command == "cache get" && out.flags.count("--key") == 0) {
    return fail_usage("cache get needs --key KEY");
  }
  if (out.command == "metadata put" && out.flags.count("--file") == 0) {
    return fail_usage("metadata put needs --file FILE.json");
  }
  return true;
}

struct ctl_config : caf::actor_system_config {
  explicit ctl_config(const args& a) {
    load<caf::io::middleman>();
    if (a.flags.count("--tls-cert") != 0) {
      load<caf::openssl::manager>();
      set("openssl.certificate", a.flags.at("--tls-cert"));
      set("openssl.key", a.flags.at("--tls-key"));
      set("openssl.cafile", a.flags.at("--tls-ca"));
    }
    sv::wire::register_message_types(*this);
    sv::content::register_message_types(*this);
    sv::cache::register_message_types(*this);
    sv::analytics::register_message_types(*this);
    set("scheduler.max-threads", size_t{1});
    set("logger.console-verbosity", caf::atom("quiet"));
  }
};

int unreachable(caf::actor_system& sys, const args& a, const caf::error& err) {
  std::cerr << "streamverse-ctl: " << a.host << ":" << a.port << ": " << sys.render(err) << "\n";
  return exit_failure;
}

int members(caf::actor_system& sys, const args& a) {
  auto list =
      sv::cluster::fetch_members(sys, a.host, a.port, std::chrono::milliseconds{a.timeout_ms});
  if (!list) {
    return unreachable(sys, a, list.error());
  }
  size_t name_w = 4;
  size_t addr_w = 7;
  for (auto& m : *list) {
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
  for (auto& m : *list) {
    row(m.name, m.address, std::string{sv::cluster::to_string(m.state)},
        std::to_string(m.incarnation), m.version);
  }
  return 0;
}

int metadata_get(caf::actor_system& sys, const args& a) {
  auto m = sv::content::remote_get(sys, a.host, a.port, a.flags.at("--id"),
                                   std::chrono::milliseconds{a.timeout_ms});
  if (!m) {
    return unreachable(sys, a, m.error());
  }
  std::string json;
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(*m, &json, opts);
  std::cout << json << "\n";
  return 0;
}

int metadata_put(caf::actor_system& sys, const args& a) {
  auto& file = a.flags.at("--file");
  std::ifstream in{file};
  if (!in) {
    std::cerr << "streamverse-ctl: cannot read " << file << "\n";
    return exit_usage;
  }
  std::stringstream text;
  text << in.rdbuf();
  sv::content::metadata m;
  auto parsed = google::protobuf::util::JsonStringToMessage(text.str(), &m);
  if (!parsed.ok()) {
    std::cerr << "streamverse-ctl: " << file
              << ": not a ContentMetadata JSON object: " << parsed.ToString() << "\n";
    return exit_usage;
  }
  uint64_t expect = 0;
  if (auto e = a.flags.find("--expect"); e != a.flags.end()) {
    char* end = nullptr;
    expect = std::strtoull(e->second.c_str(), &end, 10);
    if (*end != '\0') {
      std::cerr << "streamverse-ctl: --expect wants a version number\n";
      return exit_usage;
    }
  }
  auto id = m.id();
  auto v = sv::content::remote_update(sys, a.host, a.port, std::move(m), expect,
                                      std::chrono::milliseconds{a.timeout_ms});
  if (!v) {
    return unreachable(sys, a, v.error());
  }
  std::cout << id << " version " << *v << "\n";
  return 0;
}

int cache_get(caf::actor_system& sys, const args& a) {
  auto& key = a.flags.at("--key");
  auto v = sv::cache::remote_get(sys, a.host, a.port, key, std::chrono::milliseconds{a.timeout_ms});
  if (!v) {
    return unreachable(sys, a, v.error());
  }
  std::cout << key << " version " << v->version << " from " << v->source << "\n"
            << *v->value << "\n";
  return 0;
}

int analytics_window(caf::actor_system& sys, const args& a) {
  long seconds = 10;
  if (auto s = a.flags.find("--seconds"); s != a.flags.end()) {
    char* end = nullptr;
    seconds = std::strtol(s->second.c_str(), &end, 10);
    if (*end != '\0' || seconds < 1 || seconds > 60) {
      std::cerr << "streamverse-ctl: --seconds wants 1..60\n";
      return exit_usage;
    }
  }
  auto w = sv::analytics::remote_window(sys, a.host, a.port, a.flags.at("--content"),
                                        a.flags.at("--region"), std::chrono::seconds{seconds},
                                        std::chrono::milliseconds{a.timeout_ms});
  if (!w) {
    return unreachable(sys, a, w.error());
  }
  std::cout << "last " << seconds << " s: viewers " << w->concurrent_viewers << ", events "
            << w->events << ", starts " << w->starts << ", startup p50/p95 " << w->startup_p50_ms
            << "/" << w->startup_p95_ms << " ms, rebuffer ratio " << w->rebuffer_ratio
            << ", error rate " << w->error_rate << "\n";
  return 0;
}

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
  ctl_config cfg{a};
  caf::actor_system sys{cfg};
  if (a.command == "members") {
    return members(sys, a);
  }
  if (a.command == "metadata get") {
    return metadata_get(sys, a);
  }
  if (a.command == "cache get") {
    return cache_get(sys, a);
  }
  if (a.command == "analytics window") {
    return analytics_window(sys, a);
  }
  return metadata_put(sys, a);
}
