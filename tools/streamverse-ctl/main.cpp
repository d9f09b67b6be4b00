// streamverse-ctl: asks a running node about its cluster and its catalog.
//
//   streamverse-ctl members --node HOST:PORT [--timeout-ms N]
//   streamverse-ctl metadata get --node HOST:PORT --id ID [--timeout-ms N]
//   streamverse-ctl metadata put --node HOST:PORT --file FILE.json [--expect V] [--timeout-ms N]
//   streamverse-ctl cache get --node HOST:PORT --key KEY [--timeout-ms N]
//   streamverse-ctl analytics window --node HOST:PORT --content ID --region R [--seconds S]
//   streamverse-ctl analytics history --node HOST:PORT --content ID [--region R|*] [--minutes M]
//   streamverse-ctl token --key-file F --user U --scope "viewer cms ops" [--ttl-s S]
//   streamverse-ctl analytics export --db FILE [--format jsonl|csv]
//   streamverse-ctl session open|heartbeat|close --node HOST:PORT --id N [...]
//   streamverse-ctl load --node HOST:PORT [--viewers N] [--interval-ms I] [--seconds S]
//
// Exit codes: 0 ok, 1 the node could not be reached or answered with an error,
// 2 bad arguments or input.

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <google/protobuf/util/json_util.h>

#include "actors/analytics/analytics.hpp"
#include "actors/analytics/history_store.hpp"
#include "actors/api/auth.hpp"
#include "actors/cache/cache.hpp"
#include "actors/content/catalog_client.hpp"
#include "actors/content/content_types.hpp"
#include "actors/media/media_errc.hpp"
#include "actors/session/edge_client.hpp"
#include "actors/session/session_errc.hpp"
#include "actors/session/session_gateway.hpp"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/io/middleman.hpp"
#include "caf/openssl/manager.hpp"
#include "runtime/cluster/client.hpp"
#include "runtime/util/clock.hpp"

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
    "       streamverse-ctl analytics history --node HOST:PORT --content ID\n"
    "                                        [--region R|*] [--minutes 1..10080]\n"
    "       streamverse-ctl analytics export --db FILE [--format jsonl|csv]\n"
    "       streamverse-ctl token --key-file F --user U --scope S [--ttl-s 1..31536000]\n"
    "                             [--expires-at EPOCH_SECONDS]\n"
    "       streamverse-ctl session open --node HOST:PORT --id N --user U --content C\n"
    "                                    [--device D] [--region R] [--tier 0..3]\n"
    "       streamverse-ctl session heartbeat --node HOST:PORT --id N [--position MS]\n"
    "       streamverse-ctl session close --node HOST:PORT --id N\n"
    "       streamverse-ctl load --node HOST:PORT [--viewers N] [--interval-ms I]\n"
    "                            [--seconds S] [--content C] [--region R]\n"
    "  --timeout-ms  how long to wait for the node (default 3000; 6000 for metadata put)\n"
    "  members       the member list as that node sees it: name, address, state,\n"
    "                incarnation, version, region[/zone] (states: joining, up, suspect,\n"
    "                leaving, down)\n"
    "  metadata get  that node's replica of a title, as JSON (ContentMetadata)\n"
    "  metadata put  a ContentMetadata JSON object to the title's owner, through that node;\n"
    "                prints the version assigned (--expect V: refuse unless at version V)\n"
    "  cache get     KEY through that node's cache (e.g. meta/premiere-1): a line\n"
    "                \"KEY version V from l1|l2|origin\", then the value\n"
    "  analytics window  the real-time figures of a title in a region over the last\n"
    "                S seconds (default 10), from its analytics partition\n"
    "  analytics history  a title's figures per minute and viewer region over the last\n"
    "                M minutes (default 60), from its partition's rollups: as region R's\n"
    "                nodes stored them (default: the asked node's region), or with\n"
    "                --region '*' as every region with a node up did, added up; a line per\n"
    "                region asked says whether it answered (exit 1 when none did)\n"
    "  analytics export  every event stored in a partition's history file (e.g.\n"
    "                DATA_DIR/analytics/partition-3.db; no node needed), one per line as\n"
    "                JSON (default) or CSV with a header\n"
    "  token         a bearer token for the player API (HTTP, [http]): HS256 under the\n"
    "                key in F (the nodes' http.token_key_file), for user U with scopes S\n"
    "                (space-separated: viewer, cms, ops), valid S seconds (default 3600)\n"
    "                or until --expires-at (seconds since the epoch; a past one makes an\n"
    "                expired token, for tests)\n"
    "  session       a viewer session on that node, through its gateway (the edge client):\n"
    "                prints ok or the refusal (e.g. not_in_region, overloaded)\n"
    "  load          N viewers (default 10000) of title C (default premiere-1, region\n"
    "                eu-west) opened on that node, then a heartbeat each every I ms\n"
    "                (default 10000) for S seconds (default 30); prints answered/s,\n"
    "                refusals and latency once a second; exit 1 if nothing was answered\n"
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
      {"analytics history", {"--node", "--timeout-ms", "--content", "--region", "--minutes"}},
      {"analytics export", {"--db", "--format"}},
      {"token", {"--key-file", "--user", "--scope", "--ttl-s", "--expires-at"}},
      {"session open",
       {"--node", "--timeout-ms", "--id", "--user", "--content", "--device", "--region", "--tier"}},
      {"session heartbeat", {"--node", "--timeout-ms", "--id", "--position"}},
      {"session close", {"--node", "--timeout-ms", "--id"}},
      {"load",
       {"--node", "--timeout-ms", "--viewers", "--interval-ms", "--seconds", "--content",
        "--region"}},
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
  if (out.command == "token") {
    if (out.flags.count("--key-file") == 0 || out.flags.count("--user") == 0
        || out.flags.count("--scope") == 0) {
      return fail_usage("token needs --key-file F, --user U and --scope S");
    }
    return true; // no node
  }
  if (out.command == "analytics export") {
    if (out.flags.count("--db") == 0) {
      return fail_usage("analytics export needs --db FILE");
    }
    auto f = out.flags.find("--format");
    if (f != out.flags.end() && f->second != "jsonl" && f->second != "csv") {
      return fail_usage("--format wants jsonl or csv, got \"" + f->second + "\"");
    }
    return true; // a file, no node
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
  if (out.command == "analytics history" && out.flags.count("--content") == 0) {
    return fail_usage("analytics history needs --content ID");
  }
  if (out.command == "cache get" && out.flags.count("--key") == 0) {
    return fail_usage("cache get needs --key KEY");
  }
  if (out.command == "metadata put" && out.flags.count("--file") == 0) {
    return fail_usage("metadata put needs --file FILE.json");
  }
  if (out.command.rfind("session ", 0) == 0 && out.flags.count("--id") == 0) {
    return fail_usage(out.command + " needs --id N");
  }
  if (out.command == "session open"
      && (out.flags.count("--user") == 0 || out.flags.count("--content") == 0)) {
    return fail_usage("session open needs --user U and --content C");
  }
  return true;
}

struct ctl_config : caf::actor_system_config {
  explicit ctl_config(const args& a) {
    sv::cluster::configure_client(*this);
    if (a.flags.count("--tls-cert") != 0) {
      load<caf::openssl::manager>();
      set("openssl.certificate", a.flags.at("--tls-cert"));
      set("openssl.key", a.flags.at("--tls-key"));
      set("openssl.cafile", a.flags.at("--tls-ca"));
    }
    sv::content::register_message_types(*this);
    sv::cache::register_message_types(*this);
    sv::analytics::register_message_types(*this);
    sv::session::register_message_types(*this);
    sv::media::add_error_domain(*this);
    set("scheduler.max-threads", size_t{2});
    set("work-stealing.moderate-poll-attempts", size_t{10}); // little idle polling
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
                 const std::string& inc, const std::string& version, const std::string& region) {
    std::cout << std::left << std::setw(static_cast<int>(name_w + 2)) << name
              << std::setw(static_cast<int>(addr_w + 2)) << addr << std::setw(9) << state
              << std::setw(15) << inc << std::setw(9) << version << region << "\n";
  };
  row("NAME", "ADDRESS", "STATE", "INCARNATION", "VERSION", "REGION");
  for (auto& m : *list) {
    auto region =
        m.region.empty() ? std::string{"-"} : (m.zone.empty() ? m.region : m.region + "/" + m.zone);
    row(m.name, m.address, std::string{sv::cluster::to_string(m.state)},
        std::to_string(m.incarnation), m.version, region);
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

int token(const args& a) {
  long ttl = 3600;
  if (auto t = a.flags.find("--ttl-s"); t != a.flags.end()) {
    char* end = nullptr;
    ttl = std::strtol(t->second.c_str(), &end, 10);
    if (*end != '\0' || ttl < 1 || ttl > 31'536'000) {
      std::cerr << "streamverse-ctl: --ttl-s wants 1..31536000 (a year)\n";
      return exit_usage;
    }
  }
  auto scopes = sv::api::parse_scopes(a.flags.at("--scope"));
  if (scopes == 0) {
    std::cerr << "streamverse-ctl: --scope names none of viewer, cms, ops\n";
    return exit_usage;
  }
  std::string why;
  auto keys = sv::api::token_keys::from_file(a.flags.at("--key-file"), why);
  if (!keys) {
    std::cerr << "streamverse-ctl: " << why << "\n";
    return exit_usage;
  }
  auto expires = sv::clock::wall_ms() / 1000 + ttl;
  if (auto e = a.flags.find("--expires-at"); e != a.flags.end()) {
    char* end = nullptr;
    expires = std::strtoll(e->second.c_str(), &end, 10);
    if (*end != '\0' || expires < 1) {
      std::cerr << "streamverse-ctl: --expires-at wants seconds since the epoch\n";
      return exit_usage;
    }
  }
  sv::api::principal p{a.flags.at("--user"), scopes, expires};
  std::cout << keys->mint(p) << "\n";
  return 0;
}

int analytics_history(caf::actor_system& sys, const args& a) {
  long minutes = 60;
  if (auto s = a.flags.find("--minutes"); s != a.flags.end()) {
    char* end = nullptr;
    minutes = std::strtol(s->second.c_str(), &end, 10);
    if (*end != '\0' || minutes < 1 || minutes > 10080) {
      std::cerr << "streamverse-ctl: --minutes wants 1..10080 (a week)\n";
      return exit_usage;
    }
  }
  auto region = a.flags.count("--region") != 0 ? a.flags.at("--region") : std::string{};
  auto now = sv::clock::wall_ms();
  auto to = (now / 60'000 + 1) * 60'000; // through the current minute
  auto h = sv::analytics::remote_history(sys, a.host, a.port, a.flags.at("--content"), region,
                                         to - minutes * 60'000, to,
                                         std::chrono::milliseconds{a.timeout_ms});
  if (!h) {
    return unreachable(sys, a, h.error());
  }
  size_t answered = 0;
  for (auto& s : h->sources) {
    answered += s.error.empty() ? 1 : 0;
    std::cout << "region " << (s.region.empty() ? "(none)" : s.region) << " at " << s.node << ": "
              << (s.error.empty() ? "answered" : "no answer: " + s.error) << "\n";
  }
  std::cout << "minute (UTC)      region      views  watch_min  rebuffer_ratio  startup_p50/p95_ms"
               "  errors  events\n";
  for (auto& m : h->minutes) {
    std::time_t t = static_cast<std::time_t>(m.minute_ms / 1000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char when[32];
    std::strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
    auto played = m.watch_ms + m.rebuffer_ms;
    char line[256];
    std::snprintf(line, sizeof(line), "%-17s %-10s %6llu %10.1f %15.4f %11u/%-6u %7llu %7llu\n",
                  when, m.region.c_str(), static_cast<unsigned long long>(m.views),
                  static_cast<double>(m.watch_ms) / 60000.0,
                  played == 0 ? 0.0
                              : static_cast<double>(m.rebuffer_ms) / static_cast<double>(played),
                  m.startup_p50_ms, m.startup_p95_ms, static_cast<unsigned long long>(m.errors),
                  static_cast<unsigned long long>(m.events));
    std::cout << line;
  }
  return answered == 0 ? 1 : 0;
}

// Text as a JSON string body, or as a CSV field (quoted when it has to be).
std::string json_escaped(std::string_view x) {
  std::string out;
  for (char c : x) {
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    default:
      if (static_cast<unsigned char>(c) < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof(buf), "\\u%04x", c);
        out += buf;
      } else {
        out += c;
      }
    }
  }
  return out;
}

std::string csv_field(std::string_view x) {
  if (x.find_first_of(",\"\n") == std::string_view::npos) {
    return std::string{x};
  }
  std::string out = "\"";
  for (char c : x) {
    out += c == '"' ? std::string{"\"\""} : std::string(1, c);
  }
  return out + "\"";
}

// Every stored event of one partition file, as JSON lines or CSV (a file's readers need
// no node, and read it while its node runs: SQLite's WAL lets them).
int analytics_export(const args& a) {
  auto& path = a.flags.at("--db");
  if (!std::filesystem::exists(path)) {
    std::cerr << "streamverse-ctl: " << path << ": no such file\n";
    return exit_usage;
  }
  sv::analytics::history_settings read_only;
  read_only.read_only = true;
  sv::analytics::history_store h{path, read_only};
  if (!h.error().empty()) {
    std::cerr << "streamverse-ctl: " << h.error() << "\n";
    return exit_failure;
  }
  auto csv = a.flags.count("--format") != 0 && a.flags.at("--format") == "csv";
  if (csv) {
    std::cout << "event_id,session_id,user_id,content_id,region,device,type,timestamp_ms,"
                 "startup_ms,bitrate_kbps,buffer_ms,rebuffer_ms,watched_ms,position_ms,"
                 "error_code\n";
  }
  h.for_each([&](const sv::analytics::event_view& e) {
    auto type = streamverse::v1::ViewerEventType_Name(e.type());
    if (csv) {
      std::cout << csv_field(e.event_id()) << "," << csv_field(e.session_id()) << ","
                << csv_field(e.user()) << "," << csv_field(e.content()) << ","
                << csv_field(e.region()) << "," << csv_field(e.device()) << "," << type << ","
                << e.timestamp_ms() << "," << e.startup_ms() << "," << e.bitrate_kbps() << ","
                << e.buffer_ms() << "," << e.rebuffer_ms() << "," << e.watched_ms() << ","
                << e.position_ms() << "," << csv_field(e.error_code()) << "\n";
      return;
    }
    std::cout << "{\"event_id\":\"" << json_escaped(e.event_id()) << "\",\"session_id\":\""
              << json_escaped(e.session_id()) << "\",\"user_id\":\"" << json_escaped(e.user())
              << "\",\"content_id\":\"" << json_escaped(e.content()) << "\",\"region\":\""
              << json_escaped(e.region()) << "\",\"device\":\"" << json_escaped(e.device())
              << "\",\"type\":\"" << type << "\",\"timestamp_ms\":" << e.timestamp_ms()
              << ",\"startup_ms\":" << e.startup_ms() << ",\"bitrate_kbps\":" << e.bitrate_kbps()
              << ",\"buffer_ms\":" << e.buffer_ms() << ",\"rebuffer_ms\":" << e.rebuffer_ms()
              << ",\"watched_ms\":" << e.watched_ms() << ",\"position_ms\":" << e.position_ms()
              << ",\"error_code\":\"" << json_escaped(e.error_code()) << "\"}\n";
  });
  return 0;
}

// A number flag (`def` when absent); false with a message when it is not one in range.
bool number_flag(const args& a, const char* name, uint64_t lo, uint64_t hi, uint64_t& out) {
  auto f = a.flags.find(name);
  if (f == a.flags.end()) {
    return true;
  }
  char* end = nullptr;
  auto v = std::strtoull(f->second.c_str(), &end, 10);
  if (f->second.empty() || *end != '\0' || v < lo || v > hi) {
    std::cerr << "streamverse-ctl: " << name << " wants " << lo << ".." << hi << ", got \""
              << f->second << "\"\n";
    return false;
  }
  out = v;
  return true;
}

sv::session::edge_settings edge_to(const args& a) {
  sv::session::edge_settings es;
  es.nodes = {{a.host + ":" + std::to_string(a.port), a.host, a.port}};
  es.deadline = std::chrono::milliseconds{a.timeout_ms};
  es.connect_timeout = std::chrono::milliseconds{a.timeout_ms};
  return es;
}

int session(caf::actor_system& sys, const args& a) {
  uint64_t id = 0;
  uint64_t tier = 0;
  uint64_t position = 0;
  if (!number_flag(a, "--id", 1, UINT64_MAX, id) || !number_flag(a, "--tier", 0, 3, tier)
      || !number_flag(a, "--position", 0, uint64_t{7} * 86'400'000, position)) {
    return exit_usage;
  }
  sv::session::edge_client client{sys, edge_to(a), {}};
  if (client.wait_connected(std::chrono::milliseconds{a.timeout_ms}) != 1) {
    std::cerr << "streamverse-ctl: " << a.host << ":" << a.port << ": no session gateway there\n";
    return exit_failure;
  }
  auto flag = [&](const char* name, const char* def) {
    auto f = a.flags.find(name);
    return f == a.flags.end() ? std::string{def} : f->second;
  };
  caf::error err;
  if (a.command == "session open") {
    sv::session::open_request r;
    r.session_id = id;
    r.user = flag("--user", "");
    r.content = flag("--content", "");
    r.device = flag("--device", "web");
    r.region = flag("--region", "eu-west");
    r.subscription = static_cast<uint8_t>(tier);
    err = client.open_sync(r, 0u);
  } else if (a.command == "session heartbeat") {
    sv::session::heartbeat_report h;
    h.session_id = id;
    h.position_ms = static_cast<int64_t>(position);
    err = client.heartbeat_sync(h, 0u);
  } else {
    err = client.command_sync({id, sv::session::command_kind::close, 0}, 0u);
  }
  if (err) {
    return unreachable(sys, a, err);
  }
  std::cout << "session " << id << " ok\n";
  return 0;
}

// N viewers on one node, a heartbeat each per interval: what an operator (or a test) uses
// to put a node under the load of real sessions.
int load(caf::actor_system& sys, const args& a) {
  uint64_t viewers = 10'000;
  uint64_t interval_ms = 10'000;
  uint64_t seconds = 30;
  if (!number_flag(a, "--viewers", 1, 10'000'000, viewers)
      || !number_flag(a, "--interval-ms", 10, 3'600'000, interval_ms)
      || !number_flag(a, "--seconds", 1, 86'400, seconds)) {
    return exit_usage;
  }
  auto content = a.flags.count("--content") != 0 ? a.flags.at("--content") : "premiere-1";
  auto region = a.flags.count("--region") != 0 ? a.flags.at("--region") : "eu-west";
  struct tally {
    std::mutex mtx;
    uint64_t ok = 0, overloaded = 0, other = 0, total_ok = 0;
    std::vector<int64_t> lat;
    std::string last_error;
    std::vector<uint64_t> reopen; // viewers whose open failed, or whose session is gone
  } t;
  auto es = edge_to(a);
  es.deadline = std::chrono::milliseconds{2000};
  sv::session::edge_client client{
      sys, es, [&t, &sys](std::vector<sv::session::edge_result>& rs) {
        std::lock_guard<std::mutex> g{t.mtx};
        for (auto& r : rs) {
          if (!r.error) {
            ++t.ok;
            t.lat.push_back(r.latency.count());
          } else if (sv::is(r.error, sv::errc::overloaded)) {
            ++t.overloaded;
          } else {
            ++t.other;
            t.last_error = sys.render(r.error);
          }
          if (r.error
              && (r.kind == sv::session::item_kind::open
                  || sv::is(r.error, sv::session::session_errc::unknown_session))) {
            t.reopen.push_back(r.cookie);
          }
        }
      }};
  if (client.wait_connected(std::chrono::milliseconds{a.timeout_ms}) != 1) {
    std::cerr << "streamverse-ctl: " << a.host << ":" << a.port << ": no session gateway there\n";
    return exit_failure;
  }
  auto start = std::chrono::steady_clock::now();
  auto end = start + std::chrono::seconds{seconds};
  auto report = [&](double at) {
    std::lock_guard<std::mutex> g{t.mtx};
    std::sort(t.lat.begin(), t.lat.end());
    auto q = [&](double x) {
      return t.lat.empty()
                 ? 0.0
                 : static_cast<double>(
                       t.lat[static_cast<size_t>(x * static_cast<double>(t.lat.size() - 1))])
                       / 1e6;
    };
    std::cout << std::fixed << std::setprecision(1) << "[" << at << " s] ok " << t.ok
              << "  overloaded " << t.overloaded << "  other " << t.other << "  p50/p99 " << q(0.5)
              << "/" << q(0.99) << " ms"
              << (t.last_error.empty() ? "" : "  (last error: " + t.last_error + ")") << "\n"
              << std::flush;
    t.total_ok += t.ok;
    t.ok = t.overloaded = t.other = 0;
    t.lat.clear();
    t.last_error.clear();
  };
  std::vector<bool> open(viewers, false);
  uint64_t next = 0;
  auto next_report = start + std::chrono::seconds{1};
  int64_t position = 0;
  while (std::chrono::steady_clock::now() < end) {
    // Every viewer once per interval, in slices of 10 ms; the first round opens them.
    auto slice = std::max<uint64_t>(1, viewers * 10 / interval_ms);
    for (uint64_t k = 0; k < slice; ++k, ++next) {
      auto v = next % viewers;
      if (v == 0) {
        position += static_cast<int64_t>(interval_ms);
      }
      if (!open[v]) {
        sv::session::open_request r;
        r.session_id = v + 1;
        r.user = "load-" + std::to_string(v);
        r.content = content;
        r.device = "web";
        r.region = region;
        client.open(std::move(r), v, 0u);
        open[v] = true;
      } else {
        sv::session::heartbeat_report h;
        h.session_id = v + 1;
        h.position_ms = position;
        client.heartbeat(h, v, 0u);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
    {
      std::lock_guard<std::mutex> g{t.mtx};
      for (auto v : t.reopen) {
        open[v] = false; // opened again on its next turn
      }
      t.reopen.clear();
    }
    if (std::chrono::steady_clock::now() >= next_report) {
      report(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      next_report += std::chrono::seconds{1};
    }
  }
  std::this_thread::sleep_for(es.deadline);
  report(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return t.total_ok > 0 ? 0 : exit_failure;
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
  if (a.command == "analytics export") {
    return analytics_export(a);
  }
  if (a.command == "token") {
    return token(a);
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
  if (a.command == "analytics history") {
    return analytics_history(sys, a);
  }
  if (a.command.rfind("session ", 0) == 0) {
    return session(sys, a);
  }
  if (a.command == "load") {
    return load(sys, a);
  }
  return metadata_put(sys, a);
}
