// sv-bench-overload: a node under a viral spike. Measures capacity, then offers 3x
// capacity with a class mix of 20% critical / 30% interactive / 30% best_effort / 20%
// bulk, then 0.5x capacity; reports how critical work fared, the goodput, the degrader's
// behaviour and that every request was accounted for. The raw-CAF baseline runs the same
// work on plain CAF actors (no gate, no priorities, no degrader) in a child process.
//
//   build/bin/sv-bench-overload --seconds S [--cost-us C] [--threads T] [--shards N]
//       [--critical-budget-ms B] [--backlog-budget-us U]
//
// Prints one line per side, then one JSON object as its last line.

#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/support/child_process.hpp"
#include "bench/support/flags.hpp"
#include "caf/all.hpp"
#include "runtime/entity/entity_type.hpp"
#include "runtime/flow/flow_context.hpp"
#include "runtime/flow/load_monitor.hpp"
#include "runtime/metrics/registry.hpp"

namespace {

using namespace std::chrono;
using sv::flow::service_class;

constexpr size_t phases = 4;                 // capacity, spike, recovery, settle
constexpr int64_t deadline_ns = 500'000'000; // a critical request later than this failed

struct options {
  double seconds = 10;
  int64_t cost_us = 20;
  size_t threads = 2;
  size_t shards = 8;
  size_t max_throughput = 64;         // CAF scheduler.max-throughput, the same on both sides
  std::string policy = "stealing";    // CAF scheduler.policy, the same on both sides
  uint32_t interactive_watermark = 0; // 0: the defaults (critical 8192, interactive 1024, ...)
  int64_t critical_budget_ms = 100;   // flow.critical_budget_ms: critical p99 at pressure 1
  int64_t backlog_budget_us = 1000;   // flow.critical_backlog_budget_us (0: rule off)
  std::string mode;
};

/// One unit of work: which class it is, which phase sent it, when.
struct work {
  uint8_t cls = 0;
  uint8_t phase = 0;
  int64_t sent_at_ns = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, work& x) {
  return f(caf::meta::type_name("work"), x.cls, x.phase, x.sent_at_ns);
}

int64_t now_ns() {
  return duration_cast<nanoseconds>(steady_clock::now().time_since_epoch()).count();
}

// -- counters shared by both sides (bench code, not part of the system under test) -------

using per_class = std::array<std::atomic<uint64_t>, 4>;

struct counters {
  std::array<per_class, phases> offered{};
  std::array<per_class, phases> refused{};
  std::array<per_class, phases> served{};    // by the phase that sent it
  std::array<per_class, phases> served_in{}; // by the phase it completed in
  std::array<std::atomic<uint64_t>, phases> critical_on_time{};
  std::array<std::vector<std::atomic<uint64_t>>, phases> critical_hist;
  std::atomic<int> phase{0};

  counters() {
    for (auto& h : critical_hist) {
      h = std::vector<std::atomic<uint64_t>>(200);
    }
  }
};

counters stats;

// Latency buckets: 10 us * 1.1^i.
size_t bucket_of(int64_t ns) {
  auto x = std::max(1.0, static_cast<double>(ns) / 10'000.0);
  return std::min<size_t>(199, static_cast<size_t>(std::log(x) / std::log(1.1)));
}

double bucket_ms(size_t i) {
  return 0.01 * std::pow(1.1, static_cast<double>(i + 1));
}

double critical_percentile_ms(size_t phase, double q) {
  auto& h = stats.critical_hist[phase];
  uint64_t total = 0;
  for (auto& b : h) {
    total += b.load();
  }
  if (total == 0) {
    return 0;
  }
  auto rank = std::max<uint64_t>(1, static_cast<uint64_t>(q * static_cast<double>(total)));
  uint64_t seen = 0;
  for (size_t i = 0; i < h.size(); ++i) {
    seen += h[i].load();
    if (seen >= rank) {
      return bucket_ms(i);
    }
  }
  return bucket_ms(h.size() - 1);
}

// The work itself: `cost_us` of CPU, then the bookkeeping.
void do_work(const work& w, int64_t cost_us) {
  auto until = steady_clock::now() + microseconds(cost_us);
  while (steady_clock::now() < until) {
    // burn
  }
  auto latency = now_ns() - w.sent_at_ns;
  stats.served[w.phase][w.cls].fetch_add(1, std::memory_order_relaxed);
  stats.served_in[stats.phase.load(std::memory_order_relaxed)][w.cls].fetch_add(
      1, std::memory_order_relaxed);
  if (w.cls == 0) {
    stats.critical_hist[w.phase][bucket_of(latency)].fetch_add(1, std::memory_order_relaxed);
    if (latency <= deadline_ns) {
      stats.critical_on_time[w.phase].fetch_add(1, std::memory_order_relaxed);
    }
  }
}

int64_t g_cost_us = 20;

/// StreamVerse side: a host-defined entity type doing the work.
struct work_entity {
  using request = work;
  using reply = uint8_t;
  caf::expected<uint8_t> handle(uint64_t, const work& w) {
    do_work(w, g_cost_us);
    return w.cls;
  }
};

/// Raw CAF side: plain actors doing the same work.
caf::behavior caf_worker(caf::event_based_actor*) {
  return {[](const work& w) {
    do_work(w, g_cost_us);
  }};
}

// -- the load: paced one-way sends with a class mix ---------------------------------------

using tick_atom = caf::atom_constant<caf::atom("o_tick")>;
using run_atom = caf::atom_constant<caf::atom("o_run")>;

struct driver_state {
  double rate = 0; // per second, this driver's share
  std::array<double, 4> mix{};
  uint8_t phase = 0;
  steady_clock::time_point end;
  steady_clock::time_point last;
  double credit = 0;
  std::mt19937_64 rng{7};
  caf::response_promise done;
};

// Send(key, class, work) -> true when enqueued, false when refused.
template <class Send>
caf::behavior driver(caf::stateful_actor<driver_state>* self, Send send_fn, uint64_t seed) {
  self->state.rng.seed(seed);
  return {
      [=](run_atom, double rate, double secs, uint8_t phase,
          std::vector<double> mix) -> caf::result<bool> {
        auto& st = self->state;
        st.rate = rate;
        st.phase = phase;
        std::copy(mix.begin(), mix.end(), st.mix.begin());
        st.end =
            steady_clock::now() + duration_cast<steady_clock::duration>(duration<double>(secs));
        st.last = steady_clock::now();
        st.credit = 0;
        st.done = self->make_response_promise();
        self->send(self, tick_atom::value);
        return st.done;
      },
      [=](tick_atom) {
        auto& st = self->state;
        auto now = steady_clock::now();
        if (now >= st.end) {
          st.done.deliver(true);
          return;
        }
        st.credit += st.rate * duration<double>(now - st.last).count();
        st.last = now;
        std::uniform_real_distribution<double> u{0, 1};
        for (; st.credit >= 1; st.credit -= 1) {
          auto x = u(st.rng);
          uint8_t cls = 0;
          for (double acc = st.mix[0]; cls < 3 && x > acc; acc += st.mix[++cls]) {
          }
          stats.offered[st.phase][cls].fetch_add(1, std::memory_order_relaxed);
          work w{cls, st.phase, now_ns()};
          if (!send_fn(st.rng() % 10'000, static_cast<service_class>(cls), w)) {
            stats.refused[st.phase][cls].fetch_add(1, std::memory_order_relaxed);
          }
        }
        self->delayed_send(self, milliseconds(1), tick_atom::value);
      },
  };
}

template <class Send>
void run_phase(caf::actor_system& sys, Send send_fn, double rate, double secs, uint8_t phase,
               std::vector<double> mix, size_t drivers = 4) {
  stats.phase = phase;
  caf::scoped_actor self{sys};
  std::vector<caf::actor> ds;
  for (size_t i = 0; i < drivers; ++i) {
    ds.push_back(sys.spawn(driver<Send>, send_fn, 100 + i * 7 + phase));
    self->send(ds.back(), run_atom::value, rate / static_cast<double>(drivers), secs, phase, mix);
  }
  for (size_t i = 0; i < ds.size(); ++i) {
    self->receive([](bool) {});
  }
  for (auto& d : ds) {
    self->send_exit(d, caf::exit_reason::user_shutdown);
  }
}

uint64_t sum(const per_class& xs) {
  uint64_t n = 0;
  for (auto& x : xs) {
    n += x.load();
  }
  return n;
}

// Waits until everything that was enqueued has been served (at most `limit`).
bool drain(duration<double> limit) {
  auto deadline = steady_clock::now() + duration_cast<steady_clock::duration>(limit);
  for (;;) {
    uint64_t offered = 0;
    uint64_t done = 0;
    for (size_t p = 0; p < phases; ++p) {
      offered += sum(stats.offered[p]);
      done += sum(stats.served[p]) + sum(stats.refused[p]);
    }
    if (done >= offered) {
      return true;
    }
    if (steady_clock::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
}

struct result {
  double capacity = 0;
  double critical_success = 0;
  double critical_p99 = 0;
  double critical_p50 = 0;
  double goodput = 0;
  int64_t unaccounted = 0;
  double recovery_s = -1;
  uint64_t transitions_spike = 0;
  uint64_t transitions_recovery = 0;
  int max_level = 0;
  std::array<uint64_t, 4> refused_spike{};
  bool drained = false;
};

const std::vector<double> critical_only = {1, 0, 0, 0};
const std::vector<double> spike_mix = {0.2, 0.3, 0.3, 0.2};

template <class Send, class Level, class Transitions>
result run_scenario(caf::actor_system& sys, Send send_fn, const options& opt, Level level,
                    Transitions transitions) {
  result r;
  // 1. capacity: a critical-only flood for 3 s; what gets served per second.
  // Only what completes within the 3 s counts: a backlog drained afterwards is not capacity.
  run_phase(sys, send_fn, 2'000'000.0 / static_cast<double>(opt.cost_us), 3.0, 0, critical_only);
  stats.phase = 3;
  r.capacity = static_cast<double>(sum(stats.served_in[0])) / 3.0;
  r.drained = drain(seconds(60));
  // Let the node calm down before the spike (bounded).
  for (int i = 0; i < 1000 && level() != 0; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  // 2. spike at 3x capacity, watched by a thread that samples the level.
  std::atomic<bool> watching{true};
  std::atomic<int> max_level{0};
  std::atomic<int64_t> spike_end_ns{0};
  std::atomic<int64_t> back_to_l0_ns{0};
  std::thread watcher{[&] {
    while (watching) {
      auto lvl = level();
      max_level = std::max(max_level.load(), lvl);
      auto end = spike_end_ns.load();
      if (end != 0 && lvl == 0 && back_to_l0_ns == 0) {
        back_to_l0_ns = now_ns();
      } else if (end != 0 && lvl != 0) {
        back_to_l0_ns = 0; // left L0 again: recovery not complete
      }
      std::this_thread::sleep_for(milliseconds(5));
    }
  }};
  auto t0 = transitions();
  run_phase(sys, send_fn, 3 * r.capacity, opt.seconds, 1, spike_mix);
  spike_end_ns = now_ns();
  auto t1 = transitions();
  // 3. back to 0.5x capacity.
  run_phase(sys, send_fn, 0.5 * r.capacity, opt.seconds, 2, spike_mix);
  stats.phase = 3;
  r.drained = drain(seconds(120)) && r.drained;
  watching = false;
  watcher.join();
  auto t2 = transitions();
  r.transitions_spike = t1 - t0;
  r.transitions_recovery = t2 - t1;
  r.max_level = max_level;
  r.recovery_s = back_to_l0_ns != 0 ? static_cast<double>(back_to_l0_ns - spike_end_ns) / 1e9 : -1;
  auto offered_critical = stats.offered[1][0].load();
  r.critical_success = offered_critical == 0 ? 0
                                             : static_cast<double>(stats.critical_on_time[1])
                                                   / static_cast<double>(offered_critical);
  r.critical_p99 = critical_percentile_ms(1, 0.99);
  r.critical_p50 = critical_percentile_ms(1, 0.50);
  r.goodput = static_cast<double>(sum(stats.served_in[1])) / (r.capacity * opt.seconds);
  int64_t unaccounted = 0;
  for (size_t p = 0; p < phases; ++p) {
    unaccounted += static_cast<int64_t>(sum(stats.offered[p]))
                   - static_cast<int64_t>(sum(stats.served[p]))
                   - static_cast<int64_t>(sum(stats.refused[p]));
  }
  r.unaccounted = unaccounted;
  for (size_t c = 0; c < 4; ++c) {
    r.refused_spike[c] = stats.refused[1][c].load();
  }
  return r;
}

std::string to_json(const result& r) {
  std::ostringstream out;
  out << "{\"capacity_per_s\":" << r.capacity
      << ",\"critical_success_ratio\":" << r.critical_success
      << ",\"critical_p50_ms\":" << r.critical_p50 << ",\"critical_p99_ms\":" << r.critical_p99
      << ",\"goodput_ratio\":" << r.goodput << ",\"unaccounted\":" << r.unaccounted
      << ",\"recovery_s\":" << r.recovery_s
      << ",\"level_transitions_spike_edge\":" << r.transitions_spike
      << ",\"level_transitions_recovery_edge\":" << r.transitions_recovery
      << ",\"max_level\":" << r.max_level << ",\"refused_spike\":[" << r.refused_spike[0] << ","
      << r.refused_spike[1] << "," << r.refused_spike[2] << "," << r.refused_spike[3]
      << "],\"drained\":" << (r.drained ? "true" : "false") << "}";
  return out.str();
}

void configure(caf::actor_system_config& cfg, const options& opt) {
  cfg.set("scheduler.max-threads", opt.threads);
  if (opt.max_throughput > 0) {
    cfg.set("scheduler.max-throughput", opt.max_throughput);
  }
  cfg.set("scheduler.policy", caf::atom_from_string(opt.policy));
  cfg.set("logger.console-verbosity", caf::atom("quiet"));
}

result run_sv(const options& opt) {
  caf::actor_system_config cfg;
  configure(cfg, opt);
  caf::actor_system sys{cfg};
  sv::metrics::registry reg;
  sv::flow::flow_settings fs;
  if (opt.interactive_watermark > 0) {
    auto w = opt.interactive_watermark;
    fs.gate.watermarks = {8 * w, w, std::max<uint32_t>(1, w / 4), std::max<uint32_t>(1, w / 8)};
  }
  fs.budget.critical_p99 = milliseconds{opt.critical_budget_ms};
  fs.gate.critical_backlog_budget = microseconds{opt.backlog_budget_us};
  fs.workers = opt.threads;
  auto flow = std::make_shared<sv::flow::flow_context>(fs);
  auto monitor = sv::flow::spawn_load_monitor(sys, flow, reg);
  result r;
  {
    sv::entity::entity_type<work_entity> type{
        sys, *flow, "work", {opt.shards, hours(1), seconds(5)}};
    auto send_fn = [t = &type](uint64_t key, service_class c, const work& w) {
      return !t->send(key, c, w);
    };
    r = run_scenario(
        sys, send_fn, opt, [&] { return static_cast<int>(flow->current_level()); },
        [&] { return flow->level_transitions(); });
  }
  caf::anon_send_exit(monitor, caf::exit_reason::user_shutdown);
  return r;
}

result run_caf(const options& opt) {
  caf::actor_system_config cfg;
  configure(cfg, opt);
  caf::actor_system sys{cfg};
  std::vector<caf::actor> workers;
  for (size_t i = 0; i < opt.shards; ++i) {
    workers.push_back(sys.spawn(caf_worker));
  }
  auto send_fn = [&workers](uint64_t key, service_class, const work& w) {
    caf::anon_send(workers[key % workers.size()], w);
    return true;
  };
  auto r = run_scenario(
      sys, send_fn, opt, [] { return 0; }, [] { return uint64_t{0}; });
  for (auto& w : workers) {
    caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
  }
  return r;
}

// Runs this binary in `mode` with the parent's flags; returns its last line, or "" if
// it did not finish.
std::string run_child(const char* self_path, const sv::bench::flags& flags, const char* mode,
                      double limit_s) {
  auto r = sv::bench::run_self(self_path, flags, mode, limit_s);
  return r.finished ? r.last_line : std::string{};
}

} // namespace

int main(int argc, char** argv) {
  options opt;
  sv::bench::flags flags;
  flags.add("seconds", opt.seconds)
      .add("cost-us", opt.cost_us)
      .add("threads", opt.threads)
      .add("shards", opt.shards)
      .add("max-throughput", opt.max_throughput)
      .add("policy", opt.policy)
      .add("interactive-watermark", opt.interactive_watermark)
      .add("critical-budget-ms", opt.critical_budget_ms)
      .add("backlog-budget-us", opt.backlog_budget_us)
      .add("mode", opt.mode);
  if (!flags.parse(argc, argv, std::cerr)) {
    return 2;
  }
  if (opt.seconds <= 0 || opt.cost_us <= 0) {
    std::cerr << "need --seconds > 0 and --cost-us > 0\n";
    return 2;
  }
  g_cost_us = opt.cost_us;
  if (opt.mode == "sv") {
    std::cout << to_json(run_sv(opt)) << std::endl;
    return 0;
  }
  if (opt.mode == "caf") {
    std::cout << to_json(run_caf(opt)) << std::endl;
    return 0;
  }
  auto limit = 200 + 6 * opt.seconds;
  auto sv_line = run_child(argv[0], flags, "sv", limit);
  std::cout << "streamverse: " << sv_line << std::endl;
  auto caf_line = run_child(argv[0], flags, "caf", limit);
  std::cout << "raw caf:     " << caf_line << std::endl;
  // One flat object: StreamVerse's keys as they are, the baseline's with a caf_ prefix.
  auto inner = [](std::string line, const std::string& prefix) {
    if (line.size() < 2) {
      return "\"" + prefix + "finished\":false";
    }
    std::string out;
    for (size_t i = 1; i + 1 < line.size(); ++i) {
      if (line[i] == '"' && (line[i - 1] == '{' || line[i - 1] == ',')) {
        out += '"' + prefix;
      } else {
        out += line[i];
      }
    }
    return out + ",\"" + prefix + "finished\":true";
  };
  std::cout << "{\"seconds\":" << opt.seconds << ",\"cost_us\":" << opt.cost_us
            << ",\"max_throughput\":" << opt.max_throughput << "," << inner(sv_line, "") << ","
            << inner(caf_line, "caf_") << "}" << std::endl;
  return 0;
}
