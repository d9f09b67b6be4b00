#include "runtime/config/node_settings.hpp"
#include "runtime/config/section.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include <toml++/toml.h>

namespace sv::config {

namespace {

// -- value checks ----------------------------------------------------------------

const char* type_name(toml::node_type t) {
  switch (t) {
  case toml::node_type::string:
    return "a string";
  case toml::node_type::integer:
    return "an integer";
  case toml::node_type::floating_point:
    return "a floating-point number";
  case toml::node_type::boolean:
    return "a boolean";
  case toml::node_type::array:
    return "an array";
  case toml::node_type::table:
    return "a table";
  default:
    return "a date or time";
  }
}

bool valid_node_name(const std::string& s) {
  if (s.empty() || s.size() > 64) {
    return false;
  }
  for (auto c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'
              || c == '_' || c == '.';
    if (!ok) {
      return false;
    }
  }
  return true;
}

bool valid_host(const std::string& s) {
  if (s.empty() || s.size() > 253) {
    return false;
  }
  unsigned char buf[sizeof(in6_addr)];
  if (inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1) {
    return true;
  }
  for (auto c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'
              || c == '.';
    if (!ok) {
      return false;
    }
  }
  return true;
}

bool valid_ipv4(const std::string& s) {
  in_addr a{};
  return inet_pton(AF_INET, s.c_str(), &a) == 1;
}

// -- the schema ------------------------------------------------------------------

// Applies one TOML value to the settings. Returns an empty string or why it failed.
using apply_fn = std::function<std::string(const toml::node&, node_settings&)>;

struct field {
  std::string key;
  apply_fn apply;
};

apply_fn string_value(std::function<std::string(node_settings&, const std::string&)> f) {
  return [f](const toml::node& n, node_settings& s) -> std::string {
    if (!n.is_string()) {
      return std::string{"expected a string, got "} + type_name(n.type());
    }
    return f(s, n.as_string()->get());
  };
}

apply_fn integer_in(int64_t lo, int64_t hi, std::function<void(node_settings&, int64_t)> set,
                    const char* unit = "") {
  return [=](const toml::node& n, node_settings& s) -> std::string {
    if (!n.is_integer()) {
      return std::string{"expected an integer, got "} + type_name(n.type());
    }
    auto v = n.as_integer()->get();
    if (v < lo || v > hi) {
      return std::to_string(v) + unit + " is out of range (" + std::to_string(lo) + ".."
             + std::to_string(hi) + ")";
    }
    set(s, v);
    return {};
  };
}

template <class T>
apply_fn integer_value(int64_t lo, int64_t hi, T node_settings::*member, const char* unit = "") {
  return integer_in(
      lo, hi, [member](node_settings& s, int64_t v) { s.*member = static_cast<T>(v); }, unit);
}

template <class T>
apply_fn watermark(T watermark_settings::*member) {
  return integer_in(1, 10'000'000, [member](node_settings& s, int64_t v) {
    s.watermarks.*member = static_cast<T>(v);
  });
}

apply_fn flow_ms(int64_t lo, int64_t hi, uint32_t flow_control_settings::*member) {
  return integer_in(
      lo, hi, [member](node_settings& s, int64_t v) { s.flow.*member = static_cast<uint32_t>(v); },
      " ms");
}

std::optional<double> as_number(const toml::node& n) {
  if (n.is_floating_point()) {
    return n.as_floating_point()->get();
  }
  if (n.is_integer()) {
    return static_cast<double>(n.as_integer()->get());
  }
  return std::nullopt;
}

std::string enter_value(const toml::node& n, node_settings& s) {
  auto* arr = n.as_array();
  if (arr == nullptr || arr->size() != 4) {
    return "expected an array of 4 numbers (entry points of L1..L4)";
  }
  for (size_t i = 0; i < 4; ++i) {
    auto v = as_number(*arr->get(i));
    if (!v || *v <= 0 || *v > 100) {
      return "entry " + std::to_string(i) + ": expected a number in (0, 100]";
    }
    if (i > 0 && *v <= s.flow.enter[i - 1]) {
      return "entry " + std::to_string(i) + ": entry points must ascend";
    }
    s.flow.enter[i] = *v;
  }
  return {};
}

std::string exit_gap_value(const toml::node& n, node_settings& s) {
  auto v = as_number(n);
  if (!v) {
    return std::string{"expected a number, got "} + type_name(n.type());
  }
  if (*v < 0 || *v >= 1) {
    return "must be in [0, 1)";
  }
  s.flow.exit_gap = *v;
  return {};
}

// A TLS file: a non-empty path to a readable file (its contents are checked at start).
apply_fn tls_file(std::string node_settings::*member) {
  return string_value([member](node_settings& s, const std::string& v) -> std::string {
    if (v.empty()) {
      return "must not be empty (leave the key out for plain TCP)";
    }
    if (!std::ifstream{v}.good()) {
      return "cannot read \"" + v + "\"";
    }
    s.*member = v;
    return {};
  });
}

std::string exit_utilization_value(const toml::node& n, node_settings& s) {
  auto v = as_number(n);
  if (!v) {
    return std::string{"expected a number, got "} + type_name(n.type());
  }
  if (*v < 0 || *v > 100) {
    return "must be in [0, 100]";
  }
  s.flow.exit_utilization = *v;
  return {};
}

apply_fn level_sheds(size_t level_index) {
  return [level_index](const toml::node& n, node_settings& s) -> std::string {
    auto* arr = n.as_array();
    if (arr == nullptr) {
      return std::string{"expected an array of class names, got "} + type_name(n.type());
    }
    std::vector<std::string> names;
    for (auto& item : *arr) {
      auto* name = item.as_string();
      static const std::set<std::string> sheddable{"interactive", "best_effort", "bulk"};
      if (name == nullptr || sheddable.count(name->get()) == 0) {
        return "entries must be \"interactive\", \"best_effort\" or \"bulk\" (critical is "
               "never shed by level)";
      }
      names.push_back(name->get());
    }
    s.flow.sheds[level_index] = std::move(names);
    return {};
  };
}

std::string seeds_value(const toml::node& n, node_settings& s) {
  if (!n.is_array()) {
    return std::string{"expected an array of \"host:port\" strings, got "} + type_name(n.type());
  }
  s.seeds.clear();
  size_t i = 0;
  for (auto& item : *n.as_array()) {
    if (!item.is_string()) {
      return "entry " + std::to_string(i) + ": expected a \"host:port\" string, got "
             + type_name(item.type());
    }
    std::string why;
    auto seed = parse_host_port(item.as_string()->get(), why);
    if (!seed) {
      return "entry " + std::to_string(i) + ": " + why;
    }
    s.seeds.push_back(*seed);
    ++i;
  }
  return {};
}

std::string dial_via_value(const toml::node& n, node_settings& s) {
  auto* tbl = n.as_table();
  if (tbl == nullptr) {
    return std::string{"expected a table of \"host:port\" = \"host:port\", got "}
           + type_name(n.type());
  }
  s.dial_via.clear();
  for (auto&& [k, v] : *tbl) {
    auto name = std::string{k.str()};
    std::string why;
    auto from = parse_host_port(name, why);
    if (!from) {
      return "key " + why;
    }
    if (!v.is_string()) {
      return "\"" + name + "\": expected a \"host:port\" string, got " + type_name(v.type());
    }
    auto to = parse_host_port(v.as_string()->get(), why);
    if (!to) {
      return "\"" + name + "\": " + why;
    }
    s.dial_via.emplace_back(*from, *to);
  }
  return {};
}

const std::vector<field>& schema() {
  static const std::vector<field> fields = {
      {"node.name", string_value([](node_settings& s, const std::string& v) -> std::string {
         if (!valid_node_name(v)) {
           return "\"" + v + "\" is not a node name (1-64 of A-Z a-z 0-9 . _ -)";
         }
         s.name = v;
         return {};
       })},
      {"node.region", string_value([](node_settings& s, const std::string& v) -> std::string {
         if (!valid_node_name(v)) {
           return "\"" + v + "\" is not a region name (1-64 of A-Z a-z 0-9 . _ -)";
         }
         s.region = v;
         return {};
       })},
      {"node.zone", string_value([](node_settings& s, const std::string& v) -> std::string {
         if (!valid_node_name(v)) {
           return "\"" + v + "\" is not a zone name (1-64 of A-Z a-z 0-9 . _ -)";
         }
         s.zone = v;
         return {};
       })},
      {"node.data_dir", string_value([](node_settings& s, const std::string& v) -> std::string {
         if (v.empty()) {
           return "must not be empty";
         }
         s.data_dir = v;
         return {};
       })},
      {"node.scheduler_threads", integer_value(1, 256, &node_settings::scheduler_threads)},
      {"node.max_throughput", integer_value(0, 1'000'000, &node_settings::max_throughput)},
      {"cluster.bind", string_value([](node_settings& s, const std::string& v) -> std::string {
         if (!valid_host(v)) {
           return "\"" + v + "\" is not an IP address or host name";
         }
         s.bind_address = v;
         return {};
       })},
      {"cluster.port", integer_value(0, 65535, &node_settings::cluster_port)},
      {"cluster.seeds", seeds_value},
      {"cluster.dial_via", dial_via_value},
      {"cluster.heartbeat_interval_ms",
       integer_value(10, 60'000, &node_settings::heartbeat_interval_ms, " ms")},
      {"cluster.connection_timeout_ms",
       integer_value(20, 600'000, &node_settings::connection_timeout_ms, " ms")},
      {"cluster.seed_retry_ms", integer_value(10, 60'000, &node_settings::seed_retry_ms, " ms")},
      {"cluster.max_frame_bytes",
       integer_value(64u << 10, 1u << 30, &node_settings::max_frame_bytes, " bytes")},
      {"cluster.max_connections", integer_value(2, 100'000, &node_settings::max_connections)},
      {"cluster.max_pending_connections",
       integer_value(1, 100'000, &node_settings::max_pending_connections)},
      {"cluster.handshake_timeout_ms",
       integer_value(100, 600'000, &node_settings::handshake_timeout_ms, " ms")},
      {"cluster.leave_timeout_ms",
       integer_value(0, 600'000, &node_settings::leave_timeout_ms, " ms")},
      {"cluster.tls_certificate", tls_file(&node_settings::tls_certificate)},
      {"cluster.tls_key", tls_file(&node_settings::tls_key)},
      {"cluster.tls_ca", tls_file(&node_settings::tls_ca)},
      {"cluster.gossip_interval_ms",
       integer_value(10, 60'000, &node_settings::gossip_interval_ms, " ms")},
      {"cluster.suspect_after_ms",
       integer_value(20, 600'000, &node_settings::suspect_after_ms, " ms")},
      {"cluster.down_after_ms", integer_value(0, 3'600'000, &node_settings::down_after_ms, " ms")},
      {"cluster.remote_suspect_after_ms",
       integer_value(20, 600'000, &node_settings::remote_suspect_after_ms, " ms")},
      {"cluster.remote_down_after_ms",
       integer_value(0, 3'600'000, &node_settings::remote_down_after_ms, " ms")},
      {"metrics.bind", string_value([](node_settings& s, const std::string& v) -> std::string {
         if (!valid_ipv4(v)) {
           return "\"" + v + "\" is not an IPv4 address";
         }
         s.metrics_bind_address = v;
         return {};
       })},
      {"metrics.port", integer_value(0, 65535, &node_settings::metrics_port)},
      {"log.level", string_value([](node_settings& s, const std::string& v) -> std::string {
         static const std::set<std::string> levels{"trace", "debug",    "info", "warn",
                                                   "error", "critical", "off"};
         if (levels.count(v) == 0) {
           return "\"" + v + "\" is not one of trace, debug, info, warn, error, critical, off";
         }
         s.log_level = v;
         return {};
       })},
      {"log.format", string_value([](node_settings& s, const std::string& v) -> std::string {
         if (v == "text") {
           s.log_format_value = log_format::text;
         } else if (v == "json") {
           s.log_format_value = log_format::json;
         } else {
           return "\"" + v + "\" is not one of text, json";
         }
         return {};
       })},
      {"log.status_interval_ms",
       integer_value(0, 3'600'000, &node_settings::status_interval_ms, " ms")},
      {"flow.watermarks.critical", watermark(&watermark_settings::critical)},
      {"flow.watermarks.interactive", watermark(&watermark_settings::interactive)},
      {"flow.watermarks.best_effort", watermark(&watermark_settings::best_effort)},
      {"flow.watermarks.bulk", watermark(&watermark_settings::bulk)},
      {"flow.monitor_interval_ms",
       flow_ms(10, 10'000, &flow_control_settings::monitor_interval_ms)},
      {"flow.dispatch_lag_budget_ms",
       flow_ms(1, 60'000, &flow_control_settings::dispatch_lag_budget_ms)},
      {"flow.critical_budget_ms", flow_ms(1, 60'000, &flow_control_settings::critical_budget_ms)},
      {"flow.queue_delay_budget_ms",
       flow_ms(0, 60'000, &flow_control_settings::queue_delay_budget_ms)},
      {"flow.critical_backlog_budget_us",
       integer_in(
           0, 60'000'000,
           [](node_settings& s,
              int64_t v) { s.flow.critical_backlog_budget_us = static_cast<uint32_t>(v); },
           " us")},
      {"flow.degrader.enter", enter_value},
      {"flow.degrader.exit_gap", exit_gap_value},
      {"flow.degrader.exit_utilization", exit_utilization_value},
      {"flow.degrader.hold_ms", flow_ms(0, 600'000, &flow_control_settings::hold_ms)},
      {"flow.levels.l1", level_sheds(0)},
      {"flow.levels.l2", level_sheds(1)},
      {"flow.levels.l3", level_sheds(2)},
      {"flow.levels.l4", level_sheds(3)},
  };
  return fields;
}

// Sections are the prefixes of known keys ("cluster", "flow", "flow.watermarks"), the
// runtime's own and the registered sections' ("widgets", "widgets.inner").
void add_prefixes(const std::string& key, std::set<std::string>& xs) {
  for (auto pos = key.find('.'); pos != std::string::npos; pos = key.find('.', pos + 1)) {
    xs.insert(key.substr(0, pos));
  }
}

std::set<std::string> sections(const std::vector<section_spec>& registered) {
  std::set<std::string> xs;
  for (auto& f : schema()) {
    add_prefixes(f.key, xs);
  }
  for (auto& spec : registered) {
    for (auto& [key, apply] : spec.keys) {
      add_prefixes(spec.name + "." + key, xs);
    }
  }
  return xs;
}

// A TOML value as a registered section's key sees it.
value to_value(const toml::node& n) {
  value v;
  switch (n.type()) {
  case toml::node_type::string:
    v.type = value::kind::string;
    v.text = n.as_string()->get();
    break;
  case toml::node_type::integer:
    v.type = value::kind::integer;
    v.integer = n.as_integer()->get();
    v.number = static_cast<double>(v.integer);
    break;
  case toml::node_type::floating_point:
    v.type = value::kind::floating;
    v.number = n.as_floating_point()->get();
    break;
  case toml::node_type::boolean:
    v.type = value::kind::boolean;
    v.flag = n.as_boolean()->get();
    break;
  case toml::node_type::array:
    v.type = value::kind::array;
    for (auto& item : *n.as_array()) {
      v.items.push_back(to_value(item));
    }
    break;
  case toml::node_type::table:
    v.type = value::kind::table;
    break;
  default:
    v.type = value::kind::other;
    break;
  }
  return v;
}

std::mutex registry_mx;
std::vector<section_spec>& registry() {
  static std::vector<section_spec> xs;
  return xs;
}

const field* find_field(const std::string& key) {
  for (auto& f : schema()) {
    if (f.key == key) {
      return &f;
    }
  }
  return nullptr;
}

std::string fmt_number(double x) {
  std::ostringstream out;
  out << x;
  return out.str();
}

} // namespace

const char* value::type_name() const noexcept {
  switch (type) {
  case kind::string:
    return "a string";
  case kind::integer:
    return "an integer";
  case kind::floating:
    return "a floating-point number";
  case kind::boolean:
    return "a boolean";
  case kind::array:
    return "an array";
  case kind::table:
    return "a table";
  default:
    return "a date or time";
  }
}

void register_section(section_spec spec) {
  std::lock_guard<std::mutex> guard{registry_mx};
  auto& xs = registry();
  for (auto& x : xs) {
    if (x.name == spec.name) {
      x = std::move(spec);
      return;
    }
  }
  xs.push_back(std::move(spec));
}

std::vector<section_spec> registered_sections() {
  std::lock_guard<std::mutex> guard{registry_mx};
  return registry();
}

// -- the walk ----------------------------------------------------------------------

struct loader {
  std::string file;
  node_settings settings;
  std::vector<section_spec> registered = registered_sections();
  std::set<std::string> known_sections = sections(registered);
  std::map<std::string, uint32_t> lines; // key -> line of its value
  std::optional<config_error> error;

  // toml++ keeps keys sorted by name, not by position, so the walk visits them out of
  // file order: keep the problem that comes first in the file.
  void fail(uint32_t line, std::string key, std::string message) {
    if (!error || line < error->line) {
      error = config_error{file, line, std::move(key), std::move(message)};
    }
  }

  void walk(const toml::table& tbl, const std::string& prefix) {
    for (auto&& [k, v] : tbl) {
      auto key = prefix.empty() ? std::string{k.str()} : prefix + "." + std::string{k.str()};
      auto line = static_cast<uint32_t>(v.source().begin.line);
      if (known_sections.count(key) != 0) {
        if (!v.is_table()) {
          fail(line, key, std::string{"expected a table, got "} + type_name(v.type()));
          continue;
        }
        walk(*v.as_table(), key);
        continue;
      }
      lines[key] = line;
      if (auto* f = find_field(key)) {
        if (auto why = f->apply(v, settings); !why.empty()) {
          fail(line, key, why);
        }
        continue;
      }
      if (auto why = apply_registered(key, v); why) {
        if (!why->empty()) {
          fail(line, key, *why);
        }
        continue;
      }
      fail(line, key, "unknown key (see config/README.md for the keys a node accepts)");
    }
  }

  // Applies `key` when a registered section has it: nullopt when none does, else "" or
  // why the value was refused.
  std::optional<std::string> apply_registered(const std::string& key, const toml::node& v) {
    for (auto& spec : registered) {
      if (key.compare(0, spec.name.size() + 1, spec.name + ".") != 0) {
        continue;
      }
      auto rest = key.substr(spec.name.size() + 1);
      for (auto& [k, apply] : spec.keys) {
        if (k == rest) {
          auto& slot = settings.sections_[spec.type];
          if (!slot.has_value()) {
            slot = spec.make();
          }
          return apply(to_value(v), slot);
        }
      }
    }
    return std::nullopt;
  }

  void check_flow_relations() {
    auto& f = settings.flow;
    if (f.exit_gap >= f.enter[0]) {
      auto key = lines.count("flow.degrader.exit_gap") != 0 ? "flow.degrader.exit_gap"
                                                            : "flow.degrader.enter";
      fail(line_of(key), key,
           "exit_gap (" + fmt_number(f.exit_gap) + ") must be below the first entry point ("
               + fmt_number(f.enter[0]) + ")");
    }
    for (size_t l = 1; l < f.sheds.size(); ++l) {
      for (auto& name : f.sheds[l - 1]) {
        if (std::find(f.sheds[l].begin(), f.sheds[l].end(), name) == f.sheds[l].end()) {
          auto key = "flow.levels.l" + std::to_string(l + 1);
          fail(line_of(key), key, "must shed " + name + " because l" + std::to_string(l) + " does");
          return;
        }
      }
    }
  }

  uint32_t line_of(const std::string& key) const {
    auto i = lines.find(key);
    return i != lines.end() ? i->second : 1;
  }

  // Rules that relate several keys; reported at the line of the key named.
  void check_relations() {
    auto& s = settings;
    if (s.connection_timeout_ms <= s.heartbeat_interval_ms) {
      auto key = lines.count("cluster.connection_timeout_ms") != 0
                     ? "cluster.connection_timeout_ms"
                     : "cluster.heartbeat_interval_ms";
      fail(line_of(key), key,
           "connection_timeout_ms (" + std::to_string(s.connection_timeout_ms)
               + ") must be larger than heartbeat_interval_ms ("
               + std::to_string(s.heartbeat_interval_ms) + ")");
    }
    {
      const char* tls_keys[] = {"cluster.tls_certificate", "cluster.tls_key", "cluster.tls_ca"};
      size_t set = 0;
      const char* first_set = nullptr;
      for (auto k : tls_keys) {
        if (lines.count(k) != 0) {
          ++set;
          first_set = first_set != nullptr ? first_set : k;
        }
      }
      if (set != 0 && set != 3) {
        fail(line_of(first_set), first_set,
             "mutual TLS needs all of cluster.tls_certificate, cluster.tls_key and "
             "cluster.tls_ca");
      }
    }
    if (s.suspect_after_ms <= s.gossip_interval_ms) {
      auto key = lines.count("cluster.suspect_after_ms") != 0 ? "cluster.suspect_after_ms"
                                                              : "cluster.gossip_interval_ms";
      fail(line_of(key), key,
           "suspect_after_ms (" + std::to_string(s.suspect_after_ms)
               + ") must be larger than gossip_interval_ms (" + std::to_string(s.gossip_interval_ms)
               + ")");
    }
    if (s.remote_suspect_after_ms <= s.gossip_interval_ms) {
      auto key = lines.count("cluster.remote_suspect_after_ms") != 0
                     ? "cluster.remote_suspect_after_ms"
                     : "cluster.gossip_interval_ms";
      fail(line_of(key), key,
           "remote_suspect_after_ms (" + std::to_string(s.remote_suspect_after_ms)
               + ") must be larger than gossip_interval_ms (" + std::to_string(s.gossip_interval_ms)
               + ")");
    }
    if (!s.zone.empty() && s.region.empty()) {
      fail(line_of("node.zone"), "node.zone", "a zone needs node.region");
    }
    if (s.metrics_port != 0 && s.metrics_port == s.cluster_port) {
      fail(line_of("metrics.port"), "metrics.port",
           "must differ from cluster.port (" + std::to_string(s.cluster_port) + ")");
    }
    auto& w = s.watermarks;
    const std::pair<const char*, uint32_t> order[] = {
        {"flow.watermarks.bulk", w.bulk},
        {"flow.watermarks.best_effort", w.best_effort},
        {"flow.watermarks.interactive", w.interactive},
        {"flow.watermarks.critical", w.critical}};
    for (size_t i = 1; i < std::size(order); ++i) {
      if (order[i - 1].second > order[i].second) {
        // Blame whichever of the two the file set; prefer the lower class.
        auto key = lines.count(order[i - 1].first) != 0 ? order[i - 1].first : order[i].first;
        fail(line_of(key), key,
             std::string{order[i - 1].first} + " (" + std::to_string(order[i - 1].second)
                 + ") must not exceed " + order[i].first + " (" + std::to_string(order[i].second)
                 + ")");
      }
    }
  }
};

std::string seed_address::to_string() const {
  auto h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return h + ":" + std::to_string(port);
}

std::string config_error::to_string() const {
  std::string out = file;
  if (line > 0) {
    out += ":" + std::to_string(line);
  }
  out += ": ";
  if (!key.empty()) {
    out += key + ": ";
  }
  out += message;
  return out;
}

std::optional<seed_address> parse_host_port(std::string_view text, std::string& why) {
  std::string host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      why = "\"" + std::string{text} + "\" is not host:port (IPv6 needs [addr]:port)";
      return std::nullopt;
    }
    host = std::string{text.substr(1, close - 1)};
    port_text = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) {
      why = "\"" + std::string{text} + "\" is not host:port";
      return std::nullopt;
    }
    host = std::string{text.substr(0, colon)};
    port_text = text.substr(colon + 1);
  }
  if (!valid_host(host)) {
    why = "\"" + std::string{text} + "\" has no valid host";
    return std::nullopt;
  }
  if (port_text.empty() || port_text.size() > 5
      || port_text.find_first_not_of("0123456789") != std::string_view::npos) {
    why = "\"" + std::string{text} + "\" has no valid port";
    return std::nullopt;
  }
  auto port = std::stoul(std::string{port_text});
  if (port < 1 || port > 65535) {
    why = "\"" + std::string{text} + "\": port " + std::to_string(port)
          + " is out of range (1..65535)";
    return std::nullopt;
  }
  return seed_address{host, static_cast<uint16_t>(port)};
}

std::string check_http_url(const std::string& url) {
  for (const char* scheme : {"http://", "https://"}) {
    auto n = std::char_traits<char>::length(scheme);
    if (url.compare(0, n, scheme) == 0) {
      return url.size() == n || url[n] == '/' ? "has no host" : "";
    }
  }
  return "must start with http:// or https://";
}

load_result load_string(std::string_view toml_text, const std::string& source_name) {
  loader ld;
  ld.file = source_name;
  ld.settings.source = source_name;
  toml::table tbl;
  try {
    tbl = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& e) {
    auto line = static_cast<uint32_t>(e.source().begin.line);
    return {std::nullopt, config_error{source_name, line, "",
                                       "TOML syntax error: " + std::string{e.description()}}};
  }
  ld.walk(tbl, "");
  if (!ld.error) {
    ld.check_relations();
  }
  if (!ld.error) {
    ld.check_flow_relations();
  }
  if (ld.error) {
    return {std::nullopt, ld.error};
  }
  return {std::move(ld.settings), std::nullopt};
}

load_result load_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return {std::nullopt, config_error{path, 0, "", "cannot read config file: is a directory"}};
  }
  std::ifstream in{path, std::ios::binary};
  if (!in) {
    auto why = std::string{"cannot read config file: "} + std::strerror(errno);
    return {std::nullopt, config_error{path, 0, "", why}};
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  return load_string(buf.str(), path);
}

} // namespace sv::config
