// sv-bench-cluster: metadata propagation, invalidation and failure detection on a cluster
// of separate streamverse-node processes on loopback.
//
//   build/bin/sv-bench-cluster --nodes N --seconds S [--rate U] [--titles T]
//
// Starts N nodes (default settings except ports and data directories), watches every
// node's catalog, sends U metadata updates per second (round robin through the nodes; each
// goes to its title's owner), and measures for each update the time from sending it to
// the moment every replica has stored it (a replica raises the title's cache fence in the
// same step, so this is also the invalidation latency of the per-node view caches). Then it
// SIGKILLs the last node and measures how long node 0 takes to stop counting it as up.
// Raw-CAF baseline in the same run: N processes with one plain CAF actor each, which the
// driver messages directly at the same rate; each acknowledges to the driver (the
// transport's fan-out latency, the floor for any propagation over CAF).
//
// Prints one line per phase, then one JSON object as its last line.

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "actors/content/catalog.hpp"
#include "actors/content/content_types.hpp"
#include "bench/support/flags.hpp"
#include "bench/support/percentile.hpp"
#include "caf/all.hpp"
#include "caf/io/all.hpp"
#include "runtime/cluster/client.hpp"
#include "runtime/cluster/endpoint.hpp"
#include "runtime/util/process.hpp"
#include "runtime/wire/message_types.hpp"
#include "runtime/wire/protobuf.hpp"

namespace {

using namespace std::chrono;
using changed_msg = streamverse::v1::MetadataChanged;
using update_msg = streamverse::v1::MetadataUpdate;

struct options {
  size_t nodes = 3;
  double seconds = 10;
  double rate = 1000;
  size_t titles = 1000;
  int64_t base_port = 17400;
  std::string mode;
  int64_t port = 0; // --mode raw-node
};

int64_t now_ns() {
  return duration_cast<nanoseconds>(steady_clock::now().time_since_epoch()).count();
}

struct config : caf::actor_system_config {
  config() {
    load<caf::io::middleman>();
    sv::wire::register_message_types(*this);
    sv::content::register_message_types(*this);
    set("scheduler.max-threads", size_t{1});
    set("logger.console-verbosity", caf::atom("quiet"));
  }
};

// A node process, its standard output discarded (its errors still show).
pid_t spawn_process(const std::vector<std::string>& args) {
  auto null = ::open("/dev/null", O_WRONLY);
  sv::process::spawn_options o;
  o.stdout_fd = null;
  auto pid = sv::process::spawn(args, o);
  if (null >= 0) {
    ::close(null);
  }
  return pid;
}

void stop_process(pid_t pid, int sig = SIGTERM) {
  sv::process::stop(pid, std::chrono::seconds{10}, sig);
}

// -1: no sample (nothing became visible).
double percentile_ms(std::vector<int64_t> xs, double q) {
  return sv::bench::percentile_ms(std::move(xs), q, -1);
}

// -- the probe: counts, per update, how many replicas (or raw nodes) have seen it ------

using tick_atom = caf::atom_constant<caf::atom("b_tick")>;
using stop_atom = caf::atom_constant<caf::atom("b_stop")>;
using ack_atom = caf::atom_constant<caf::atom("b_ack")>;
using report_atom = caf::atom_constant<caf::atom("b_report")>;

struct probe_state {
  size_t fanout = 0;
  std::unordered_map<uint64_t, std::pair<int64_t, size_t>> pending; // seq -> (sent, seen)
  std::vector<int64_t> latencies;
  uint64_t sent = 0;
  uint64_t accepted = 0;
  uint64_t refused = 0;
};

void seen(caf::stateful_actor<probe_state>* self, uint64_t seq) {
  auto& st = self->state;
  auto i = st.pending.find(seq);
  if (i == st.pending.end()) {
    return;
  }
  if (++i->second.second == st.fanout) {
    st.latencies.push_back(now_ns() - i->second.first);
    st.pending.erase(i);
  }
}

uint64_t seq_of(const std::string& title) {
  auto at = title.rfind('#');
  return at == std::string::npos ? 0 : std::strtoull(title.c_str() + at + 1, nullptr, 10);
}

// Sends `rate` updates per second for `secs` through `targets` (catalogs: MetadataUpdate
// requests; raw nodes: (seq, probe) messages), and records when each became visible at
// all `fanout` places.
caf::behavior probe(caf::stateful_actor<probe_state>* self, std::vector<caf::actor> targets,
                    bool raw, size_t fanout, size_t titles, double rate) {
  self->state.fanout = fanout;
  struct pacing {
    steady_clock::time_point start;
    steady_clock::time_point end;
    bool running = false;
  };
  auto pace = std::make_shared<pacing>();
  return {
      [=](const changed_msg& c) { seen(self, seq_of(c.metadata().title())); },
      [=](ack_atom, uint64_t seq) { seen(self, seq); },
      [=](tick_atom, double secs) {
        pace->start = steady_clock::now();
        pace->end = pace->start + duration_cast<steady_clock::duration>(duration<double>(secs));
        pace->running = true;
        self->send(self, tick_atom::value);
      },
      [=](tick_atom) {
        auto& st = self->state;
        auto now = steady_clock::now();
        if (!pace->running) {
          return;
        }
        auto due = static_cast<uint64_t>(
            duration<double>(std::min(now, pace->end) - pace->start).count() * rate);
        for (; st.sent < due; ++st.sent) {
          auto seq = st.sent + 1;
          auto& target = targets[seq % targets.size()];
          st.pending[seq] = {now_ns(), 0};
          if (raw) {
            self->send(target, ack_atom::value, seq, caf::actor_cast<caf::actor>(self));
            continue;
          }
          update_msg u;
          auto* m = u.mutable_metadata();
          m->set_id("title-" + std::to_string(seq % titles));
          m->set_title("update #" + std::to_string(seq));
          u.set_origin("sv-bench-cluster");
          self->request(target, seconds(10), u)
              .then([self](uint64_t) { ++self->state.accepted; },
                    [self, seq](caf::error&) {
                      ++self->state.refused;
                      self->state.pending.erase(seq);
                    });
        }
        if (now >= pace->end) {
          pace->running = false;
          return;
        }
        self->delayed_send(self, milliseconds(1), tick_atom::value);
      },
      [=](report_atom) {
        auto& st = self->state;
        return caf::make_message(st.latencies, st.sent, raw ? st.sent : st.accepted,
                                 static_cast<uint64_t>(st.pending.size()), st.refused,
                                 pace->running);
      },
  };
}

struct run_result {
  std::vector<int64_t> latencies;
  uint64_t sent = 0;
  uint64_t accepted = 0;
  uint64_t incomplete = 0;
  uint64_t refused = 0;
};

run_result drive(caf::actor_system& sys, std::vector<caf::actor> targets, bool raw, size_t fanout,
                 const options& opt, const std::vector<caf::actor>& watch) {
  auto p = sys.spawn(probe, targets, raw, fanout, opt.titles, opt.rate);
  caf::scoped_actor self{sys};
  for (auto& cat : watch) {
    self->request(cat, seconds(5), sv::content::watch_atom::value, p)
        .receive([](caf::ok_atom) {}, [](caf::error&) {});
  }
  self->send(p, tick_atom::value, opt.seconds);
  run_result r;
  auto deadline = steady_clock::now()
                  + duration_cast<steady_clock::duration>(duration<double>(opt.seconds + 10));
  for (;;) {
    std::this_thread::sleep_for(milliseconds(200));
    bool running = true;
    self->request(p, seconds(5), report_atom::value)
        .receive(
            [&](std::vector<int64_t>& lat, uint64_t sent, uint64_t accepted, uint64_t incomplete,
                uint64_t refused, bool still_running) {
              r = {std::move(lat), sent, accepted, incomplete, refused};
              running = still_running;
            },
            [&](caf::error&) {});
    if ((!running && r.incomplete == 0) || steady_clock::now() > deadline) {
      break;
    }
  }
  self->send_exit(p, caf::exit_reason::user_shutdown);
  return r;
}

// --mode raw-node: one plain CAF actor that acknowledges every message to its sender's
// probe. Runs until SIGTERM.
int raw_node(const options& opt) {
  config cfg;
  caf::actor_system sys{cfg};
  auto a = sys.spawn([](caf::event_based_actor*) -> caf::behavior {
    return {[](ack_atom, uint64_t seq, const caf::actor& probe) {
      caf::anon_send(probe, ack_atom::value, seq);
    }};
  });
  if (!sys.middleman().publish(a, static_cast<uint16_t>(opt.port), "127.0.0.1", true)) {
    return 1;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  int sig = 0;
  sigwait(&set, &sig);
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  return 0;
}

std::string write_config(const std::string& dir, size_t i, const options& opt) {
  auto name = "node-" + std::to_string(i);
  auto path = dir + "/" + name + ".toml";
  std::ofstream out{path};
  out << "[node]\nname = \"" << name << "\"\ndata_dir = \"" << dir << "/data/" << name
      << "\"\nscheduler_threads = 1\n[cluster]\nbind = \"127.0.0.1\"\nport = "
      << opt.base_port + static_cast<int64_t>(i) << "\nseeds = ["
      << (i == 0 ? "" : "\"127.0.0.1:" + std::to_string(opt.base_port) + "\"")
      << "]\n[log]\nlevel = \"warn\"\nstatus_interval_ms = 0\n";
  return path;
}

size_t up_count(caf::actor_system& sys, uint16_t port) {
  auto ms = sv::cluster::fetch_members(sys, "127.0.0.1", port, milliseconds(500));
  if (!ms) {
    return 0;
  }
  return static_cast<size_t>(std::count_if(
      ms->begin(), ms->end(), [](auto& m) { return m.state == sv::cluster::member_state::up; }));
}

} // namespace

int main(int argc, char** argv) {
  options opt;
  sv::bench::flags flags;
  flags.add("nodes", opt.nodes)
      .add("seconds", opt.seconds)
      .add("rate", opt.rate)
      .add("titles", opt.titles)
      .add("base-port", opt.base_port)
      .add("mode", opt.mode)
      .add("port", opt.port);
  if (!flags.parse(argc, argv, std::cerr)) {
    return 2;
  }
  if (opt.mode == "raw-node") {
    return raw_node(opt);
  }
  if (opt.nodes < 2 || opt.seconds <= 0 || opt.rate <= 0 || opt.titles == 0) {
    std::cerr << "need --nodes >= 2, --seconds > 0, --rate > 0, --titles > 0\n";
    return 2;
  }
  auto bin_dir = std::filesystem::path{argv[0]}.parent_path();
  auto node_bin = (bin_dir / "streamverse-node").string();
  char tmpl[] = "/tmp/sv-bench-cluster-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::vector<pid_t> pids;
  for (size_t i = 0; i < opt.nodes; ++i) {
    pids.push_back(spawn_process({node_bin, "--config", write_config(dir, i, opt)}));
  }
  config cfg;
  caf::actor_system sys{cfg};
  auto port = [&](size_t i) {
    return static_cast<uint16_t>(opt.base_port + static_cast<int64_t>(i));
  };
  // Wait (bounded) until every node sees every node up.
  auto formed = false;
  for (int k = 0; k < 300 && !formed; ++k) {
    formed = true;
    for (size_t i = 0; i < opt.nodes && formed; ++i) {
      formed = up_count(sys, port(i)) == opt.nodes;
    }
    if (!formed) {
      std::this_thread::sleep_for(milliseconds(100));
    }
  }
  std::cout << "cluster of " << opt.nodes << (formed ? " formed" : " did NOT form") << std::endl;
  std::vector<caf::actor> catalogs;
  for (size_t i = 0; i < opt.nodes && formed; ++i) {
    if (auto cat = sv::cluster::lookup_service(sys, "127.0.0.1", port(i), caf::atom("sv_catalog"),
                                               seconds(3))) {
      catalogs.push_back(*cat);
    }
  }
  run_result sv_run;
  if (catalogs.size() == opt.nodes) {
    sv_run = drive(sys, catalogs, false, opt.nodes, opt, catalogs);
  }
  std::cout << "streamverse: " << sv_run.sent << " sent, " << sv_run.accepted << " accepted, "
            << sv_run.latencies.size() << " visible everywhere" << std::endl;
  // Failure detection: SIGKILL the last node, time until node 0 stops counting it as up.
  double detect_s = -1;
  if (formed) {
    auto t0 = steady_clock::now();
    kill(pids.back(), SIGKILL);
    waitpid(pids.back(), nullptr, 0);
    pids.back() = -1;
    for (int k = 0; k < 1000; ++k) { // 10 s at most
      if (up_count(sys, port(0)) == opt.nodes - 1) {
        detect_s = duration<double>(steady_clock::now() - t0).count();
        break;
      }
      std::this_thread::sleep_for(milliseconds(10));
    }
  }
  std::cout << "detection of a SIGKILLed node: " << detect_s << " s" << std::endl;
  // A stall (SIGSTOP, no connection drop): detected by silence; after SIGCONT, how long
  // until node 0 counts it as up again.
  double stall_detect_s = -1;
  double resume_s = -1;
  if (formed && opt.nodes >= 3) {
    auto victim = pids[opt.nodes - 2];
    auto t0 = steady_clock::now();
    kill(victim, SIGSTOP);
    for (int k = 0; k < 1000; ++k) {
      if (up_count(sys, port(0)) == opt.nodes - 2) {
        stall_detect_s = duration<double>(steady_clock::now() - t0).count();
        break;
      }
      std::this_thread::sleep_for(milliseconds(10));
    }
    std::this_thread::sleep_for(
        duration_cast<milliseconds>(seconds(5) - (steady_clock::now() - t0)));
    auto t1 = steady_clock::now();
    kill(victim, SIGCONT);
    for (int k = 0; k < 1000; ++k) {
      if (up_count(sys, port(0)) == opt.nodes - 1) {
        resume_s = duration<double>(steady_clock::now() - t1).count();
        break;
      }
      std::this_thread::sleep_for(milliseconds(10));
    }
  }
  std::cout << "SIGSTOP for 5 s: detected after " << stall_detect_s << " s; up again " << resume_s
            << " s after SIGCONT" << std::endl;
  for (auto pid : pids) {
    stop_process(pid);
  }
  // Raw-CAF baseline: plain actors in N processes, messaged directly by the driver.
  std::vector<pid_t> raw_pids;
  std::vector<caf::actor> raw_actors;
  auto raw_base = opt.base_port + 50;
  for (size_t i = 0; i < opt.nodes; ++i) {
    raw_pids.push_back(spawn_process({argv[0], "--mode", "raw-node", "--port",
                                      std::to_string(raw_base + static_cast<int64_t>(i))}));
  }
  for (size_t i = 0; i < opt.nodes; ++i) {
    for (int k = 0; k < 100; ++k) {
      auto a = sv::cluster::connect_published(
          sys, "127.0.0.1", static_cast<uint16_t>(raw_base + static_cast<int64_t>(i)),
          milliseconds(500));
      if (a) {
        raw_actors.push_back(*a);
        break;
      }
      std::this_thread::sleep_for(milliseconds(100));
    }
  }
  run_result caf_run;
  if (raw_actors.size() == opt.nodes) {
    // Each message goes to one raw node, which acks: fan-out 1 per message, N targets
    // round robin; a propagation to N replicas costs at least one such hop per replica.
    caf_run = drive(sys, raw_actors, true, 1, opt, {});
  }
  std::cout << "raw caf: " << caf_run.sent << " sent, " << caf_run.latencies.size() << " acked"
            << std::endl;
  for (auto pid : raw_pids) {
    stop_process(pid);
  }
  std::filesystem::remove_all(dir);
  auto lost = static_cast<int64_t>(sv_run.accepted) - static_cast<int64_t>(sv_run.latencies.size());
  std::cout << "{\"nodes\":" << opt.nodes << ",\"seconds\":" << opt.seconds
            << ",\"updates_per_s\":" << opt.rate << ",\"sent\":" << sv_run.sent
            << ",\"accepted\":" << sv_run.accepted << ",\"refused\":" << sv_run.refused
            << ",\"metadata_p50_ms\":" << percentile_ms(sv_run.latencies, 0.5)
            << ",\"metadata_p99_ms\":" << percentile_ms(sv_run.latencies, 0.99)
            << ",\"invalidation_p99_ms\":" << percentile_ms(sv_run.latencies, 0.99)
            << ",\"detect_s\":" << detect_s << ",\"stall_detect_s\":" << stall_detect_s
            << ",\"resume_s\":" << resume_s << ",\"lost_updates\":" << std::max<int64_t>(0, lost)
            << ",\"caf_hop_p50_ms\":" << percentile_ms(caf_run.latencies, 0.5)
            << ",\"caf_hop_p99_ms\":" << percentile_ms(caf_run.latencies, 0.99)
            << ",\"formed\":" << (formed ? "true" : "false") << "}" << std::endl;
  return formed ? 0 : 1;
}
