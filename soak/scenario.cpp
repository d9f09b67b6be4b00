#include "soak/scenario.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <optional>
#include <random>
#include <set>
#include <sstream>

namespace sv::soak {

namespace {

struct kind_name {
  phase_kind kind;
  const char* name;
};

constexpr kind_name kinds[] = {
    {phase_kind::ramp, "ramp"},
    {phase_kind::steady, "steady"},
    {phase_kind::spike, "spike"},
    {phase_kind::kill, "kill"},
    {phase_kind::stall, "stall"},
    {phase_kind::partition, "partition"},
    {phase_kind::leave, "leave"},
    {phase_kind::join, "join"},
    {phase_kind::wan, "wan"},
    {phase_kind::storm, "storm"},
    {phase_kind::recovery, "recovery"},
    {phase_kind::cpu_thief, "cpu_thief"},
    {phase_kind::disk_full, "disk_full"},
};

bool valid_region(const std::string& name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' || c == '-';
  });
}

std::string where(const toml::node& n) {
  auto& src = n.source();
  return src.begin.line > 0 ? ":" + std::to_string(src.begin.line) : std::string{};
}

// A mix table (name = weight) into pairs; false on a bad value.
bool read_mix(const toml::table* t, std::vector<std::pair<std::string, double>>& out,
              std::string& error, const std::string& what) {
  if (t == nullptr) {
    return true;
  }
  out.clear();
  for (auto& [k, v] : *t) {
    auto w = v.value<double>();
    if (!w || *w < 0) {
      error = what + "." + std::string{k.str()} + " wants a weight >= 0";
      return false;
    }
    out.emplace_back(std::string{k.str()}, *w);
  }
  if (out.empty()) {
    error = what + " is empty";
    return false;
  }
  return true;
}

} // namespace

const char* to_string(phase_kind k) {
  for (auto& x : kinds) {
    if (x.kind == k) {
      return x.name;
    }
  }
  return "?";
}

double scenario::total_seconds() const {
  double t = 0;
  for (auto& p : phases) {
    t += p.seconds;
  }
  return t;
}

bool scenario::relayed() const {
  if (!links.empty() || !node_regions.empty()) {
    return true;
  }
  return std::any_of(phases.begin(), phases.end(),
                     [](const phase& p) { return p.kind == phase_kind::wan; });
}

std::string scenario::region_of(uint32_t i) const {
  return i < node_regions.size() ? node_regions[i] : std::string{};
}

link_spec scenario::link_between(uint32_t i, uint32_t j) const {
  auto ra = region_of(i);
  auto rb = region_of(j);
  if (ra == rb) {
    return {ra, rb, 0, 0};
  }
  for (auto& l : links) {
    if ((l.a == ra && l.b == rb) || (l.a == rb && l.b == ra)) {
      return l;
    }
  }
  return {ra, rb, 0, 0};
}

std::string node_name(uint32_t index) {
  return "node-" + std::string(1, static_cast<char>('a' + index));
}

namespace {

// toml++ 3 reads a float as an integer through a cast that is undefined past int64's range
// (found by fuzz_scenario): such numbers are refused before any key is read.
const toml::node* huge_float(const toml::node& n) {
  if (auto* f = n.as_floating_point()) {
    auto v = f->get();
    return std::isfinite(v) && std::fabs(v) >= 9.2e18 ? &n : nullptr;
  }
  if (auto* t = n.as_table()) {
    for (auto& [k, v] : *t) {
      if (auto* h = huge_float(v)) {
        return h;
      }
    }
  }
  if (auto* a = n.as_array()) {
    for (auto& v : *a) {
      if (auto* h = huge_float(v)) {
        return h;
      }
    }
  }
  return nullptr;
}

} // namespace

std::optional<scenario> load_scenario(const std::string& path, std::string& error) {
  toml::table doc;
  try {
    doc = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << path << ":" << e.source().begin.line << ": " << e.description();
    error = os.str();
    return std::nullopt;
  }
  scenario s;
  auto fail = [&](const std::string& why) {
    error = path + ": " + why;
    return std::nullopt;
  };
  if (auto* h = huge_float(doc)) {
    return fail("line " + std::to_string(h->source().begin.line)
                + ": a number too large for any key (at most 9.2e18)");
  }
  s.name = doc["name"].value_or(s.name);
  s.nodes = doc["cluster"]["nodes"].value_or(s.nodes);
  s.base_port = static_cast<uint16_t>(doc["cluster"]["base_port"].value_or(int64_t{s.base_port}));
  s.scheduler_threads = doc["cluster"]["scheduler_threads"].value_or(s.scheduler_threads);
  s.partitions = doc["cluster"]["analytics_partitions"].value_or(s.partitions);
  s.viewers = doc["viewers"]["count"].value_or(s.viewers);
  s.heartbeat_ms = doc["viewers"]["heartbeat_ms"].value_or(s.heartbeat_ms);
  s.protocol = doc["viewers"]["protocol"].value_or(s.protocol);
  if (s.protocol != "edge" && s.protocol != "http") {
    return fail("viewers.protocol wants \"edge\" or \"http\", got \"" + s.protocol + "\"");
  }
  if (!read_mix(doc["viewers"]["devices"].as_table(), s.devices, error, "viewers.devices")
      || !read_mix(doc["viewers"]["regions"].as_table(), s.regions, error, "viewers.regions")) {
    error = path + ": " + error;
    return std::nullopt;
  }
  s.titles = doc["catalog"]["titles"].value_or(s.titles);
  s.zipf = doc["catalog"]["zipf"].value_or(s.zipf);
  s.updates_per_s = doc["catalog"]["updates_per_s"].value_or(s.updates_per_s);
  if (auto* a = doc["autoscale"].as_table()) {
    auto& as = s.autoscale;
    as.present = true;
    auto get = [&](const char* key, uint32_t& into, int64_t lo, int64_t hi) {
      auto v = (*a)[key].value_or(static_cast<int64_t>(into));
      if (v < lo || v > hi) {
        error = path + ": autoscale." + key + " wants " + std::to_string(lo) + ".."
                + std::to_string(hi);
        return false;
      }
      into = static_cast<uint32_t>(v);
      return true;
    };
    if (!get("min_nodes", as.min_nodes, 1, 26)
        || !get("sessions_per_node", as.sessions_per_node, 0, 100'000'000)
        || !get("target_utilization_pct", as.target_utilization_pct, 0, 100)
        || !get("tolerance_pct", as.tolerance_pct, 0, 100)
        || !get("down_stabilization_s", as.down_stabilization_s, 0, 3600)) {
      return std::nullopt;
    }
    if (auto o = (*a)["orchestrate"]; o && !o.is_boolean()) {
      return fail("autoscale.orchestrate wants true or false");
    }
    as.orchestrate = (*a)["orchestrate"].value_or(false);
    as.cooldown_s = (*a)["cooldown_s"].value_or(as.cooldown_s);
    if (as.cooldown_s < 0 || as.cooldown_s > 600) {
      return fail("autoscale.cooldown_s wants 0..600");
    }
  }
  s.critical_p99_ms = doc["bounds"]["critical_p99_ms"].value_or(s.critical_p99_ms);
  s.metadata_p99_ms = doc["bounds"]["metadata_p99_ms"].value_or(s.metadata_p99_ms);
  s.invalidation_p99_ms = doc["bounds"]["invalidation_p99_ms"].value_or(s.invalidation_p99_ms);
  s.steady_p99_ms = doc["bounds"]["steady_p99_ms"].value_or(s.steady_p99_ms);
  s.recovery_s = doc["bounds"]["recovery_s"].value_or(s.recovery_s);
  if (s.nodes < 1 || s.nodes > 26) {
    return fail("cluster.nodes wants 1..26, got " + std::to_string(s.nodes));
  }
  if (s.base_port < 1024 || s.base_port > 65000) {
    return fail("cluster.base_port wants 1024..65000");
  }
  if (s.heartbeat_ms < 100 || s.heartbeat_ms > 600'000) {
    return fail("viewers.heartbeat_ms wants 100..600000");
  }
  if (s.titles < 1 || s.zipf < 0 || s.zipf > 3) {
    return fail("catalog.titles wants >= 1 and catalog.zipf 0..3");
  }
  if (s.partitions < 1) {
    return fail("cluster.analytics_partitions wants >= 1");
  }
  std::set<std::string> names;
  for (uint32_t i = 0; i < s.nodes; ++i) {
    names.insert(node_name(i));
  }
  if (auto* node = doc["cluster"]["regions"].node()) {
    auto* regions = node->as_array();
    if (regions == nullptr) {
      return fail("cluster.regions" + where(*node) + " wants an array of region names");
    }
    for (auto& r : *regions) {
      auto name = r.value<std::string>();
      if (!name || !valid_region(*name)) {
        return fail("cluster.regions" + where(r)
                    + ": entries are region names (1-64 of A-Z a-z 0-9 . _ -)");
      }
      s.node_regions.push_back(*name);
    }
    if (s.node_regions.size() != s.nodes) {
      return fail("cluster.regions" + where(*node) + " names "
                  + std::to_string(s.node_regions.size()) + " regions for "
                  + std::to_string(s.nodes) + " nodes (one per node)");
    }
  }
  std::set<std::string> regions(s.node_regions.begin(), s.node_regions.end());
  if (auto* node = doc["link"].node()) {
    auto* links = node->as_array();
    if (links == nullptr) {
      return fail("link" + where(*node) + " wants [[link]] tables");
    }
    for (auto& entry : *links) {
      auto* t = entry.as_table();
      auto* between = t != nullptr ? (*t)["between"].as_array() : nullptr;
      if (between == nullptr || between->size() != 2) {
        return fail("link" + where(entry)
                    + ": between wants two regions, e.g. [\"eu-west\", \"us-east\"]");
      }
      link_spec l;
      l.a = (*between)[0].value_or(std::string{});
      l.b = (*between)[1].value_or(std::string{});
      if (regions.count(l.a) == 0 || regions.count(l.b) == 0 || l.a == l.b) {
        return fail("link" + where(entry) + ": between names \"" + l.a + "\" and \"" + l.b
                    + "\": two different regions of cluster.regions");
      }
      auto rtt = (*t)["rtt_ms"].value_or(int64_t{0});
      auto jitter = (*t)["jitter_ms"].value_or(int64_t{0});
      if (rtt < 0 || rtt > 20'000 || jitter < 0 || jitter > 10'000) {
        return fail("link" + where(entry) + ": rtt_ms wants 0..20000 and jitter_ms 0..10000");
      }
      l.rtt_ms = static_cast<uint32_t>(rtt);
      l.jitter_ms = static_cast<uint32_t>(jitter);
      for (auto& other : s.links) {
        if ((other.a == l.a && other.b == l.b) || (other.a == l.b && other.b == l.a)) {
          return fail("link" + where(entry) + ": " + l.a + " - " + l.b + " is given twice");
        }
      }
      s.links.push_back(l);
    }
  }
  auto* phases = doc["phase"].as_array();
  if (phases == nullptr || phases->empty()) {
    return fail("no [[phase]]");
  }
  for (auto& entry : *phases) {
    auto* t = entry.as_table();
    if (t == nullptr) {
      return fail("[[phase]] must be tables");
    }
    auto& pt = *t;
    phase p;
    auto kind = pt["kind"].value<std::string>();
    if (!kind) {
      return fail("phase" + where(entry) + ": kind missing");
    }
    bool known = false;
    for (auto& x : kinds) {
      if (*kind == x.name) {
        p.kind = x.kind;
        known = true;
      }
    }
    if (!known) {
      return fail("phase" + where(entry) + ": unknown kind \"" + *kind
                  + "\" (ramp, steady, spike, kill, stall, partition, wan, storm, recovery, "
                    "cpu_thief, leave, join, disk_full)");
    }
    p.name = pt["name"].value_or(*kind);
    p.seconds = pt["seconds"].value_or(p.seconds);
    p.viewers = pt["viewers"].value_or(p.viewers);
    p.factor = pt["factor"].value_or(p.kind == phase_kind::cpu_thief ? 0.0 : p.factor);
    p.share = pt["share"].value_or(p.share);
    p.ramp_s = pt["ramp_s"].value_or(p.ramp_s);
    p.leave_s = pt["leave_s"].value_or(p.ramp_s);
    p.node = pt["node"].value_or(p.node);
    p.restart_after_s = pt["restart_after_s"].value_or(p.restart_after_s);
    p.stall_s = pt["stall_s"].value_or(p.stall_s);
    p.full_s = pt["full_s"].value_or(p.full_s);
    p.updates_per_s = pt["updates_per_s"].value_or(p.updates_per_s);
    p.delay_ms = pt["delay_ms"].value_or(p.delay_ms);
    p.jitter_ms = pt["jitter_ms"].value_or(p.jitter_ms);
    if (auto* groups = pt["groups"].as_array()) {
      for (auto& g : *groups) {
        std::vector<std::string> group;
        if (auto* members = g.as_array()) {
          for (auto& m : *members) {
            auto name = m.value_or(std::string{});
            if (names.count(name) == 0 && regions.count(name) != 0) {
              for (uint32_t i = 0; i < s.nodes; ++i) { // a region: its nodes
                if (s.node_regions[i] == name) {
                  group.push_back(node_name(i));
                }
              }
              continue;
            }
            group.push_back(name);
          }
        }
        p.groups.push_back(group);
      }
    }
    if (p.seconds <= 0 || p.seconds > 3600) {
      return fail("phase " + p.name + where(entry) + ": seconds wants (0, 3600]");
    }
    if (p.kind == phase_kind::kill || p.kind == phase_kind::stall || p.kind == phase_kind::leave
        || p.kind == phase_kind::join || p.kind == phase_kind::disk_full) {
      if (names.count(p.node) != 0) {
        p.nodes = {p.node};
      } else if (regions.count(p.node) != 0) {
        for (uint32_t i = 0; i < s.nodes; ++i) {
          if (s.node_regions[i] == p.node) {
            p.nodes.push_back(node_name(i));
          }
        }
      } else {
        return fail("phase " + p.name + where(entry) + ": node \"" + p.node
                    + "\" is not one of the cluster's nodes (node-a ...) or regions");
      }
      if (p.nodes.size() == s.nodes && p.kind != phase_kind::join) {
        return fail("phase " + p.name + where(entry) + ": \"" + p.node
                    + "\" is every node: the viewers would have nowhere to go");
      }
    }
    if (p.kind == phase_kind::partition) {
      std::set<std::string> seen;
      for (auto& g : p.groups) {
        for (auto& m : g) {
          if (names.count(m) == 0 || !seen.insert(m).second) {
            return fail("phase " + p.name + where(entry) + ": groups name \"" + m
                        + "\", not a node or region of the cluster, or named twice");
          }
        }
      }
      if (p.groups.size() < 2) {
        return fail("phase " + p.name + where(entry)
                    + ": groups wants at least two groups of nodes, e.g. [[\"node-a\"], "
                      "[\"node-b\", \"node-c\"]]");
      }
    }
    if (p.kind == phase_kind::wan
        && (p.delay_ms > 10'000 || p.jitter_ms > 10'000 || p.delay_ms + p.jitter_ms == 0)) {
      return fail("phase " + p.name + where(entry)
                  + ": delay_ms and jitter_ms want 0..10000, not both 0");
    }
    if (p.kind == phase_kind::spike && (p.factor < 1 || p.factor > 100)) {
      return fail("phase " + p.name + where(entry) + ": factor wants 1..100");
    }
    if (p.kind == phase_kind::cpu_thief && (p.share <= 0 || p.share > 1)) {
      return fail("phase " + p.name + where(entry) + ": share wants (0, 1] of the machine's CPU");
    }
    if (p.kind == phase_kind::cpu_thief && (p.factor < 0 || p.factor > 100)) {
      return fail("phase " + p.name + where(entry) + ": factor wants 0 (unchanged) or up to 100");
    }
    if (p.kind == phase_kind::kill && p.restart_after_s >= p.seconds) {
      return fail("phase " + p.name + where(entry) + ": restart_after_s must end within the phase");
    }
    if (p.kind == phase_kind::stall && p.stall_s >= p.seconds) {
      return fail("phase " + p.name + where(entry) + ": stall_s must end within the phase");
    }
    if (p.kind == phase_kind::disk_full && (p.full_s <= 0 || p.full_s >= p.seconds)) {
      return fail("phase " + p.name + where(entry) + ": full_s must end within the phase");
    }
    s.phases.push_back(std::move(p));
  }
  if (auto* chaos = doc["chaos"].as_table()) {
    auto& ct = *chaos;
    s.chaos.present = true;
    auto seed = ct["seed"].value_or(int64_t{1});
    auto faults = ct["faults"].value_or(int64_t{20});
    s.chaos.gap_s = ct["gap_s"].value_or(s.chaos.gap_s);
    if (seed < 0 || faults < 1 || faults > 500 || s.chaos.gap_s < 0 || s.chaos.gap_s > 600) {
      return fail("chaos: seed wants >= 0, faults 1..500, gap_s 0..600");
    }
    s.chaos.seed = static_cast<uint64_t>(seed);
    s.chaos.faults = static_cast<uint32_t>(faults);
    if (auto* ks = ct["kinds"].as_array()) {
      for (auto& k : *ks) {
        auto name = k.value_or(std::string{});
        std::optional<phase_kind> found;
        for (auto pk :
             {phase_kind::kill, phase_kind::stall, phase_kind::partition, phase_kind::wan,
              phase_kind::spike, phase_kind::cpu_thief, phase_kind::storm, phase_kind::disk_full}) {
          if (name == to_string(pk)) {
            found = pk;
          }
        }
        if (!found) {
          return fail("chaos.kinds: \"" + name
                      + "\" is not a fault kind (kill, stall, partition, wan, spike, "
                        "cpu_thief, storm, disk_full)");
        }
        s.chaos.kinds.push_back(*found);
      }
    }
    if (s.nodes < 2) {
      return fail("chaos wants at least two nodes");
    }
    add_chaos_phases(s, s.chaos);
  }
  // Which nodes run when: every node from the start unless its first phase is a join; a
  // leave needs the node running and another one left; a join needs it not running; a kill
  // or stall needs it running.
  std::vector<bool> running(s.nodes);
  for (uint32_t i = 0; i < s.nodes; ++i) {
    running[i] = s.starts(i);
  }
  if (std::count(running.begin(), running.end(), true) == 0) {
    return fail("every node starts in a join phase: the viewers would have nowhere to go");
  }
  for (auto& p : s.phases) {
    for (auto& name : p.nodes) {
      uint32_t i = 0;
      while (node_name(i) != name) {
        ++i;
      }
      auto here = p.kind == phase_kind::join ? !running[i] : bool{running[i]};
      if (!here) {
        return fail("phase " + p.name + ": " + name
                    + (p.kind == phase_kind::join ? " is running already (join starts a node "
                                                    "that left or has not started)"
                                                  : " is not running then (it left, or starts "
                                                    "in a later join)"));
      }
      if (p.kind == phase_kind::join || p.kind == phase_kind::leave) {
        running[i] = p.kind == phase_kind::join;
      }
    }
    if (std::count(running.begin(), running.end(), true) == 0) {
      return fail("phase " + p.name
                  + " leaves no node running: the viewers would have nowhere "
                    "to go");
    }
  }
  if (s.autoscale.orchestrate) {
    if (auto why = s.enable_autoscale(); !why.empty()) {
      return fail(why);
    }
  }
  return s;
}

void add_chaos_phases(scenario& s, const chaos_spec& c) {
  std::mt19937_64 rng{c.seed};
  auto uniform = [&](double lo, double hi) {
    return std::round((lo + (hi - lo) * std::uniform_real_distribution<double>{0, 1}(rng)) * 10)
           / 10;
  };
  auto pick = [&](size_t n) {
    return static_cast<size_t>(rng() % n);
  };
  auto kinds = c.kinds;
  if (kinds.empty()) {
    kinds = {phase_kind::kill,  phase_kind::stall,     phase_kind::partition, phase_kind::wan,
             phase_kind::spike, phase_kind::cpu_thief, phase_kind::storm};
  }
  // Nodes that run from the start and do not leave: a fault needs its node up.
  std::vector<uint32_t> up;
  for (uint32_t i = 0; i < s.nodes; ++i) {
    if (s.starts(i) && s.runs_at_end(i)) {
      up.push_back(i);
    }
  }
  for (uint32_t f = 1; f <= c.faults; ++f) {
    phase p;
    p.kind = kinds[pick(kinds.size())];
    char number[8];
    std::snprintf(number, sizeof(number), "%02u", f);
    std::string what = to_string(p.kind);
    switch (p.kind) {
    case phase_kind::kill:
    case phase_kind::stall:
    case phase_kind::disk_full:
      // One node, and how long its fault lasts; the phase runs a few seconds past it.
      p.node = node_name(up[pick(up.size())]);
      p.nodes = {p.node};
      if (p.kind == phase_kind::kill) {
        p.restart_after_s = uniform(2, 5);
        p.seconds = p.restart_after_s + 4;
      } else if (p.kind == phase_kind::stall) {
        p.stall_s = uniform(1, 4);
        p.seconds = p.stall_s + 3;
      } else {
        p.full_s = uniform(3, 6);
        p.seconds = p.full_s + 4;
      }
      what += "-" + p.node;
      break;
    case phase_kind::partition: {
      // Two non-empty groups: shuffle, then cut at a random point.
      std::vector<uint32_t> order = up;
      std::shuffle(order.begin(), order.end(), rng);
      auto cut = 1 + pick(order.size() - 1);
      p.groups.resize(2);
      for (size_t k = 0; k < order.size(); ++k) {
        p.groups[k < cut ? 0 : 1].push_back(node_name(order[k]));
      }
      p.seconds = uniform(5, 12);
      for (auto& m : p.groups[0]) {
        what += "-" + m;
      }
      break;
    }
    case phase_kind::wan:
      p.delay_ms = static_cast<uint32_t>(uniform(10, 80));
      p.jitter_ms = static_cast<uint32_t>(uniform(0, 40));
      p.seconds = uniform(6, 12);
      break;
    case phase_kind::spike:
      p.factor = uniform(2, 3);
      p.ramp_s = 2;
      p.leave_s = 2;
      p.seconds = 8;
      break;
    case phase_kind::cpu_thief:
      p.share = uniform(0.2, 0.4);
      p.factor = 0;
      p.seconds = uniform(6, 10);
      break;
    case phase_kind::storm:
      p.updates_per_s = uniform(20, 50);
      p.seconds = 8;
      break;
    default:
      break;
    }
    p.name = "chaos-" + std::string{number} + "-" + what;
    s.phases.push_back(std::move(p));
    phase gap;
    gap.kind = phase_kind::steady;
    gap.name = "chaos-" + std::string{number} + "-after";
    gap.seconds = c.gap_s;
    s.phases.push_back(std::move(gap));
  }
  phase last;
  last.kind = phase_kind::recovery;
  last.name = "chaos-recovery";
  last.seconds = std::max(10.0, c.gap_s);
  s.phases.push_back(std::move(last));
}

std::map<std::string, std::vector<uint32_t>> scenario::nodes_by_region() const {
  std::map<std::string, std::vector<uint32_t>> out;
  for (uint32_t i = 0; i < nodes; ++i) {
    out[region_of(i)].push_back(i);
  }
  return out;
}

phase_kind scenario::kind_of(const std::string& name) const {
  for (auto& p : phases) {
    if (p.name == name) {
      return p.kind;
    }
  }
  return phase_kind::steady;
}

std::vector<uint32_t> scenario::region_peers(uint32_t i) const {
  std::vector<uint32_t> out;
  for (uint32_t j = 0; j < nodes; ++j) {
    if (region_of(j) == region_of(i)) {
      out.push_back(j);
    }
  }
  return out;
}

std::string scenario::enable_autoscale() {
  if (!autoscale.present) {
    return "--autoscale wants an [autoscale] section (its targets; config/soak/README.md)";
  }
  for (auto& p : phases) {
    if (p.kind == phase_kind::join || p.kind == phase_kind::leave) {
      return "phase " + p.name
             + ": with --autoscale the controller starts and stops nodes, "
               "not join or leave phases";
    }
  }
  autoscale.on = true;
  return {};
}

bool scenario::starts(uint32_t i) const {
  if (autoscale.on) {
    // Each region's first min_nodes nodes; the others are the orchestrator's to start.
    auto peers = region_peers(i);
    auto at = std::find(peers.begin(), peers.end(), i) - peers.begin();
    return static_cast<uint32_t>(at) < autoscale.min_nodes;
  }
  auto name = node_name(i);
  for (auto& p : phases) {
    if (std::find(p.nodes.begin(), p.nodes.end(), name) != p.nodes.end()) {
      return p.kind != phase_kind::join;
    }
  }
  return true;
}

bool scenario::runs_at_end(uint32_t i) const {
  auto name = node_name(i);
  auto runs = starts(i);
  for (auto& p : phases) {
    if (std::find(p.nodes.begin(), p.nodes.end(), name) != p.nodes.end()) {
      if (p.kind == phase_kind::join || p.kind == phase_kind::leave) {
        runs = p.kind == phase_kind::join;
      }
    }
  }
  return runs;
}

} // namespace sv::soak
