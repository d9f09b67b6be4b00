#pragma once

// Internal to soak/ (not an interface): the processes and network of one soak run. The node
// processes from generated configs, the driver process and its line protocol, network
// namespaces for partitions, the CPU thief, and the wait for a cluster to form. Every
// process started here is stopped by its owner's destructor.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <vector>

#include "actors/analytics/events.hpp"
#include "actors/analytics/history_store.hpp"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/io/middleman.hpp"
#include "runtime/cluster/client.hpp"
#include "runtime/cluster/membership.hpp"
#include "runtime/node/node.hpp"
#include "runtime/util/process.hpp"
#include "runtime/wire/message_types.hpp"
#include "soak/report.hpp"

#include "soak/scenario.hpp"
#include "soak/wan_mesh.hpp"

namespace sv::soak {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
namespace fs = std::filesystem;

/// Set by SIGINT/SIGTERM: every wait of a run ends early.
extern std::atomic<bool> interrupted;

// A child process with its output in a log file (or a pipe).
struct child {
  pid_t pid = -1;
  bool stopped = false; // SIGSTOPped
  bool leaving = false; // SIGTERMed by a leave phase, not exited yet
  std::chrono::steady_clock::time_point leave_start{};
};

// The options of a child whose output goes to `log` (appended), with optional pipes.
inline process::spawn_options logged_to(std::string log, int stdin_fd = -1, int stdout_fd = -1) {
  process::spawn_options o;
  o.log = std::move(log);
  o.stdin_fd = stdin_fd;
  o.stdout_fd = stdout_fd;
  return o;
}

using process::wait_for;

// Where the nodes run: all on 127.0.0.1, or (for a partition phase of a scenario without
// WAN relays, as root) each in a network namespace of its own, on a bridge in the root
// namespace where the driver and this process stay. A partition is a set of blackhole
// routes inside the namespaces (both directions). WAN latency comes from the relays of
// wan_mesh.hpp (this machine's kernel has no netem).
class network {
public:
  network() = default;
  network(const network&) = delete;
  network& operator=(const network&) = delete;
  ~network() {
    teardown();
  }

  // Namespaces for `nodes` nodes when `wanted`; otherwise (or when that fails) loopback,
  // with the reason in why().
  void setup(uint32_t nodes, bool wanted, const std::string& log) {
    log_ = log;
    if (!wanted) {
      return;
    }
    if (::geteuid() != 0) {
      why_ = "network namespaces need root";
      return;
    }
    for (auto* p : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"}) {
      if (::access(p, X_OK) == 0) {
        ip_ = p;
        break;
      }
    }
    if (ip_.empty()) {
      why_ = "the ip command (iproute2) is missing";
      return;
    }
    auto tag = std::to_string(::getpid() % 100000);
    subnet_ = "10.231." + std::to_string(::getpid() % 250) + ".";
    bridge_ = "svbr" + tag;
    bool ok = run(ip_ + " link add " + bridge_ + " type bridge")
              && run(ip_ + " addr add " + subnet_ + "1/24 dev " + bridge_)
              && run(ip_ + " link set " + bridge_ + " up");
    for (uint32_t i = 0; ok && i < nodes; ++i) {
      auto ns = "svsoak" + tag + "-" + std::to_string(i);
      auto veth = "svv" + tag + "-" + std::to_string(i);
      namespaces_.push_back(ns);
      ok = run(ip_ + " netns add " + ns)
           && run(ip_ + " link add " + veth + " type veth peer name eth0 netns " + ns)
           && run(ip_ + " link set " + veth + " master " + bridge_ + " up")
           && run(ip_ + " -n " + ns + " addr add " + host(i) + "/24 dev eth0")
           && run(ip_ + " -n " + ns + " link set eth0 up")
           && run(ip_ + " -n " + ns + " link set lo up");
    }
    if (!ok) {
      why_ = "setting up network namespaces failed (see network.log)";
      teardown();
      subnet_.clear();
    }
  }

  bool namespaces() const {
    return !namespaces_.empty();
  }
  const std::string& why() const {
    return why_;
  }

  std::string host(uint32_t i) const {
    return subnet_.empty() ? std::string{"127.0.0.1"} : subnet_ + std::to_string(10 + i);
  }

  // `args` run inside node i's namespace.
  std::vector<std::string> wrap(uint32_t i, std::vector<std::string> args) const {
    if (!namespaces()) {
      return args;
    }
    std::vector<std::string> out{ip_, "netns", "exec", namespaces_[i]};
    out.insert(out.end(), args.begin(), args.end());
    return out;
  }

  // Cuts every node of one group off from every node of the others. False on a failure.
  bool partition(const std::vector<std::vector<uint32_t>>& groups) {
    bool ok = true;
    for (size_t g = 0; g < groups.size(); ++g) {
      for (size_t h = 0; h < groups.size(); ++h) {
        if (g == h) {
          continue;
        }
        for (auto a : groups[g]) {
          for (auto b : groups[h]) {
            auto route = "blackhole " + host(b) + "/32";
            ok = run(ip_ + " -n " + namespaces_[a] + " route add " + route) && ok;
            routes_.emplace_back(a, route);
          }
        }
      }
    }
    return ok;
  }

  void heal() {
    for (auto& [a, route] : routes_) {
      run(ip_ + " -n " + namespaces_[a] + " route del " + route);
    }
    routes_.clear();
  }

private:
  bool run(const std::string& cmd) {
    std::ofstream{log_, std::ios::app} << "$ " << cmd << "\n";
    return std::system((cmd + " >>'" + log_ + "' 2>&1").c_str()) == 0;
  }

  void teardown() {
    heal();
    for (auto& ns : namespaces_) {
      run(ip_ + " netns del " + ns);
    }
    namespaces_.clear();
    if (!bridge_.empty()) {
      run(ip_ + " link del " + bridge_);
      bridge_.clear();
    }
  }

  std::string ip_, subnet_, bridge_, log_, why_;
  std::vector<std::string> namespaces_;
  std::vector<std::pair<uint32_t, std::string>> routes_;
};

struct cluster_procs {
  const scenario& sc;
  const network& net;
  const wan_mesh& wan;
  std::string dir, node_bin;
  std::vector<child> nodes;

  cluster_procs(const scenario& s, const network& n, const wan_mesh& w, std::string d,
                std::string bin)
      : sc(s), net(n), wan(w), dir(std::move(d)), node_bin(std::move(bin)), nodes(s.nodes) {}

  ~cluster_procs() {
    for (auto& n : nodes) {
      if (n.pid > 0) {
        ::kill(n.pid, SIGCONT);
        ::kill(n.pid, SIGKILL);
        int st = 0;
        ::waitpid(n.pid, &st, 0);
      }
    }
  }

  // Prometheus can scrape the nodes during a run: HOST:(base_port + 100 + i)/metrics.
  uint16_t metrics_port(uint32_t i) const {
    return static_cast<uint16_t>(sc.base_port + 100 + i);
  }

  std::string config_path(uint32_t i) const {
    return dir + "/nodes/" + node_name(i) + ".toml";
  }

  // viewers.protocol "http": the nodes' token key, which the driver mints tokens with.
  std::string token_key_path() const {
    return dir + "/nodes/jwt.key";
  }

  void write_configs() const {
    fs::create_directories(dir + "/nodes");
    if (sc.protocol == "http") {
      std::random_device rd; // a fresh key per run
      std::ofstream key{token_key_path()};
      for (int k = 0; k < 48; ++k) {
        key << "0123456789abcdef"[rd() % 16];
      }
      key << "\n";
    }
    for (uint32_t i = 0; i < sc.nodes; ++i) {
      std::ofstream f{config_path(i)};
      f << "# generated by streamverse-soak for scenario \"" << sc.name << "\"\n"
        << "[node]\nname = \"" << node_name(i) << "\"\ndata_dir = \"" << dir << "/nodes/"
        << node_name(i) << "\"\nscheduler_threads = " << sc.scheduler_threads << "\n";
      if (!sc.region_of(i).empty()) {
        f << "region = \"" << sc.region_of(i) << "\"\n";
      }
      f << "\n"
        << "[cluster]\nbind = \"" << net.host(i) << "\"\nport = " << sc.base_port + i
        << "\nseeds = [";
      bool first = true;
      for (uint32_t j = 0; j < sc.nodes; ++j) {
        if (j != i) {
          f << (first ? "" : ", ") << "\"" << net.host(j) << ":" << sc.base_port + j << "\"";
          first = false;
        }
      }
      f << "]\n";
      if (wan.active()) { // every other node through its relay
        f << "dial_via = { ";
        first = true;
        for (uint32_t j = 0; j < sc.nodes; ++j) {
          if (j != i) {
            f << (first ? "" : ", ") << "\"" << net.host(j) << ":" << sc.base_port + j
              << "\" = \"127.0.0.1:" << wan.via(i, j) << "\"";
            first = false;
          }
        }
        f << " }\n";
      }
      f << "heartbeat_interval_ms = 500\nconnection_timeout_ms = 3000\nseed_retry_ms = 200\n\n"
        << "[metrics]\nbind = \"" << net.host(i) << "\"\nport = " << metrics_port(i)
        << "\n\n[sessions]\nidle_timeout_ms = " << 3 * sc.heartbeat_ms + 10'000
        << "\n\n[analytics]\npartitions = " << sc.partitions << "\n\n"
        << "[log]\nlevel = \"warn\"\nstatus_interval_ms = 0\n";
      if (sc.protocol == "http") { // the player API the driver's viewers use
        f << "\n[http]\nbind = \"" << net.host(i) << "\"\nport = " << sc.http_port(i)
          << "\ntoken_key_file = \"" << token_key_path() << "\"\n";
      }
      if (sc.autoscale.present) { // the scaling signal's targets; max: the region's slots
        auto& a = sc.autoscale;
        f << "\n[scale]\nsessions_per_node = " << a.sessions_per_node
          << "\ntarget_utilization_pct = " << a.target_utilization_pct
          << "\ntolerance_pct = " << a.tolerance_pct << "\nmin_nodes = " << a.min_nodes
          << "\nmax_nodes = " << sc.region_peers(i).size()
          << "\ndown_stabilization_s = " << a.down_stabilization_s << "\n";
      }
    }
  }

  void start(uint32_t i) {
    nodes[i].pid = process::spawn(net.wrap(i, {node_bin, "--config", config_path(i)}),
                                  logged_to(dir + "/nodes/" + node_name(i) + ".log"));
    nodes[i].stopped = false;
  }

  void kill_node(uint32_t i) {
    if (nodes[i].pid > 0) {
      ::kill(nodes[i].pid, SIGKILL);
      int st = 0;
      ::waitpid(nodes[i].pid, &st, 0);
      nodes[i].pid = -1;
    }
  }

  // SIGTERM: a graceful leave. The node hands over what it holds, then exits by itself
  // (reap_leaving).
  void leave_node(uint32_t i) {
    if (nodes[i].pid > 0) {
      ::kill(nodes[i].pid, SIGTERM);
      nodes[i].leaving = true;
      nodes[i].leave_start = steady::now();
    }
  }

  bool leaving(uint32_t i) const {
    return nodes[i].leaving;
  }

  // Nodes that were leaving and are gone now, with how long they took and whether they
  // exited by themselves with status 0 (one still there after `kill_after` is SIGKILLed).
  struct left_node {
    uint32_t index = 0;
    double seconds = 0;
    bool clean = false;
  };
  std::vector<left_node> reap_leaving(std::chrono::seconds kill_after) {
    std::vector<left_node> out;
    for (uint32_t i = 0; i < nodes.size(); ++i) {
      auto& n = nodes[i];
      if (!n.leaving || n.pid <= 0) {
        continue;
      }
      int st = 0;
      auto took = std::chrono::duration<double>(steady::now() - n.leave_start).count();
      auto r = ::waitpid(n.pid, &st, WNOHANG);
      if (r == n.pid) {
        out.push_back({i, took, WIFEXITED(st) && WEXITSTATUS(st) == 0});
      } else if (took > static_cast<double>(kill_after.count())) {
        ::kill(n.pid, SIGKILL);
        ::waitpid(n.pid, &st, 0);
        out.push_back({i, took, false});
      } else {
        continue;
      }
      n.pid = -1;
      n.leaving = false;
    }
    return out;
  }

  void stall(uint32_t i, bool on) {
    if (nodes[i].pid > 0) {
      ::kill(nodes[i].pid, on ? SIGSTOP : SIGCONT);
      nodes[i].stopped = on;
    }
  }

  // SIGTERM to all, then waits (SIGKILL after 20 s). False when one had to be killed or
  // exited with an error.
  bool stop_all() {
    bool clean = true;
    for (auto& n : nodes) {
      if (n.pid > 0) {
        ::kill(n.pid, SIGCONT);
        ::kill(n.pid, SIGTERM);
      }
    }
    for (auto& n : nodes) {
      if (n.pid <= 0) {
        continue;
      }
      int st = 0;
      if (!wait_for(n.pid, 20s, st)) {
        ::kill(n.pid, SIGKILL);
        ::waitpid(n.pid, &st, 0);
        clean = false;
      } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        clean = false;
      }
      n.pid = -1;
    }
    return clean;
  }

  // A process of node i exists (it may be SIGSTOPped or leaving).
  bool alive(uint32_t i) const {
    return nodes[i].pid > 0;
  }

  // Started, not killed, not stopped.
  bool running(uint32_t i) const {
    return nodes[i].pid > 0 && !nodes[i].stopped;
  }

  // Exited on its own (a crash)?
  bool died(uint32_t i) {
    if (nodes[i].pid <= 0) {
      return false;
    }
    int st = 0;
    if (::waitpid(nodes[i].pid, &st, WNOHANG) == nodes[i].pid) {
      nodes[i].pid = -1;
      return true;
    }
    return false;
  }
};

struct driver_proc {
  pid_t pid = -1;
  int to = -1;   // its stdin
  int from = -1; // its stdout
  std::string buffer;

  ~driver_proc() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      int st = 0;
      ::waitpid(pid, &st, 0);
    }
    if (to >= 0) {
      ::close(to);
    }
    if (from >= 0) {
      ::close(from);
    }
  }

  bool start(const std::string& bin, const std::string& scenario_file, const std::string& dir,
             uint64_t viewers, const std::string& hosts, bool autoscale) {
    int in[2], out[2];
    if (::pipe(in) != 0 || ::pipe(out) != 0) {
      return false;
    }
    std::vector<std::string> args{bin,        "drive", "--scenario", scenario_file,
                                  "--report", dir,     "--hosts",    hosts};
    if (viewers > 0) {
      args.push_back("--viewers");
      args.push_back(std::to_string(viewers));
    }
    if (autoscale) {
      args.push_back("--autoscale"); // the same nodes run from the start
    }
    pid = process::spawn(args, logged_to(dir + "/driver.log", in[0], out[1]));
    ::close(in[0]);
    ::close(out[1]);
    to = in[1];
    from = out[0];
    ::fcntl(from, F_SETFL, O_NONBLOCK);
    return pid > 0;
  }

  void send(const std::string& line) {
    auto s = line + "\n";
    if (to >= 0 && ::write(to, s.data(), s.size()) < 0) {
      std::cerr << "streamverse-soak: the driver is gone\n";
    }
  }

  // Complete lines available now.
  std::vector<std::string> lines() {
    char buf[8192];
    ssize_t n = 0;
    while ((n = ::read(from, buf, sizeof(buf))) > 0) {
      buffer.append(buf, static_cast<size_t>(n));
    }
    std::vector<std::string> out;
    size_t start = 0;
    for (auto i = buffer.find('\n'); i != std::string::npos; i = buffer.find('\n', start)) {
      out.push_back(buffer.substr(start, i - start));
      start = i + 1;
    }
    buffer.erase(0, start);
    return out;
  }
};

inline std::string read_file(const std::string& path) {
  std::ifstream f{path};
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Every node of the scenario sees all of them up (bounded).
inline bool wait_formed(caf::actor_system& sys, const scenario& sc, const network& net,
                        std::chrono::seconds within) {
  auto end = steady::now() + within;
  size_t starting = 0;
  for (uint32_t i = 0; i < sc.nodes; ++i) {
    starting += sc.starts(i) ? 1 : 0;
  }
  while (steady::now() < end && !interrupted) {
    bool all = true;
    for (uint32_t i = 0; i < sc.nodes && all; ++i) {
      if (!sc.starts(i)) {
        continue; // joins later
      }
      auto ms =
          cluster::fetch_members(sys, net.host(i), static_cast<uint16_t>(sc.base_port + i), 500ms);
      size_t up = 0;
      if (ms) {
        for (auto& m : *ms) {
          up += m.state == cluster::member_state::up ? 1 : 0;
        }
      }
      all = ms && up == starting;
    }
    if (all) {
      return true;
    }
    std::this_thread::sleep_for(200ms);
  }
  return false;
}

// The noisy neighbour: processes that burn `share` of the machine's CPU (each busy for
// part of every 10 ms), until stopped. Children of the controller, killed with it.
class cpu_thief {
public:
  void start(double share) {
    stop();
    auto cores = std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
    auto want = share * static_cast<double>(cores); // cores' worth of work
    auto procs = static_cast<int>(std::ceil(want));
    auto duty = want / procs;
    for (int i = 0; i < procs; ++i) {
      auto pid = fork();
      if (pid == 0) {
        // Only async-signal-safe calls from here on (the parent has threads).
        const long period_ns = 10'000'000;
        auto busy_ns = static_cast<long>(duty * static_cast<double>(period_ns));
        for (;;) {
          timespec t0{};
          clock_gettime(CLOCK_MONOTONIC, &t0);
          for (;;) {
            timespec t{};
            clock_gettime(CLOCK_MONOTONIC, &t);
            auto spent = (t.tv_sec - t0.tv_sec) * 1'000'000'000L + (t.tv_nsec - t0.tv_nsec);
            if (spent >= busy_ns) {
              break;
            }
          }
          if (busy_ns < period_ns) {
            timespec rest{0, period_ns - busy_ns};
            nanosleep(&rest, nullptr);
          }
        }
      }
      if (pid > 0) {
        pids_.push_back(pid);
      }
    }
  }

  void stop() {
    for (auto p : pids_) {
      ::kill(p, SIGKILL);
      waitpid(p, nullptr, 0);
    }
    pids_.clear();
  }

  ~cpu_thief() {
    stop();
  }

private:
  std::vector<pid_t> pids_;
};

} // namespace sv::soak
