#include "soak/controller.hpp"

#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <csignal>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/io/middleman.hpp"
#include "runtime/cluster/client.hpp"
#include "runtime/node/node.hpp"
#include "soak/checks.hpp"
#include "soak/fleet.hpp"
#include "soak/report.hpp"

namespace sv::soak {

std::atomic<bool> interrupted{false};

namespace {

extern "C" void on_signal(int) {
  interrupted = true;
}

struct controller_config : caf::actor_system_config {
  controller_config() {
    cluster::configure_client(*this);
    set("scheduler.max-threads", size_t{1});
    set("work-stealing.moderate-poll-attempts", size_t{10}); // little idle polling
    set("logger.console-verbosity", caf::atom("quiet"));
  }
};

// A scheduled fault step inside a phase.
struct step {
  double at_s;
  std::function<void()> run;
};

void print_progress(const sample& s, bool tty, double total_s) {
  std::ostringstream os;
  os.setf(std::ios::fixed);
  os.precision(1);
  os << "[" << s.t << "/" << total_s << " s " << s.phase << "] sessions "
     << static_cast<uint64_t>(s.sessions) << "/" << static_cast<uint64_t>(s.target)
     << "  critical p50/p99 " << s.p50_ms << "/" << s.p99_ms << " ms  level L" << s.level
     << "  shed " << static_cast<uint64_t>(s.overloaded) << "  events " << s.events_per_s << "/s";
  if (s.meta_p99_ms > 0) {
    os << "  metadata p99 " << s.meta_p99_ms << " ms";
  }
  if (tty) {
    std::cout << "\r" << os.str() << "\033[K" << std::flush;
  } else {
    std::cout << os.str() << "\n" << std::flush;
  }
}

// One run of a scenario: start (nodes, driver), the phases with a sample each second, the
// end (last acknowledgements, handoff, stop), then the checks and the report.
class soak_run {
public:
  soak_run(const run_options& o, scenario s) : o(o), sc(std::move(s)) {}

  int run() {
    if (auto rc = start(); rc != 0) {
      return rc;
    }
    for (auto& p : sc.phases) {
      if (interrupted || node_crashed) {
        break;
      }
      run_phase(p);
    }
    if (tty) {
      std::cout << "\n";
    }
    finish();
    return conclude();
  }

private:
  // Nodes from generated configs, the cluster formed, the driver ready; 2 on a failure.
  int start() {
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGPIPE, SIG_IGN);
    std::error_code ec;
    fs::remove_all(o.report_dir + "/nodes", ec);
    fs::create_directories(o.report_dir, ec);
    dir = fs::absolute(o.report_dir).lexically_normal().string();
    node_bin = o.bin_dir + "/streamverse-node";
    self_bin = o.bin_dir + "/streamverse-soak";
    for (auto* bin : {&node_bin, &self_bin}) {
      if (::access(bin->c_str(), X_OK) != 0) {
        std::cerr << "streamverse-soak: " << *bin << " is missing (build first: tools/build)\n";
        return 2;
      }
    }
    // Nodes linked through WAN relays when the scenario has regions, links or a wan phase
    // (partitions then cut relays); else network namespaces only for a partition phase.
    bool wanted = false;
    for (auto& p : sc.phases) {
      wanted = wanted || (p.kind == phase_kind::partition && !sc.relayed());
    }
    net.setup(sc.nodes, wanted, dir + "/network.log");
    try {
      wan.setup(sc, net.host(0));
    } catch (const std::exception& e) {
      std::cerr << "streamverse-soak: cannot start the WAN relays: " << e.what() << "\n";
      return 2;
    }
    cluster.emplace(sc, net, wan, dir, node_bin);
    cluster->write_configs();
    mount_data_disks();
    std::cout << "soak: scenario \"" << sc.name << "\": " << sc.nodes << " nodes on " << net.host(0)
              << ":" << sc.base_port << ".."
              << (net.namespaces() ? " (a network namespace each)" : "")
              << (wan.active() ? " (linked through " + std::to_string(wan.size()) + " WAN relays)"
                               : std::string{})
              << ", " << sc.viewers << " viewers, " << sc.total_seconds()
              << " s of phases; report in " << dir << "\n";
    for (auto& l : sc.links) {
      std::cout << "soak: link " << l.a << " - " << l.b << ": RTT " << l.rtt_ms << " ms, jitter "
                << l.jitter_ms << " ms each way\n";
    }
    for (uint32_t i = 0; i < sc.nodes; ++i) {
      if (sc.starts(i)) {
        cluster->start(i); // the others start in a join phase
      }
    }
    if (!wait_formed(sys, sc, net, 30s)) {
      std::cerr << "streamverse-soak: the cluster did not form within 30 s (logs in " << dir
                << "/nodes)\n";
      return 2;
    }
    auto scenario_abs = fs::absolute(o.scenario_file).string();
    std::string hosts;
    for (uint32_t i = 0; i < sc.nodes; ++i) {
      hosts += (i ? "," : "") + net.host(i);
    }
    if (!driver.start(self_bin, scenario_abs, dir, o.viewers, hosts, sc.autoscale.on)) {
      std::cerr << "streamverse-soak: cannot start the driver\n";
      return 2;
    }
    // The driver stores the catalog's titles first, then says READY.
    {
      bool ready = false;
      auto end = steady::now() + 180s;
      while (!ready && !interrupted && steady::now() < end) {
        for (auto& line : driver.lines()) {
          ready = ready || line == "READY";
        }
        int st = 0;
        if (::waitpid(driver.pid, &st, WNOHANG) == driver.pid) {
          driver.pid = -1;
          break;
        }
        std::this_thread::sleep_for(50ms);
      }
      if (!ready) {
        std::cerr << "streamverse-soak: the driver did not get ready (see " << dir
                  << "/driver.log)\n";
        return 2;
      }
    }
    rep.scenario = sc.name;
    rep.scenario_file = o.scenario_file;
    rep.viewers = sc.viewers;
    rep.critical_bound_ms = sc.critical_p99_ms;
    tty = o.live && ::isatty(STDOUT_FILENO) != 0;
    t0 = steady::now();
    return 0;
  }

  double elapsed() const {
    return std::chrono::duration<double>(steady::now() - t0).count();
  }

  uint32_t index_of(const std::string& name) const {
    for (uint32_t i = 0; i < sc.nodes; ++i) {
      if (node_name(i) == name) {
        return i;
      }
    }
    return 0u;
  }

  // One second: the driver's line, every reachable node's metrics, the progress line.
  // One row per driver line (the driver's seconds); the nodes' figures of this moment go
  // with the newest row.
  void sample_second(const std::string& phase) {
    sample s;
    bool any = false;
    for (auto& line : driver.lines()) {
      if (line.rfind("S ", 0) != 0) {
        continue;
      }
      if (any) {
        s.level = rep.timeline.empty() ? 0 : rep.timeline.back().level;
        s.events_per_s = rep.timeline.empty() ? 0 : rep.timeline.back().events_per_s;
        rep.timeline.push_back(s);
      }
      any = true;
      s = sample{};
      s.t = elapsed();
      s.phase = phase;
      s.target = json_number(line, "target");
      s.sessions = json_number(line, "sessions");
      s.p50_ms = json_number(line, "p50_ms");
      s.p99_ms = json_number(line, "p99_ms");
      s.max_ms = json_number(line, "max_ms");
      s.hb_ok = json_number(line, "hb_ok");
      s.overloaded = json_number(line, "overloaded");
      s.to_down = json_number(line, "to_down");
      s.unaccounted = json_number(line, "unaccounted");
      s.meta_p99_ms = json_number(line, "meta_p99_ms");
      s.inval_p99_ms = json_number(line, "inval_p99_ms");
      s.stale_reads = json_number(line, "stale_reads");
    }
    if (!any) {
      return; // the driver's line for this second comes with the next tick
    }
    // Counters per node: a rate from each node that answered now and before (a restarted
    // node starts from zero again; a node that did not answer is left out this second).
    std::map<std::string, double> refused;
    for (uint32_t i = 0; i < sc.nodes; ++i) {
      if (!cluster->running(i)) {
        continue;
      }
      auto text = fetch_metrics(sys, net.host(i), static_cast<uint16_t>(sc.base_port + i), 300ms);
      if (!text) {
        continue;
      }
      s.level = std::max(s.level, metric_sum(*text, "sv_load_level"));
      desired[i] = metric_sum(*text, "sv_cluster_desired_nodes");
      auto stored = metric_sum(*text, "sv_analytics_stored_total");
      auto& [before, at] = last_stored[i];
      if (at > 0 && stored >= before && s.t > at) {
        s.events_per_s += (stored - before) / (s.t - at);
      }
      before = stored;
      at = s.t;
      for (auto& [cls, n] : metric_by_label(*text, "sv_flow_refused_total", "class")) {
        refused[node_name(i) + "/" + cls] = n;
      }
    }
    for (auto& [key, n] : refused) {
      auto cls = key.substr(key.find('/') + 1);
      auto before = last_refused.count(key) ? last_refused[key] : n;
      s.shed[cls] += std::max(0.0, n - before);
      last_refused[key] = n;
    }
    rep.timeline.push_back(s);
    if (o.live) {
      print_progress(s, tty, sc.total_seconds());
    }
  }

  // Starts phase `p`'s load or fault; the steps that end it, and a note for the report.
  std::vector<step> begin(const phase& p, std::string& note) {
    std::vector<step> steps;
    switch (p.kind) {
    case phase_kind::ramp:
      last_target = static_cast<double>(p.viewers > 0 ? p.viewers : sc.viewers);
      driver.send("viewers " + std::to_string(static_cast<uint64_t>(last_target)) + " "
                  + std::to_string(p.seconds));
      break;
    case phase_kind::steady:
      break;
    case phase_kind::spike: {
      auto peak = static_cast<uint64_t>(static_cast<double>(sc.viewers) * p.factor);
      driver.send("viewers " + std::to_string(peak) + " " + std::to_string(p.ramp_s));
      steps.push_back({p.seconds - 0.5, [this, p] {
                         driver.send("viewers " + std::to_string(sc.viewers) + " "
                                     + std::to_string(p.leave_s));
                       }});
      note = "x" + std::to_string(p.factor).substr(0, 4);
      break;
    }
    case phase_kind::kill: {
      // Only the nodes that run are killed and restarted: under --autoscale a region's
      // spare slots stay the orchestrator's.
      std::vector<std::string> killed;
      for (auto& name : p.nodes) {
        if (!cluster->alive(index_of(name)) || cluster->leaving(index_of(name))) {
          continue; // a spare slot, or a node leaving: not the kill's
        }
        driver.send("down " + name);
        cluster->kill_node(index_of(name));
        killed.push_back(name);
      }
      steps.push_back({p.restart_after_s, [this, killed] {
                         for (auto& name : killed) {
                           if (cluster->alive(index_of(name))) {
                             continue; // the orchestrator started it again already
                           }
                           cluster->start(index_of(name));
                           driver.send("up " + name);
                         }
                       }});
      std::string names;
      for (auto& k : killed) {
        names += (names.empty() ? "" : "+") + k;
      }
      note = killed.empty() ? p.node + ": no node running to kill"
                            : names + " SIGKILL, restarted after "
                                  + std::to_string(p.restart_after_s).substr(0, 4) + " s";
      break;
    }
    case phase_kind::leave: {
      // New viewers go elsewhere from now; the node hands over and exits (reaped in
      // run_phase, which notes how long it took).
      for (auto& name : p.nodes) {
        driver.send("down " + name);
        cluster->leave_node(index_of(name));
      }
      note = p.node + " SIGTERM (graceful leave)";
      break;
    }
    case phase_kind::join: {
      for (auto& name : p.nodes) {
        cluster->start(index_of(name));
      }
      for (auto& name : p.nodes) {
        driver.send("up " + name); // the driver links it once it answers
      }
      note = p.node + " started";
      break;
    }
    case phase_kind::stall: {
      for (auto& name : p.nodes) {
        driver.send("stall " + name);
        cluster->stall(index_of(name), true);
      }
      steps.push_back({p.stall_s, [this, p] {
                         for (auto& name : p.nodes) {
                           cluster->stall(index_of(name), false);
                           driver.send("resume " + name);
                         }
                       }});
      note = p.node + " SIGSTOP for " + std::to_string(p.stall_s).substr(0, 4) + " s";
      break;
    }
    case phase_kind::disk_full: {
      std::vector<uint32_t> filled;
      for (auto& name : p.nodes) {
        auto i = index_of(name);
        if (disks.mounted.count(i) == 0) {
          continue;
        }
        if (auto why = fill_disk(i); !why.empty()) {
          note = "skipped: " + why;
          break;
        }
        filled.push_back(i);
      }
      if (filled.empty()) {
        auto why =
            disks.why_not.empty() ? std::string{"no data directory of its own"} : disks.why_not;
        note = note.empty() ? "skipped: " + why : note;
        skipped.push_back(p.name + " (" + why + ")");
        break;
      }
      steps.push_back({p.full_s, [this, filled] {
                         for (auto i : filled) {
                           std::error_code ec;
                           fs::remove(disks.mounted.at(i) + "/filler", ec);
                         }
                       }});
      note = p.node + "'s data directory full for " + std::to_string(p.full_s).substr(0, 4) + " s";
      break;
    }
    case phase_kind::partition: {
      if (!wan.active() && !net.namespaces()) {
        note = "skipped: " + net.why();
        skipped.push_back(p.name + " (" + net.why() + ")");
        break;
      }
      std::vector<std::vector<uint32_t>> groups;
      for (auto& g : p.groups) {
        groups.emplace_back();
        for (auto& name : g) {
          groups.back().push_back(index_of(name));
        }
      }
      if (wan.active()) {
        wan.partition(groups);
      } else if (!net.partition(groups)) {
        note = "partition incomplete (see network.log) ";
      }
      steps.push_back({p.seconds - 0.01, [this] {
                         if (wan.active()) {
                           wan.heal();
                         } else {
                           net.heal();
                         }
                       }});
      for (size_t g = 0; g < p.groups.size(); ++g) {
        for (size_t k = 0; k < p.groups[g].size(); ++k) {
          note += (k ? "+" : g ? " | " : "") + p.groups[g][k];
        }
      }
      break;
    }
    case phase_kind::wan: {
      // relayed() holds for any scenario with a wan phase: the relays are there.
      wan.add({std::chrono::milliseconds{p.delay_ms}, std::chrono::milliseconds{p.jitter_ms}});
      steps.push_back({p.seconds - 0.01, [this] {
                         wan.restore();
                       }});
      note = std::to_string(p.delay_ms) + " ms + up to " + std::to_string(p.jitter_ms)
             + " ms of jitter added each way on every link between nodes";
      break;
    }
    case phase_kind::storm:
      driver.send("storm " + std::to_string(p.updates_per_s));
      steps.push_back({p.seconds - 0.01, [this] {
                         driver.send("storm 0");
                       }});
      note = std::to_string(static_cast<int>(p.updates_per_s)) + " updates/s";
      break;
    case phase_kind::recovery:
      driver.send("viewers " + std::to_string(sc.viewers) + " 3");
      break;
    case phase_kind::cpu_thief: {
      thief.start(p.share);
      if (p.factor > 0) {
        auto peak = static_cast<uint64_t>(static_cast<double>(sc.viewers) * p.factor);
        driver.send("viewers " + std::to_string(peak) + " " + std::to_string(p.ramp_s));
        steps.push_back({p.seconds - 0.5, [this, p] {
                           driver.send("viewers " + std::to_string(sc.viewers) + " "
                                       + std::to_string(p.leave_s));
                         }});
      }
      steps.push_back({p.seconds - 0.01, [this] {
                         thief.stop();
                       }});
      note = "a process burns " + std::to_string(static_cast<int>(p.share * 100)) + "% of the CPU"
             + (p.factor > 0 ? ", viewers x" + std::to_string(p.factor).substr(0, 4) : "");
      break;
    }
    }
    return steps;
  }

  // A tmpfs of 256 MiB on the data directory of every node a disk_full phase names (root).
  void mount_data_disks() {
    std::set<uint32_t> wanted;
    for (auto& p : sc.phases) {
      if (p.kind == phase_kind::disk_full) {
        for (auto& name : p.nodes) {
          wanted.insert(index_of(name));
        }
      }
    }
    for (auto i : wanted) {
      auto path = dir + "/nodes/" + node_name(i);
      std::error_code ec;
      fs::create_directories(path, ec);
      if (::mount("tmpfs", path.c_str(), "tmpfs", 0, "size=256m") != 0) {
        disks.why_not = std::string{"cannot mount a tmpfs for a data directory (needs root): "}
                        + std::strerror(errno);
        return;
      }
      disks.mounted[i] = path;
    }
  }

  // Fills node i's data directory (its tmpfs) with one file until the disk refuses more
  // (at most 256 MiB); "" or why not.
  std::string fill_disk(uint32_t i) {
    auto path = disks.mounted.at(i) + "/filler";
    std::ofstream f{path, std::ios::binary};
    std::vector<char> chunk(1 << 20, 0);
    for (int n = 0; n < 257 && f; ++n) {
      f.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
      f.flush();
    }
    return f ? "the disk never filled" : "";
  }

  // When the trigger of phase `p` (started at `start`) ends: the recovery check measures
  // from there.
  void note_trigger(const phase& p, double start, const std::string& note) {
    switch (p.kind) {
    case phase_kind::spike:
      triggers.push_back({p.name, start, start + p.seconds + p.leave_s});
      break;
    case phase_kind::cpu_thief:
      triggers.push_back({p.name, start, start + p.seconds + (p.factor > 0 ? p.leave_s : 0)});
      break;
    case phase_kind::kill:
      triggers.push_back({p.name, start, start + p.restart_after_s});
      break;
    case phase_kind::leave:
    case phase_kind::join:
      triggers.push_back({p.name, start, start});
      break;
    case phase_kind::stall:
      triggers.push_back({p.name, start, start + p.stall_s});
      break;
    case phase_kind::disk_full:
      if (note.rfind("skipped", 0) != 0) {
        triggers.push_back({p.name, start, start + p.full_s});
      }
      break;
    case phase_kind::partition:
    case phase_kind::wan:
    case phase_kind::storm:
      if (note.rfind("skipped", 0) != 0) {
        triggers.push_back({p.name, start, start + p.seconds});
      }
      break;
    default:
      break;
    }
  }

  void run_phase(const phase& p) {
    auto start = elapsed();
    phase_start.push_back(start);
    driver.send("phase " + p.name);
    std::string note;
    auto steps = begin(p, note);
    note_trigger(p, start, note);
    phase_row row;
    row.name = p.name;
    row.kind = to_string(p.kind);
    row.note = note;
    row.start_s = start;
    row.seconds = p.seconds;
    rep.phases.push_back(row);
    size_t next_step = 0;
    auto next_second = start + 1;
    while (elapsed() - start < p.seconds && !interrupted) {
      auto at = elapsed() - start;
      while (next_step < steps.size() && steps[next_step].at_s <= at) {
        steps[next_step++].run();
      }
      if (elapsed() >= next_second) {
        sample_second(p.name);
        if (sc.autoscale.on) {
          orchestrate();
        }
        next_second += 1;
      }
      reap_left();
      for (uint32_t i = 0; i < sc.nodes; ++i) {
        if (cluster->running(i) && !cluster->leaving(i) && cluster->died(i)) {
          std::cerr << "\nstreamverse-soak: " << node_name(i) << " exited on its own (log: " << dir
                    << "/nodes/" << node_name(i) << ".log)\n";
          node_crashed = true;
        }
      }
      if (node_crashed) {
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
    while (next_step < steps.size()) {
      steps[next_step++].run(); // a phase cut short still ends its faults
    }
  }

  // --autoscale: per region, the highest sv_cluster_desired_nodes its running nodes gave
  // this second against how many run; start a spare node of the region when it wants more,
  // SIGTERM (a graceful leave) its last started one when it wants fewer, at most one
  // action per region per cooldown_s, never below min_nodes.
  void orchestrate() {
    auto by_region = sc.nodes_by_region();
    for (auto& [region, members] : by_region) {
      std::vector<uint32_t> up, spare;
      double want = 0;
      for (auto i : members) {
        if (cluster->running(i) && !cluster->leaving(i)) {
          up.push_back(i);
          want = std::max(want, desired[i]);
        } else if (!cluster->running(i) && !cluster->leaving(i)) {
          spare.push_back(i);
        }
      }
      auto& last = last_action[region];
      if (want <= 0 || elapsed() - last < sc.autoscale.cooldown_s) {
        continue;
      }
      auto label = region.empty() ? std::string{"cluster"} : region;
      if (want > static_cast<double>(up.size()) && !spare.empty()) {
        auto n = std::min(spare.size(), static_cast<size_t>(want) - up.size());
        for (size_t k = 0; k < n; ++k) {
          cluster->start(spare[k]);
          driver.send("up " + node_name(spare[k]));
          scale_events.push_back(
              {elapsed(), label, "start " + node_name(spare[k]), want, up.size() + k + 1});
        }
        last = elapsed();
      } else if (want < static_cast<double>(up.size()) && up.size() > sc.autoscale.min_nodes) {
        auto i = up.back();
        driver.send("down " + node_name(i));
        cluster->leave_node(i);
        scale_events.push_back({elapsed(), label, "leave " + node_name(i), want, up.size() - 1});
        last = elapsed();
      }
    }
  }

  // Per region with spare slots, from the orchestrator's own actions (a kill is not a
  // scale-down): nodes at the start -> the most it ran -> after its last action. Passes
  // when every such region grew past its start and stopped a node again after its peak.
  std::pair<bool, std::string> scaled_by_region() const {
    auto by_region = sc.nodes_by_region();
    bool ok = true, any = false;
    std::string detail;
    for (auto& [region, members] : by_region) {
      size_t starting = 0;
      for (auto i : members) {
        starting += sc.starts(i) ? 1 : 0;
      }
      if (starting == members.size()) {
        continue; // no spare slot: nothing to scale
      }
      any = true;
      auto label = region.empty() ? std::string{"cluster"} : region;
      size_t peak = starting, last = starting;
      double peak_at = -1;
      for (auto& e : scale_events) {
        if (e.region == label && e.action.rfind("start", 0) == 0 && e.nodes > peak) {
          peak = e.nodes;
          peak_at = e.t;
        }
      }
      bool grew = peak > starting, came_down = false;
      for (auto& e : scale_events) {
        if (e.region == label) {
          last = e.nodes;
          came_down = came_down || (grew && e.t >= peak_at && e.action.rfind("leave", 0) == 0);
        }
      }
      ok = ok && grew && came_down;
      detail += (detail.empty() ? "" : ", ") + label + " " + std::to_string(starting) + " -> "
                + std::to_string(peak) + " -> " + std::to_string(last)
                + (grew ? (came_down ? "" : " (never fewer after the peak)") : " (never grew)");
    }
    return {ok && any, any ? detail : std::string{"no region has a spare slot"}};
  }

  // Nodes that left (leave phases) and have exited: noted with the time they took.
  void reap_left() {
    for (auto& l : cluster->reap_leaving(60s)) {
      left.push_back(l);
      rep.notes.push_back(node_name(l.index) + " left in " + std::to_string(l.seconds).substr(0, 4)
                          + " s" + (l.clean ? "" : " (not cleanly: SIGKILLed or exit status)"));
    }
  }

  // The driver's last acknowledgements and checks, the handoff of partitions, the stop.
  void finish() {
    // The end: the driver stops its load, has every analytics batch acknowledged and checks
    // the catalog replicas.
    std::cout << "soak: phases done; waiting for the driver's last acknowledgements and checks\n"
              << std::flush;
    for (auto pending = left_pending(); std::count(pending.begin(), pending.end(), true) != 0;
         pending = left_pending()) {
      reap_left(); // a leave in the last phase (bounded: reap_leaving kills after 60 s)
      std::this_thread::sleep_for(50ms);
    }
    driver.send("finish");
    int status = 0;
    driver_done = wait_for(driver.pid, 150s, status);
    if (driver_done) {
      driver.pid = -1;
    }
    // Partitions move to their owners (handoff): wait until no node holds a batch of a
    // partition another node owns (sv_analytics_unowned_batches), twice in a row, at most
    // 60 s. Until then a batch may sit in two files (resent while views differed).
    handoff_done = false;
    int calm = 0;
    auto settle_end = steady::now() + 60s;
    while (!handoff_done && steady::now() < settle_end) {
      double sum = 0;
      bool all = true;
      for (uint32_t i = 0; i < sc.nodes; ++i) {
        if (!cluster->running(i)) {
          continue; // left: what it held was handed over (checked from its files)
        }
        auto text = fetch_metrics(sys, net.host(i), static_cast<uint16_t>(sc.base_port + i), 1s);
        all = all && text;
        sum += text ? metric_sum(*text, "sv_analytics_unowned_batches") : 0;
      }
      calm = all && sum == 0 ? calm + 1 : 0;
      handoff_done = calm >= 2;
      if (!handoff_done) {
        std::this_thread::sleep_for(1s);
      }
    }
    for (uint32_t i = 0; i < sc.nodes; ++i) {
      running_at_end.push_back(cluster->running(i));
    }
    clean_stop = cluster->stop_all();
    rep.seconds = elapsed();
  }

  // The checks, the notes, the report; the exit code.
  int conclude() {
    run_outcome out;
    out.load = read_file(dir + "/driver-load.json");
    out.meta = read_file(dir + "/driver-meta.json");
    out.analytics = check_analytics(dir);
    out.driver_done = driver_done;
    out.handoff_done = handoff_done;
    add_checks(rep, out, sc, triggers);
    if (!clean_stop) {
      rep.notes.push_back("a node did not stop cleanly on SIGTERM (see its log)");
    }
    // Nodes that left for good hold no analytics batch: they handed every one over before
    // they exited (read from their files, not from what they said).
    std::string gone, kept;
    std::set<uint32_t> away;
    for (auto& l : left) {
      if (l.index < running_at_end.size() && !running_at_end[l.index]) {
        away.insert(l.index);
      }
    }
    for (auto i : away) {
      auto name = node_name(i);
      auto held = out.analytics.batches_by_node[name];
      gone += (gone.empty() ? "" : ", ") + name;
      if (held != 0) {
        kept += (kept.empty() ? "" : ", ") + name + " " + std::to_string(held);
      }
    }
    if (sc.autoscale.on) {
      // The orchestrator followed the signal: more nodes under load, fewer after it.
      std::string events;
      for (auto& e : scale_events) {
        std::ostringstream os;
        os << e.region << " at " << static_cast<int>(e.t) << " s: " << e.action << " (desired "
           << e.desired << ", " << e.nodes << " running)";
        rep.notes.push_back("autoscale: " + os.str());
      }
      auto [ok, detail] = scaled_by_region();
      rep.checks.push_back(
          {"autoscale: nodes started under load and stopped after it in every "
           "region with spare slots",
           ok, detail + " (" + std::to_string(scale_events.size()) + " actions; notes list them)"});
    }
    if (!gone.empty()) {
      rep.checks.push_back({"every node that left handed its analytics batches over", kept.empty(),
                            "left for good: " + gone + "; batches still in their files: "
                                + (kept.empty() ? std::string{"none"} : kept)});
    }
    if (node_crashed) {
      rep.checks.push_back({"no node crashed", false, "a node exited on its own: see nodes/*.log"});
    }
    if (interrupted) {
      rep.checks.push_back({"the run completed", false, "interrupted by a signal"});
    }
    for (auto& name : skipped) {
      rep.notes.push_back("phase " + name + " skipped");
    }
    if (sc.chaos.present) {
      rep.notes.push_back("chaos: seed " + std::to_string(sc.chaos.seed) + ", "
                          + std::to_string(sc.chaos.faults)
                          + " faults (the phases named chaos-NN-...); the same seed replays "
                            "the same schedule");
    }
    if (wan.active()) {
      auto t = wan.totals();
      rep.notes.push_back("WAN relays: " + std::to_string(wan.size())
                          + " (one per ordered pair of "
                            "nodes), "
                          + std::to_string(t.connections) + " connections relayed, "
                          + std::to_string(t.refused) + " refused while cut, "
                          + std::to_string(t.bytes / 1024) + " KiB passed");
    }
    for (auto& note : write_report(rep, dir)) {
      std::cerr << "streamverse-soak: " << note << "\n";
    }
    std::cout << "soak: " << (rep.passed() ? "PASSED" : "FAILED") << "\n";
    for (auto& c : rep.checks) {
      std::cout << "  " << (c.passed ? "pass " : "FAIL ") << c.name << ": " << c.detail << "\n";
    }
    std::cout << "soak: report " << dir << "/report.md (json, timeline, plots beside it)\n";
    return rep.passed() ? 0 : 1;
  }

  const run_options& o;
  scenario sc;
  std::string dir, node_bin, self_bin;
  controller_config cfg;
  caf::actor_system sys{cfg};
  network net;
  wan_mesh wan; // outlives the node processes (declared before them)
  std::optional<cluster_procs> cluster;
  driver_proc driver;
  report rep;
  bool tty = false;
  steady::time_point t0;
  std::map<std::string, double> last_refused;
  std::map<uint32_t, std::pair<double, double>> last_stored; // node -> (stored, when)
  double last_target = 0;
  std::vector<std::string> skipped;
  // disk_full: each such node's data directory is a tmpfs of its own, mounted before the
  // node starts and lazily unmounted when the controller ends ("" when mounting failed).
  struct data_disks {
    std::map<uint32_t, std::string> mounted;
    std::string why_not;
    ~data_disks() {
      for (auto& [i, path] : mounted) {
        ::umount2(path.c_str(), MNT_DETACH);
      }
    }
  } disks;
  std::vector<double> phase_start;
  std::vector<trigger> triggers;
  cpu_thief thief;
  bool node_crashed = false;
  std::vector<cluster_procs::left_node> left; // nodes that left, in order
  // --autoscale
  struct scale_event {
    double t;
    std::string region, action;
    double desired;
    size_t nodes; // running in the region after it
  };
  std::map<uint32_t, double> desired; // sv_cluster_desired_nodes per node, last read
  std::map<std::string, double> last_action;
  std::vector<scale_event> scale_events;
  std::vector<bool> running_at_end;

  std::vector<bool> left_pending() const {
    std::vector<bool> out;
    for (uint32_t i = 0; i < sc.nodes; ++i) {
      out.push_back(cluster->leaving(i));
    }
    return out;
  }
  bool driver_done = false;
  bool handoff_done = false;
  bool clean_stop = false;
};

} // namespace

int run_soak(const run_options& o) {
  std::string error;
  auto loaded = load_scenario(o.scenario_file, error);
  if (!loaded) {
    std::cerr << "streamverse-soak: " << error << "\n";
    return 2;
  }
  auto sc = *loaded;
  if (o.viewers > 0) {
    sc.viewers = o.viewers;
  }
  if (o.autoscale) {
    if (auto why = sc.enable_autoscale(); !why.empty()) {
      std::cerr << "streamverse-soak: " << o.scenario_file << ": " << why << "\n";
      return 2;
    }
  }
  soak_run r{o, std::move(sc)};
  return r.run();
}

int find_max(const run_options& o, int runs) {
  std::string error;
  auto loaded = load_scenario(o.scenario_file, error);
  if (!loaded) {
    std::cerr << "streamverse-soak: " << error << "\n";
    return 2;
  }
  uint64_t lo = 0, hi = 0;
  uint64_t n = o.viewers > 0 ? o.viewers : loaded->viewers;
  std::ofstream md;
  std::vector<std::pair<uint64_t, int>> results;
  for (int run = 1; run <= runs && !interrupted; ++run) {
    auto opts = o;
    opts.viewers = n;
    opts.report_dir = o.report_dir + "/run-" + std::to_string(run);
    std::cout << "find-max: run " << run << " with " << n << " viewers\n" << std::flush;
    auto rc = run_soak(opts);
    if (rc == 2) {
      return 2;
    }
    results.emplace_back(n, rc);
    if (rc == 0) {
      lo = std::max(lo, n);
    } else {
      hi = hi == 0 ? n : std::min(hi, n);
    }
    if (hi == 0) {
      n *= 2;
    } else if (hi - lo <= std::max<uint64_t>(1, hi / 20)) {
      break; // within 5%
    } else {
      n = (lo + hi) / 2;
    }
  }
  std::ofstream js{o.report_dir + "/find-max.json"};
  js << "{\"scenario\":\"" << loaded->name << "\",\"max_passing_viewers\":" << lo
     << ",\"lowest_failing_viewers\":" << hi << ",\"runs\":[";
  for (size_t i = 0; i < results.size(); ++i) {
    js << (i ? "," : "") << "{\"viewers\":" << results[i].first
       << ",\"passed\":" << (results[i].second == 0 ? "true" : "false") << ",\"report\":\"run-"
       << i + 1 << "/report.md\"}";
  }
  js << "]}\n";
  std::ofstream m{o.report_dir + "/find-max.md"};
  m << "# find-max: " << loaded->name << "\n\nLargest viewer count with every invariant passing: **"
    << lo << "**" << (hi > 0 ? " (fails at " + std::to_string(hi) + ")" : " (no failing run)")
    << ".\n\n| run | viewers | result | report |\n|---|---|---|---|\n";
  for (size_t i = 0; i < results.size(); ++i) {
    m << "| " << i + 1 << " | " << results[i].first << " | "
      << (results[i].second == 0 ? "pass" : "fail") << " | [run-" << i + 1 << "](run-" << i + 1
      << "/report.md) |\n";
  }
  std::cout << "find-max: " << lo << " viewers pass; summary " << o.report_dir << "/find-max.md\n";
  return lo > 0 ? 0 : 1;
}

} // namespace sv::soak
