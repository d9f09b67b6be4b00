#include "soak/controller.hpp"

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

namespace sv::soak {

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
namespace fs = std::filesystem;

std::atomic<bool> interrupted{false};

extern "C" void on_signal(int) {
  interrupted = true;
}

struct controller_config : caf::actor_system_config {
  controller_config() {
    load<caf::io::middleman>();
    wire::register_message_types(*this);
    set("scheduler.max-threads", size_t{1});
    set("work-stealing.moderate-poll-attempts", size_t{10}); // little idle polling
    set("logger.console-verbosity", caf::atom("quiet"));
  }
};

// A child process with its output in a log file (or a pipe).
struct child {
  pid_t pid = -1;
  bool stopped = false; // SIGSTOPped
};

// The options of a child whose output goes to `log` (appended), with optional pipes.
process::spawn_options logged_to(std::string log, int stdin_fd = -1, int stdout_fd = -1) {
  process::spawn_options o;
  o.log = std::move(log);
  o.stdin_fd = stdin_fd;
  o.stdout_fd = stdout_fd;
  return o;
}

using process::wait_for;

// Where the nodes run: all on 127.0.0.1, or (for partition and wan phases, as root) each
// in a network namespace of its own, on a bridge in the root namespace where the driver
// and this process stay. A partition is a set of blackhole routes inside the namespaces
// (both directions); WAN latency is tc netem on each namespace's interface.
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

  // Adds `ms` of latency to everything each node sends; the reason when that fails.
  std::string delay(uint32_t ms) {
    for (auto& ns : namespaces_) {
      if (!run(ip_ + " netns exec " + ns + " tc qdisc add dev eth0 root netem delay "
               + std::to_string(ms) + "ms")) {
        undelay();
        return "tc netem failed (this kernel may lack sch_netem; see network.log)";
      }
      delayed_.push_back(ns);
    }
    return {};
  }

  void undelay() {
    for (auto& ns : delayed_) {
      run(ip_ + " netns exec " + ns + " tc qdisc del dev eth0 root");
    }
    delayed_.clear();
  }

private:
  bool run(const std::string& cmd) {
    std::ofstream{log_, std::ios::app} << "$ " << cmd << "\n";
    return std::system((cmd + " >>'" + log_ + "' 2>&1").c_str()) == 0;
  }

  void teardown() {
    undelay();
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
  std::vector<std::string> namespaces_, delayed_;
  std::vector<std::pair<uint32_t, std::string>> routes_;
};

struct cluster_procs {
  const scenario& sc;
  const network& net;
  std::string dir, node_bin;
  std::vector<child> nodes;

  cluster_procs(const scenario& s, const network& n, std::string d, std::string bin)
      : sc(s), net(n), dir(std::move(d)), node_bin(std::move(bin)), nodes(s.nodes) {}

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

  void write_configs() const {
    fs::create_directories(dir + "/nodes");
    for (uint32_t i = 0; i < sc.nodes; ++i) {
      std::ofstream f{config_path(i)};
      f << "# generated by streamverse-soak for scenario \"" << sc.name << "\"\n"
        << "[node]\nname = \"" << node_name(i) << "\"\ndata_dir = \"" << dir << "/nodes/"
        << node_name(i) << "\"\nscheduler_threads = " << sc.scheduler_threads << "\n\n"
        << "[cluster]\nbind = \"" << net.host(i) << "\"\nport = " << sc.base_port + i
        << "\nseeds = [";
      bool first = true;
      for (uint32_t j = 0; j < sc.nodes; ++j) {
        if (j != i) {
          f << (first ? "" : ", ") << "\"" << net.host(j) << ":" << sc.base_port + j << "\"";
          first = false;
        }
      }
      f << "]\nheartbeat_interval_ms = 500\nconnection_timeout_ms = 3000\nseed_retry_ms = 200\n\n"
        << "[metrics]\nbind = \"" << net.host(i) << "\"\nport = " << metrics_port(i)
        << "\n\n[sessions]\nidle_timeout_ms = " << 3 * sc.heartbeat_ms + 10'000
        << "\n\n[analytics]\npartitions = " << sc.partitions << "\n\n"
        << "[log]\nlevel = \"warn\"\nstatus_interval_ms = 0\n";
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
             uint64_t viewers, const std::string& hosts) {
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

std::string read_file(const std::string& path) {
  std::ifstream f{path};
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Every node of the scenario sees all of them up (bounded).
bool wait_formed(caf::actor_system& sys, const scenario& sc, const network& net,
                 std::chrono::seconds within) {
  auto end = steady::now() + within;
  while (steady::now() < end && !interrupted) {
    bool all = true;
    for (uint32_t i = 0; i < sc.nodes && all; ++i) {
      auto ms =
          cluster::fetch_members(sys, net.host(i), static_cast<uint16_t>(sc.base_port + i), 500ms);
      size_t up = 0;
      if (ms) {
        for (auto& m : *ms) {
          up += m.state == cluster::member_state::up ? 1 : 0;
        }
      }
      all = ms && up == sc.nodes;
    }
    if (all) {
      return true;
    }
    std::this_thread::sleep_for(200ms);
  }
  return false;
}

// A scheduled fault step inside a phase.
struct step {
  double at_s;
  std::function<void()> run;
};

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

// When a trigger (spike, fault, thief) ended, for the recovery invariant.
struct trigger {
  std::string name;
  double start_s = 0;
  double end_s = 0;
};

// How long after `t.end_s` the cluster was normal again: the first second from which on
// three seconds in a row had every node at L0 and a critical p99 within `bound_ms`
// (seconds without heartbeats answered count as normal only at L0); -1 when that never
// came before `until_s`.
double recovered_after(const std::vector<sample>& timeline, const trigger& t, double bound_ms,
                       double until_s) {
  int calm = 0;
  double first = -1;
  for (auto& s : timeline) {
    if (s.t < t.end_s) {
      continue;
    }
    if (s.t > until_s) {
      break;
    }
    auto normal = s.level < 0.5 && s.p99_ms <= bound_ms;
    if (!normal) {
      calm = 0;
      first = -1;
      continue;
    }
    if (calm++ == 0) {
      first = s.t;
    }
    if (calm == 3) {
      return std::max(0.0, first - 1 - t.end_s); // a sample covers the second before it
    }
  }
  return -1;
}

struct analytics_check {
  uint64_t acked_batches = 0, acked_events = 0, missing = 0, duplicates = 0, stored_driver = 0,
           unacked_present = 0, unacked_duplicates = 0, files = 0, other_events = 0,
           other_duplicates = 0;
  std::string error;
};

// Every driver event in every partition file of every node, against the acknowledged batches.
analytics_check check_analytics(const std::string& dir) {
  analytics_check c;
  std::unordered_map<uint64_t, uint32_t> acked; // sequence -> events
  {
    std::ifstream f{dir + "/acked-batches.tsv"};
    uint64_t seq = 0;
    uint32_t n = 0;
    while (f >> seq >> n) {
      acked[seq] = n;
      ++c.acked_batches;
      c.acked_events += n;
    }
  }
  std::unordered_map<uint64_t, uint8_t> seen; // seq << 20 | index -> times stored
  std::vector<uint64_t> other_ids;            // hashes of the node events' ids
  std::error_code ec;
  for (auto& node : fs::directory_iterator(dir + "/nodes", ec)) {
    auto adir = node.path() / "analytics";
    if (!fs::is_directory(adir)) {
      continue;
    }
    for (auto& f : fs::directory_iterator(adir)) {
      auto name = f.path().filename().string();
      if (name.rfind("partition-", 0) != 0 || f.path().extension() != ".db") {
        continue;
      }
      analytics::history_store h{f.path().string()};
      if (!h.error().empty()) {
        c.error = h.error();
        continue;
      }
      ++c.files;
      h.for_each([&](const analytics::event_view& e) {
        auto explicit_id = e.explicit_id();
        if (explicit_id.rfind("d:", 0) != 0) {
          // From the nodes' own sessions: each id ("<host>/<session>/<n>") at most once.
          ++c.other_events;
          other_ids.push_back(analytics::session_key_of(e.event_id()));
          return;
        }
        std::string id{explicit_id};
        auto colon = id.find(':', 2);
        auto seq = std::stoull(id.substr(2, colon - 2));
        auto index = std::stoull(id.substr(colon + 1));
        auto& n = seen[(seq << 20) | index];
        if (++n == 2) {
          ++(acked.count(seq) != 0 ? c.duplicates : c.unacked_duplicates);
        }
        ++c.stored_driver;
      });
    }
  }
  for (auto& [seq, n] : acked) {
    for (uint64_t i = 0; i < n; ++i) {
      if (seen.count((seq << 20) | i) == 0) {
        ++c.missing;
      }
    }
  }
  for (auto& [key, n] : seen) {
    if (acked.count(key >> 20) == 0) {
      ++c.unacked_present;
    }
  }
  std::sort(other_ids.begin(), other_ids.end());
  for (size_t i = 1; i < other_ids.size(); ++i) {
    c.other_duplicates += other_ids[i] == other_ids[i - 1] ? 1 : 0;
  }
  return c;
}

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
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGPIPE, SIG_IGN);
  std::error_code ec;
  fs::remove_all(o.report_dir + "/nodes", ec);
  fs::create_directories(o.report_dir, ec);
  auto dir = fs::absolute(o.report_dir).lexically_normal().string();
  auto node_bin = o.bin_dir + "/streamverse-node";
  auto self_bin = o.bin_dir + "/streamverse-soak";
  for (auto* bin : {&node_bin, &self_bin}) {
    if (::access(bin->c_str(), X_OK) != 0) {
      std::cerr << "streamverse-soak: " << *bin << " is missing (build first: tools/build)\n";
      return 2;
    }
  }
  controller_config cfg;
  caf::actor_system sys{cfg};
  // Network namespaces only when a phase needs them (partition, wan).
  bool wanted = false;
  for (auto& p : sc.phases) {
    wanted = wanted || p.kind == phase_kind::partition || p.kind == phase_kind::wan;
  }
  network net;
  net.setup(sc.nodes, wanted, dir + "/network.log");
  cluster_procs cluster{sc, net, dir, node_bin};
  cluster.write_configs();
  std::cout << "soak: scenario \"" << sc.name << "\": " << sc.nodes << " nodes on " << net.host(0)
            << ":" << sc.base_port << ".."
            << (net.namespaces() ? " (a network namespace each)" : "") << ", " << sc.viewers
            << " viewers, " << sc.total_seconds() << " s of phases; report in " << dir << "\n";
  for (uint32_t i = 0; i < sc.nodes; ++i) {
    cluster.start(i);
  }
  if (!wait_formed(sys, sc, net, 30s)) {
    std::cerr << "streamverse-soak: the cluster did not form within 30 s (logs in " << dir
              << "/nodes)\n";
    return 2;
  }
  driver_proc driver;
  auto scenario_abs = fs::absolute(o.scenario_file).string();
  std::string hosts;
  for (uint32_t i = 0; i < sc.nodes; ++i) {
    hosts += (i ? "," : "") + net.host(i);
  }
  if (!driver.start(self_bin, scenario_abs, dir, o.viewers, hosts)) {
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
  report rep;
  rep.scenario = sc.name;
  rep.scenario_file = o.scenario_file;
  rep.viewers = sc.viewers;
  rep.critical_bound_ms = sc.critical_p99_ms;
  bool tty = o.live && ::isatty(STDOUT_FILENO) != 0;
  auto t0 = steady::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(steady::now() - t0).count();
  };
  std::map<std::string, double> last_refused;
  std::map<uint32_t, std::pair<double, double>> last_stored; // node -> (stored, when)
  double last_target = 0;
  std::vector<std::string> skipped;
  auto index_of = [&](const std::string& name) {
    for (uint32_t i = 0; i < sc.nodes; ++i) {
      if (node_name(i) == name) {
        return i;
      }
    }
    return 0u;
  };
  std::vector<double> phase_start;
  std::vector<trigger> triggers;
  cpu_thief thief;
  bool node_crashed = false;
  // One second: the driver's line, every reachable node's metrics, the progress line.
  // One row per driver line (the driver's seconds); the nodes' figures of this moment go
  // with the newest row.
  auto sample_second = [&](const std::string& phase) {
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
      if (!cluster.running(i)) {
        continue;
      }
      auto text = fetch_metrics(sys, net.host(i), static_cast<uint16_t>(sc.base_port + i), 300ms);
      if (!text) {
        continue;
      }
      s.level = std::max(s.level, metric_sum(*text, "sv_load_level"));
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
  };

  for (auto& p : sc.phases) {
    if (interrupted || node_crashed) {
      break;
    }
    auto start = elapsed();
    phase_start.push_back(start);
    driver.send("phase " + p.name);
    std::vector<step> steps;
    std::string note;
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
      steps.push_back({p.seconds - 0.5, [&driver, &sc, p] {
                         driver.send("viewers " + std::to_string(sc.viewers) + " "
                                     + std::to_string(p.leave_s));
                       }});
      note = "x" + std::to_string(p.factor).substr(0, 4);
      break;
    }
    case phase_kind::kill: {
      auto i = index_of(p.node);
      driver.send("down " + p.node);
      cluster.kill_node(i);
      steps.push_back({p.restart_after_s, [&, i, p] {
                         cluster.start(i);
                         driver.send("up " + p.node);
                       }});
      note = p.node + " SIGKILL, restarted after " + std::to_string(p.restart_after_s).substr(0, 4)
             + " s";
      break;
    }
    case phase_kind::stall: {
      auto i = index_of(p.node);
      driver.send("stall " + p.node);
      cluster.stall(i, true);
      steps.push_back({p.stall_s, [&, i, p] {
                         cluster.stall(i, false);
                         driver.send("resume " + p.node);
                       }});
      note = p.node + " SIGSTOP for " + std::to_string(p.stall_s).substr(0, 4) + " s";
      break;
    }
    case phase_kind::partition: {
      if (!net.namespaces()) {
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
      if (!net.partition(groups)) {
        note = "partition incomplete (see network.log) ";
      }
      steps.push_back({p.seconds - 0.01, [&net] {
                         net.heal();
                       }});
      for (size_t g = 0; g < p.groups.size(); ++g) {
        for (size_t k = 0; k < p.groups[g].size(); ++k) {
          note += (k ? "+" : g ? " | " : "") + p.groups[g][k];
        }
      }
      break;
    }
    case phase_kind::wan: {
      auto why = net.namespaces() ? net.delay(p.delay_ms) : net.why();
      if (!why.empty()) {
        note = "skipped: " + why;
        skipped.push_back(p.name + " (" + why + ")");
        break;
      }
      steps.push_back({p.seconds - 0.01, [&net] {
                         net.undelay();
                       }});
      note = std::to_string(p.delay_ms) + " ms added to every packet a node sends";
      break;
    }
    case phase_kind::storm:
      driver.send("storm " + std::to_string(p.updates_per_s));
      steps.push_back({p.seconds - 0.01, [&driver] {
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
        steps.push_back({p.seconds - 0.5, [&driver, &sc, p] {
                           driver.send("viewers " + std::to_string(sc.viewers) + " "
                                       + std::to_string(p.leave_s));
                         }});
      }
      steps.push_back({p.seconds - 0.01, [&thief] {
                         thief.stop();
                       }});
      note = "a process burns " + std::to_string(static_cast<int>(p.share * 100)) + "% of the CPU"
             + (p.factor > 0 ? ", viewers x" + std::to_string(p.factor).substr(0, 4) : "");
      break;
    }
    }
    // When the trigger of this phase ends (the recovery invariant measures from there).
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
    case phase_kind::stall:
      triggers.push_back({p.name, start, start + p.stall_s});
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
        next_second += 1;
      }
      for (uint32_t i = 0; i < sc.nodes; ++i) {
        if (cluster.running(i) && cluster.died(i)) {
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
  if (tty) {
    std::cout << "\n";
  }
  // The end: the driver stops its load, has every analytics batch acknowledged and checks
  // the catalog replicas.
  std::cout << "soak: phases done; waiting for the driver's last acknowledgements and checks\n"
            << std::flush;
  driver.send("finish");
  int status = 0;
  bool driver_done = wait_for(driver.pid, 150s, status);
  if (driver_done) {
    driver.pid = -1;
  }
  // Partitions move to their owners (handoff): wait until no node holds a batch of a
  // partition another node owns (sv_analytics_unowned_batches), twice in a row, at most
  // 60 s. Until then a batch may sit in two files (resent while views differed).
  bool handoff_done = false;
  int calm = 0;
  auto settle_end = steady::now() + 60s;
  while (!handoff_done && steady::now() < settle_end) {
    double sum = 0;
    bool all = true;
    for (uint32_t i = 0; i < sc.nodes; ++i) {
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
  auto clean_stop = cluster.stop_all();
  rep.seconds = elapsed();

  // -- invariants --------------------------------------------------------------------
  auto load = read_file(dir + "/driver-load.json");
  auto meta = read_file(dir + "/driver-meta.json");
  auto ac = check_analytics(dir);
  auto n = [](double x) {
    return std::to_string(static_cast<uint64_t>(x));
  };
  {
    check c{"every acknowledged analytics event is in history exactly once", false, ""};
    c.passed = driver_done && !load.empty() && ac.missing == 0 && ac.duplicates == 0
               && ac.unacked_duplicates == 0 && ac.other_duplicates == 0 && ac.acked_events > 0
               && ac.error.empty() && handoff_done;
    c.detail =
        n(ac.acked_events) + " events in " + n(ac.acked_batches)
        + " acknowledged batches: " + n(ac.missing) + " missing, " + n(ac.duplicates)
        + " stored twice; " + n(ac.unacked_present)
        + " events of unacknowledged batches stored (allowed), " + n(ac.unacked_duplicates)
        + " of them twice; " + n(ac.other_events) + " events of the nodes' own sessions, "
        + n(ac.other_duplicates) + " stored twice; " + n(ac.files) + " partition files"
        + (handoff_done ? "" : "; partitions not all handed to their owners within 60 s")
        + (json_number(load, "unacked_batches") > 0
               ? "; " + n(json_number(load, "unacked_batches")) + " batches never acknowledged"
               : "")
        + (ac.error.empty() ? "" : "; " + ac.error);
    rep.checks.push_back(c);
  }
  {
    check c{"every catalog replica converged to the owners' versions", false, ""};
    auto titles = json_number(meta, "titles_checked");
    auto diverged = json_number(meta, "diverged", -1);
    c.passed = !meta.empty() && titles > 0 && diverged == 0;
    c.detail = n(titles) + " titles updated (" + n(json_number(meta, "updates")) + " updates), "
               + (diverged < 0 ? "no answer" : n(diverged)) + " differ between nodes";
    rep.checks.push_back(c);
  }
  {
    check c{"no cache served a version older than its fence", false, ""};
    auto stale = json_number(meta, "stale_reads", -1);
    c.passed = stale == 0;
    c.detail = n(json_number(meta, "traced")) + " traced updates read back through every node's "
               + "cache: " + (stale < 0 ? "no answer" : n(stale)) + " stale reads after the "
               + "node's catalog had the new version";
    rep.checks.push_back(c);
  }
  {
    check c{"critical p99 within the bound in every phase", true, ""};
    std::string worst;
    double worst_p99 = 0;
    for (auto& row : rep.phases) {
      auto i = load.find("{\"name\":\"" + row.name + "\"");
      if (i == std::string::npos) {
        continue;
      }
      auto part = load.substr(i, load.find("}}", i) - i);
      row.samples = json_number(part, "samples");
      row.p50_ms = json_number(part, "p50_ms");
      row.p99_ms = json_number(part, "p99_ms");
      row.p999_ms = json_number(part, "p999_ms");
      row.max_ms = json_number(part, "max_ms");
      row.hb_sent = json_number(part, "hb_sent");
      row.hb_ok = json_number(part, "hb_ok");
      row.overloaded = json_number(part, "overloaded") + json_number(part, "open_refused");
      row.to_down = json_number(part, "to_down");
      row.gone = json_number(part, "gone");
      row.unaccounted = json_number(part, "unaccounted");
      row.within_bound = row.p99_ms <= sc.critical_p99_ms;
      if (!row.within_bound) {
        c.passed = false;
      }
      if (row.p99_ms >= worst_p99) {
        worst_p99 = row.p99_ms;
        worst = row.name;
      }
    }
    for (auto& row : rep.phases) {
      double evs = 0, count = 0;
      for (auto& s : rep.timeline) {
        if (s.phase == row.name) {
          row.max_level = std::max(row.max_level, s.level);
          row.peak_sessions = std::max(row.peak_sessions, s.sessions);
          evs += s.events_per_s;
          ++count;
        }
      }
      row.events_per_s = count > 0 ? evs / count : 0;
    }
    c.passed = c.passed && !load.empty();
    std::ostringstream os;
    os.precision(3);
    os << "bound " << sc.critical_p99_ms << " ms; highest p99 " << worst_p99 << " ms (" << worst
       << "); heartbeats to a node while it was killed or stopped are not counted here";
    c.detail = os.str();
    rep.checks.push_back(c);
  }
  {
    check c{"every refused request was answered with overloaded", false, ""};
    auto unaccounted = json_number(load, "unaccounted", -1);
    c.passed = unaccounted == 0;
    c.detail = n(json_number(load, "hb_sent")) + " heartbeats and " + n(json_number(load, "opens"))
               + " opens: " + n(json_number(load, "overloaded") + json_number(load, "open_refused"))
               + " refused with overloaded, " + n(json_number(load, "to_down"))
               + " to a killed or stopped node, " + n(json_number(load, "gone"))
               + " to a session its node no longer had, "
               + (unaccounted < 0 ? "no answer from the driver" : n(unaccounted))
               + " unaccounted (no answer or another error)";
    rep.checks.push_back(c);
  }
  {
    // Back to normal within recovery_s after each trigger ends (no metastable state): the
    // degrader at L0 on every node and critical p99 within the steady bound. A trigger
    // followed by another one sooner is measured up to the next one's start.
    check c{"the cluster returns to normal within " + n(sc.recovery_s) + " s after each trigger",
            true, ""};
    std::ostringstream os;
    os << "steady bound " << sc.steady_p99_ms << " ms, L0:";
    double phases_end = rep.timeline.empty() ? 0 : rep.timeline.back().t + 1;
    for (size_t k = 0; k < triggers.size(); ++k) {
      auto& t = triggers[k];
      auto next_start = k + 1 < triggers.size() ? triggers[k + 1].start_s : phases_end;
      auto until = std::min(next_start, t.end_s + std::max(sc.recovery_s, 30.0));
      auto took = recovered_after(rep.timeline, t, sc.steady_p99_ms, until + 2);
      os << " " << t.name << " ";
      if (took < 0) {
        if (until - t.end_s < sc.recovery_s) {
          os << "n/a (next trigger " << static_cast<int>(until - t.end_s) << " s later);";
          continue;
        }
        os << "not within " << static_cast<int>(until - t.end_s) << " s;";
        c.passed = false;
        continue;
      }
      os << took << " s;";
      if (took > sc.recovery_s) {
        c.passed = false;
      }
    }
    if (triggers.empty()) {
      os << " no trigger in this scenario";
    }
    c.detail = os.str();
    rep.checks.push_back(c);
  }
  if (!clean_stop) {
    rep.notes.push_back("a node did not stop cleanly on SIGTERM (see its log)");
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
  rep.figures["metadata_visible_p50_ms"] = json_number(meta, "meta_p50_ms");
  rep.figures["metadata_visible_p99_ms"] = json_number(meta, "meta_p99_ms");
  rep.figures["invalidation_p50_ms"] = json_number(meta, "inval_p50_ms");
  rep.figures["invalidation_p99_ms"] = json_number(meta, "inval_p99_ms");
  rep.figures["metadata_updates"] = json_number(meta, "updates");
  rep.figures["metadata_refused"] = json_number(meta, "refused");
  rep.figures["metadata_not_propagated_in_5s"] = json_number(meta, "not_propagated");
  rep.figures["analytics_events_acked"] = static_cast<double>(ac.acked_events);
  rep.figures["analytics_events_from_node_sessions"] = static_cast<double>(ac.other_events);
  rep.figures["heartbeats_sent"] = json_number(load, "hb_sent");
  rep.figures["sessions_reopened_elsewhere"] = json_number(load, "reopened");
  double peak_events = 0, peak_sessions = 0;
  for (auto& s : rep.timeline) {
    peak_events = std::max(peak_events, s.events_per_s);
    peak_sessions = std::max(peak_sessions, s.sessions);
  }
  rep.figures["events_per_s_peak"] = peak_events;
  rep.figures["sessions_peak"] = peak_sessions;
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
