// sv-bench-ingress: the whole path a deployment drives. Three streamverse-node processes on
// loopback with every feature on (catalog, cache, analytics, positions, hooks), one client
// process (this one) speaking for N viewers through the edge client: open them all, then a
// heartbeat per viewer every interval for S seconds.
//
//   build/bin/sv-bench-ingress [--viewers N] [--interval-ms I] [--seconds S] [--titles T]
//                              [--base-port P] [--baseline-seconds B] [--baseline-rate R]
//                              [--node-extra "analytics.linger_ms=50;..."]
//
// Reports heartbeats/s answered, opens/s, client p50/p99, events and positions stored/s
// (the nodes' own counters), CPU seconds per 1,000 heartbeats over all processes (nodes and
// client) and RSS per viewer. In the same run, the raw-CAF baseline: the same heartbeats as
// individual remote requests (one request each, the usual `request(...).then(...)`) from
// this process to a plain actor in a child process that only answers, at the same rate or
// `--baseline-rate` if lower (default 20,000/s: about what that pair sustains here; above
// it the baseline collapses and its CPU per request only grows), at most 20,000 in flight,
// for B seconds: its answered/s, p50/p99 and CPU per 1,000.
// One line per figure, then one JSON object as the last line.

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "actors/content/catalog_client.hpp"
#include "actors/content/content_types.hpp"
#include "actors/session/edge_client.hpp"
#include "actors/session/session_gateway.hpp"
#include "actors/session/session_host.hpp"
#include "bench/support/flags.hpp"
#include "bench/support/percentile.hpp"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/io/middleman.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"
#include "runtime/cluster/client.hpp"
#include "runtime/node/node.hpp"
#include "runtime/util/process.hpp"
#include "runtime/wire/errc.hpp"
#include "runtime/wire/message_types.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct options {
  uint64_t viewers = 300'000;
  uint64_t interval_ms = 2000;
  double seconds = 30;
  uint32_t titles = 200;
  uint32_t base_port = 7351;
  double baseline_seconds = 10;
  double baseline_rate = 20'000; // requests/s: what one plain actor sustains (0: the same as above)
  std::string node_extra; // "key=value;key=value": more node config, e.g. analytics.linger_ms=50
  std::string mode;       // "" (driver) or "echo" (the baseline's server)
  uint32_t port = 0;      // echo: where to publish
};

struct client_config : caf::actor_system_config {
  client_config() {
    load<caf::io::middleman>();
    sv::wire::register_message_types(*this);
    sv::content::register_message_types(*this);
    sv::session::register_message_types(*this);
    set("scheduler.max-threads", size_t{2});
    set("work-stealing.moderate-poll-attempts", size_t{10}); // little idle polling
    set("logger.console-verbosity", caf::atom("quiet"));
  }
};

// CPU seconds (user + system) a process used so far; 0 when it is gone.
double cpu_seconds(pid_t pid) {
  std::ifstream f{"/proc/" + std::to_string(pid) + "/stat"};
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  if (close == std::string::npos) {
    return 0;
  }
  std::istringstream in{text.substr(close + 2)};
  std::string field;
  double utime = 0;
  double stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) {
      utime = std::stod(field);
    } else if (i == 15) {
      stime = std::stod(field);
    }
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Resident set size in bytes.
double rss_bytes(pid_t pid) {
  std::ifstream f{"/proc/" + std::to_string(pid) + "/statm"};
  double pages = 0;
  double resident = 0;
  f >> pages >> resident;
  return resident * static_cast<double>(sysconf(_SC_PAGESIZE));
}

// A counter's value in Prometheus text (the sum over its label sets).
double metric(const std::string& text, const std::string& name) {
  double sum = 0;
  std::istringstream in{text};
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name, 0) != 0 || line.size() <= name.size()
        || (line[name.size()] != ' ' && line[name.size()] != '{')) {
      continue;
    }
    sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

pid_t spawn(const std::vector<std::string>& args, const std::string& log) {
  sv::process::spawn_options o;
  o.log = log;
  o.truncate_log = true;
  return sv::process::spawn(args, o);
}

void stop(std::vector<pid_t>& pids) {
  for (auto p : pids) {
    kill(p, SIGTERM); // all at once; then each gets what is left of 20 s
  }
  auto end = clock_type::now() + 20s;
  for (auto p : pids) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - clock_type::now());
    sv::process::stop(p, std::max(left, std::chrono::milliseconds{0}));
  }
  pids.clear();
}

sv::content::metadata title(uint32_t t) {
  sv::content::metadata m;
  m.set_id("title-" + std::to_string(t));
  m.set_title("Title " + std::to_string(t));
  m.set_duration_s(5400);
  auto* r = m.add_renditions();
  r->set_id("720p");
  r->set_codecs("avc1.64001f,mp4a.40.2");
  r->set_width(1280);
  r->set_height(720);
  r->set_bitrate_kbps(3000);
  r->set_average_bitrate_kbps(2200);
  r->set_frame_rate(25);
  r->set_ready(true);
  m.mutable_availability()->add_regions("eu-west");
  return m;
}

// Calls `f(i)` for i in [0, count) spread evenly over `over`, from this thread.
template <class F>
void paced(uint64_t count, std::chrono::nanoseconds over, F f) {
  auto start = clock_type::now();
  uint64_t done = 0;
  while (done < count) {
    auto elapsed = clock_type::now() - start;
    auto due = std::min<uint64_t>(
        count,
        static_cast<uint64_t>(static_cast<double>(count) * elapsed.count() / over.count()) + 1);
    for (; done < due; ++done) {
      f(done);
    }
    std::this_thread::sleep_for(200us);
  }
}

// -- the raw-CAF baseline --------------------------------------------------------------

int run_echo(const options& opt) {
  client_config cfg;
  caf::actor_system sys{cfg};
  auto echo = sys.spawn([](caf::event_based_actor*) -> caf::behavior {
    return {[](const sv::session::heartbeat_report&) {
      return caf::ok_atom::value;
    }};
  });
  auto port = sys.middleman().publish(echo, static_cast<uint16_t>(opt.port), nullptr, true);
  if (!port) {
    std::cerr << "echo: cannot publish on " << opt.port << "\n";
    return 1;
  }
  std::cout << "READY" << std::endl;
  std::string line;
  std::getline(std::cin, line); // stops when the parent closes the pipe
  caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
  return 0;
}

struct baseline_figures {
  double rate = 0; // requests/s sent
  double answered_per_s = 0;
  double p50_ms = 0, p99_ms = 0;
  double cpu_per_1000 = 0;
  uint64_t errors = 0;
};

using send_atom = caf::atom_constant<caf::atom("send")>;

struct baseline_state {
  std::vector<int64_t> lat;
  uint64_t answered = 0, errors = 0;
  uint64_t in_flight = 0;
};

baseline_figures run_baseline(const options& opt, const char* self_path) {
  baseline_figures out;
  auto port = opt.base_port + 10;
  int to_child[2];
  int from_child[2];
  if (pipe(to_child) != 0 || pipe(from_child) != 0) {
    return out;
  }
  sv::process::spawn_options o;
  o.stdin_fd = to_child[0];
  o.stdout_fd = from_child[1];
  auto pid = sv::process::spawn({self_path, "--mode", "echo", "--port", std::to_string(port)}, o);
  close(to_child[0]);
  close(from_child[1]);
  char buf[16] = {};
  if (read(from_child[0], buf, 6) <= 0) {
    return out;
  }
  client_config cfg;
  caf::actor_system sys{cfg};
  auto echo = sys.middleman().remote_actor("127.0.0.1", static_cast<uint16_t>(port));
  if (!echo) {
    close(to_child[1]);
    waitpid(pid, nullptr, 0);
    return out;
  }
  auto rate = static_cast<double>(opt.viewers) * 1000.0 / static_cast<double>(opt.interval_ms);
  if (opt.baseline_rate > 0) {
    rate = std::min(rate, opt.baseline_rate);
  }
  out.rate = rate;
  auto total = static_cast<uint64_t>(rate * opt.baseline_seconds);
  auto state = std::make_shared<baseline_state>();
  std::mutex mtx;
  // One requester actor: each heartbeat its own request with its own response handler.
  auto requester = sys.spawn([&, state](caf::event_based_actor* self) -> caf::behavior {
    return {[=, &mtx](send_atom, uint64_t n) {
      for (uint64_t i = 0; i < n; ++i) {
        if (state->in_flight >= 20'000) {
          ++state->errors; // over the window: not sent
          continue;
        }
        sv::session::heartbeat_report h;
        h.session_id = i;
        auto sent = clock_type::now();
        ++state->in_flight;
        self->request(*echo, caf::duration{2s}, h)
            .then(
                [=, &mtx](caf::ok_atom) {
                  --state->in_flight;
                  std::lock_guard<std::mutex> g{mtx};
                  ++state->answered;
                  state->lat.push_back((clock_type::now() - sent).count());
                },
                [=, &mtx](caf::error&) {
                  --state->in_flight;
                  std::lock_guard<std::mutex> g{mtx};
                  ++state->errors;
                });
      }
    }};
  });
  auto cpu0 = cpu_seconds(getpid()) + cpu_seconds(pid);
  auto t0 = clock_type::now();
  // In slices of 1 ms, from this thread.
  uint64_t sent = 0;
  while (sent < total) {
    auto due = std::min<uint64_t>(
        total, static_cast<uint64_t>(
                   rate * std::chrono::duration<double>(clock_type::now() - t0).count()));
    if (due > sent) {
      caf::anon_send(requester, send_atom::value, due - sent);
      sent = due;
    }
    std::this_thread::sleep_for(1ms);
  }
  // Answers still on their way (at most the requests' timeout).
  auto end = clock_type::now() + 3s;
  while (clock_type::now() < end) {
    std::lock_guard<std::mutex> g{mtx};
    if (state->answered + state->errors >= total) {
      break;
    }
  }
  auto elapsed = std::chrono::duration<double>(clock_type::now() - t0).count();
  auto cpu = cpu_seconds(getpid()) + cpu_seconds(pid) - cpu0;
  {
    std::lock_guard<std::mutex> g{mtx};
    out.answered_per_s = static_cast<double>(state->answered) / elapsed;
    out.p50_ms = sv::bench::percentile_ms(state->lat, 0.5);
    out.p99_ms = sv::bench::percentile_ms(state->lat, 0.99);
    out.errors = state->errors;
    out.cpu_per_1000 = state->answered > 0 ? cpu * 1000 / static_cast<double>(state->answered) : 0;
  }
  caf::anon_send_exit(requester, caf::exit_reason::user_shutdown);
  close(to_child[1]);
  waitpid(pid, nullptr, 0);
  return out;
}

// -- the cluster -----------------------------------------------------------------------

struct result_sink {
  std::mutex mtx;
  std::vector<int64_t> lat; // heartbeats answered ok in the measured phase
  uint64_t ok = 0, overloaded = 0, other = 0;
  bool measuring = false;
  std::string other_sample; // the first other error, for the report
  bool collect_failed_opens = false;
  std::vector<uint64_t> failed_opens; // viewers (cookies) whose open was refused
};

} // namespace

int main(int argc, char** argv) {
  options opt;
  sv::bench::flags flags;
  flags.add("viewers", opt.viewers)
      .add("interval-ms", opt.interval_ms)
      .add("seconds", opt.seconds)
      .add("titles", opt.titles)
      .add("base-port", opt.base_port)
      .add("baseline-seconds", opt.baseline_seconds)
      .add("baseline-rate", opt.baseline_rate)
      .add("node-extra", opt.node_extra)
      .add("mode", opt.mode)
      .add("port", opt.port);
  if (!flags.parse(argc, argv, std::cerr)) {
    return 2;
  }
  if (opt.mode == "echo") {
    return run_echo(opt);
  }
  auto bin = std::filesystem::path{argv[0]}.parent_path();
  auto node_bin = (bin / "streamverse-node").string();
  if (!std::filesystem::exists(node_bin)) {
    std::cerr << "sv-bench-ingress: " << node_bin << " is missing (build it first)\n";
    return 2;
  }
  auto dir =
      std::filesystem::temp_directory_path() / ("sv-bench-ingress-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::vector<pid_t> nodes;
  std::vector<sv::session::edge_node> addresses;
  for (uint32_t i = 0; i < 3; ++i) {
    auto name = std::string{"node-"} + static_cast<char>('a' + i);
    auto cfg = (dir / (name + ".toml")).string();
    std::ofstream f{cfg};
    // Dotted keys of the root table first (the extra ones from --node-extra), then tables.
    f << "sessions.idle_timeout_ms = " << std::max<uint64_t>(30'000, 3 * opt.interval_ms + 10'000)
      << "\n";
    std::istringstream extra{opt.node_extra};
    for (std::string kv; std::getline(extra, kv, ';');) {
      if (!kv.empty()) {
        f << kv << "\n";
      }
    }
    f << "[node]\nname = \"" << name << "\"\ndata_dir = \"" << (dir / name).string()
      << "\"\nscheduler_threads = 1\n\n[cluster]\nport = " << opt.base_port + i << "\nseeds = [";
    std::string sep;
    for (uint32_t j = 0; j < 3; ++j) {
      if (j != i) {
        f << sep << "\"127.0.0.1:" << opt.base_port + j << "\"";
        sep = ", ";
      }
    }
    f << "]\n\n[log]\nlevel = \"warn\"\n";
    f.close();
    nodes.push_back(spawn({node_bin, "--config", cfg}, (dir / (name + ".log")).string()));
    addresses.push_back({name, "127.0.0.1", static_cast<uint16_t>(opt.base_port + i)});
  }
  int rc = 0;
  std::ostringstream json;
  {
    client_config cfg;
    caf::actor_system sys{cfg};
    // The cluster forms.
    auto formed = false;
    for (auto end = clock_type::now() + 30s; !formed && clock_type::now() < end;) {
      auto m =
          sv::cluster::fetch_members(sys, "127.0.0.1", static_cast<uint16_t>(opt.base_port), 1s);
      formed = m && std::count_if(m->begin(), m->end(), [](auto& x) {
                      return x.state == sv::cluster::member_state::up;
                    }) == 3;
      if (!formed) {
        std::this_thread::sleep_for(200ms);
      }
    }
    if (!formed) {
      std::cerr << "sv-bench-ingress: the cluster did not form (logs in " << dir << ")\n";
      stop(nodes);
      return 1;
    }
    for (uint32_t t = 0; t < opt.titles; ++t) {
      auto& a = addresses[t % 3];
      if (!sv::content::remote_update(sys, a.host, a.port, title(t), 0, 6s)) {
        std::cerr << "sv-bench-ingress: cannot store title " << t << "\n";
        stop(nodes);
        return 1;
      }
    }
    result_sink sink;
    sv::session::edge_settings es;
    es.nodes = addresses;
    es.max_in_flight = 500'000;
    sv::session::edge_client client{
        sys, es, [&sink](std::vector<sv::session::edge_result>& rs) {
          std::lock_guard<std::mutex> g{sink.mtx};
          for (auto& r : rs) {
            if (r.error && sink.collect_failed_opens && r.kind == sv::session::item_kind::open) {
              sink.failed_opens.push_back(r.cookie);
            }
            if (!r.error) {
              ++sink.ok;
              if (sink.measuring && r.kind == sv::session::item_kind::heartbeat) {
                sink.lat.push_back(r.latency.count());
              }
            } else if (sv::is(r.error, sv::errc::overloaded)) {
              ++sink.overloaded;
            } else {
              ++sink.other;
              if (sink.other_sample.empty()) {
                sink.other_sample = sv::session::to_result(r.error).detail;
              }
            }
          }
        }};
    if (client.wait_connected(10s) != 3) {
      std::cerr << "sv-bench-ingress: the edge client could not connect\n";
      stop(nodes);
      return 1;
    }
    auto answered = [&] {
      std::lock_guard<std::mutex> g{sink.mtx};
      return sink.ok + sink.overloaded + sink.other;
    };
    // Opens: as fast as the cluster takes them, at most 50,000 unanswered; refused ones
    // (overloaded) again after a pause, at most ten rounds.
    auto t_open = clock_type::now();
    std::vector<uint64_t> to_open(opt.viewers);
    for (uint64_t v = 0; v < opt.viewers; ++v) {
      to_open[v] = v;
    }
    uint64_t opened = 0;
    for (int round = 0; round < 10 && !to_open.empty(); ++round) {
      {
        std::lock_guard<std::mutex> g{sink.mtx};
        sink.ok = sink.overloaded = sink.other = 0;
        sink.failed_opens.clear();
        sink.collect_failed_opens = true;
      }
      uint64_t sent = 0;
      for (auto v : to_open) {
        while (sent - answered() > 50'000) {
          std::this_thread::sleep_for(1ms);
        }
        sv::session::open_request r;
        r.session_id = v + 1;
        r.user = "u" + std::to_string(v);
        r.content = "title-" + std::to_string(v % opt.titles);
        r.device = "tv";
        r.region = "eu-west";
        client.open(std::move(r), v);
        ++sent;
      }
      while (answered() < sent && clock_type::now() - t_open < 120s) {
        std::this_thread::sleep_for(5ms);
      }
      std::lock_guard<std::mutex> g{sink.mtx};
      opened += sink.ok;
      to_open.swap(sink.failed_opens);
      sink.collect_failed_opens = false;
      if (!to_open.empty()) {
        std::this_thread::sleep_for(200ms);
      }
    }
    auto open_s = std::chrono::duration<double>(clock_type::now() - t_open).count();
    {
      std::lock_guard<std::mutex> g{sink.mtx};
      sink.ok = sink.overloaded = sink.other = 0;
    }
    std::cout << "opens: " << opened << " of " << opt.viewers << " in " << open_s
              << " s, refusals retried (" << static_cast<double>(opened) / open_s << "/s)\n";
    // One warm-up interval, then the measured phase.
    auto interval = std::chrono::milliseconds{opt.interval_ms};
    int64_t position = 0;
    auto beat_all = [&](std::chrono::nanoseconds over) {
      position += static_cast<int64_t>(opt.interval_ms);
      paced(opt.viewers, over, [&](uint64_t v) {
        sv::session::heartbeat_report h;
        h.session_id = v + 1;
        h.position_ms = position;
        h.bitrate_kbps = 3000;
        h.buffer_ms = 20'000;
        client.heartbeat(h, v);
      });
    };
    beat_all(interval);
    std::string m0;
    for (auto& a : addresses) {
      if (auto t = sv::fetch_metrics(sys, a.host, a.port, 3s)) {
        m0 += *t;
      }
    }
    {
      std::lock_guard<std::mutex> g{sink.mtx};
      sink.ok = sink.overloaded = sink.other = 0;
      sink.measuring = true;
    }
    auto cpu0 = cpu_seconds(getpid());
    for (auto p : nodes) {
      cpu0 += cpu_seconds(p);
    }
    auto t0 = clock_type::now();
    auto rounds = std::max<uint64_t>(
        1, static_cast<uint64_t>(opt.seconds * 1000 / static_cast<double>(opt.interval_ms)));
    for (uint64_t r = 0; r < rounds; ++r) {
      beat_all(interval);
    }
    auto sent = rounds * opt.viewers;
    while (answered() < sent
           && clock_type::now() - t0 < std::chrono::duration<double>(opt.seconds) + 5s) {
      std::this_thread::sleep_for(5ms);
    }
    auto elapsed = std::chrono::duration<double>(clock_type::now() - t0).count();
    auto cpu = cpu_seconds(getpid()) - cpu0;
    double rss = rss_bytes(getpid());
    for (auto p : nodes) {
      cpu += cpu_seconds(p);
      rss += rss_bytes(p);
    }
    std::string m1;
    for (auto& a : addresses) {
      if (auto t = sv::fetch_metrics(sys, a.host, a.port, 3s)) {
        m1 += *t;
      }
    }
    uint64_t ok = 0, overloaded = 0, other = 0;
    std::vector<int64_t> lat;
    {
      std::lock_guard<std::mutex> g{sink.mtx};
      ok = sink.ok;
      overloaded = sink.overloaded;
      other = sink.other;
      lat.swap(sink.lat);
      sink.measuring = false;
    }
    auto hb_per_s = static_cast<double>(ok) / elapsed;
    auto events_per_s =
        (metric(m1, "sv_analytics_stored_total") - metric(m0, "sv_analytics_stored_total"))
        / elapsed;
    auto positions_per_s = (metric(m1, "sv_watch_positions_stored_total")
                            - metric(m0, "sv_watch_positions_stored_total"))
                           / elapsed;
    auto p50 = sv::bench::percentile_ms(lat, 0.5);
    auto p99 = sv::bench::percentile_ms(lat, 0.99);
    auto cpu_per_1000 = ok > 0 ? cpu * 1000 / static_cast<double>(ok) : 0;
    std::cout << "heartbeats: " << ok << " answered ok of " << sent << " (" << overloaded
              << " overloaded, " << other << " other errors"
              << (sink.other_sample.empty() ? "" : ", e.g. \"" + sink.other_sample + "\"")
              << ") in " << elapsed << " s: " << hb_per_s << "/s, client p50/p99 " << p50 << "/"
              << p99 << " ms\n"
              << "stored: " << events_per_s << " events/s, " << positions_per_s << " positions/s\n"
              << "cpu: " << cpu << " s over all processes, " << cpu_per_1000
              << " s per 1,000 heartbeats; rss " << rss / 1e6 << " MB, "
              << rss / static_cast<double>(opt.viewers) << " B per viewer\n";
    auto base = run_baseline(opt, argv[0]);
    std::cout << "raw CAF at " << base.rate << " requests/s: " << base.answered_per_s
              << " requests/s answered, p50/p99 " << base.p50_ms << "/" << base.p99_ms << " ms, "
              << base.cpu_per_1000 << " s CPU per 1,000 (" << base.errors
              << " not answered or over the window)\n";
    json << std::setprecision(6) << "{\"viewers\":" << opt.viewers
         << ",\"interval_ms\":" << opt.interval_ms
         << ",\"opens_per_s\":" << static_cast<double>(opened) / open_s
         << ",\"heartbeats_per_s\":" << hb_per_s << ",\"heartbeats_overloaded\":" << overloaded
         << ",\"heartbeats_other_errors\":" << other << ",\"p50_ms\":" << p50
         << ",\"p99_ms\":" << p99 << ",\"events_stored_per_s\":" << events_per_s
         << ",\"positions_stored_per_s\":" << positions_per_s
         << ",\"cpu_s_per_1000_heartbeats\":" << cpu_per_1000
         << ",\"rss_bytes_per_viewer\":" << rss / static_cast<double>(opt.viewers)
         << ",\"baseline_rate\":" << base.rate
         << ",\"baseline_requests_per_s\":" << base.answered_per_s
         << ",\"baseline_p50_ms\":" << base.p50_ms << ",\"baseline_p99_ms\":" << base.p99_ms
         << ",\"baseline_cpu_s_per_1000\":" << base.cpu_per_1000 << ",\"cpu_ratio_to_baseline\":"
         << (base.cpu_per_1000 > 0 ? cpu_per_1000 / base.cpu_per_1000 : 0) << "}";
    if (ok == 0) {
      rc = 1;
    }
  }
  stop(nodes);
  std::filesystem::remove_all(dir);
  std::cout << json.str() << std::endl;
  return rc;
}
