// sv-bench-sessions: memory per session, open rate, heartbeat throughput and latency of
// StreamVerse's session hosts, next to raw CAF (one plain actor per session, the same
// heartbeat work) measured by the same driver code in the same run.
//
//   build/bin/sv-bench-sessions --sessions N --seconds S [--rate R] [--hosts H] [--threads T]
//
// Each side runs in its own child process (so RSS is not shared); the parent prints one
// line per side and then one JSON object as its last line. Without --rate the drivers
// keep a fixed window of requests in flight (the maximum sustained rate); with --rate they
// offer R heartbeats/s in total, paced every millisecond, and latency includes queueing.

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "actors/session/session_service.hpp"
#include "bench/support/child_process.hpp"
#include "bench/support/flags.hpp"
#include "caf/all.hpp"
#include "runtime/flow/flow_context.hpp"
#include "runtime/flow/send.hpp"

namespace {

using namespace std::chrono;
using sv::session::heartbeat_report;
using sv::session::open_request;

using open_atom = caf::atom_constant<caf::atom("b_open")>;
using beat_atom = caf::atom_constant<caf::atom("b_beat")>;
using tick_atom = caf::atom_constant<caf::atom("b_tick")>;

struct options {
  uint64_t sessions = 1'000'000;
  double seconds = 10;
  double rate = 0; // 0: closed loop
  size_t hosts = 64;
  size_t threads = 2;
  size_t drivers = 4;
  size_t window = 64;        // requests in flight per driver (closed loop)
  size_t max_throughput = 0; // CAF scheduler.max-throughput; 0: CAF's default (unlimited)
  std::string mode;          // "", "sv" or "caf"
};

size_t rss_bytes() {
  std::ifstream in{"/proc/self/statm"};
  size_t pages = 0;
  size_t resident = 0;
  in >> pages >> resident;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

double percentile(std::vector<float>& xs, double p) {
  if (xs.empty()) {
    return 0;
  }
  auto k = static_cast<size_t>(p * static_cast<double>(xs.size() - 1));
  std::nth_element(xs.begin(), xs.begin() + static_cast<long>(k), xs.end());
  return xs[k];
}

open_request viewer(uint64_t id) {
  open_request r;
  r.session_id = id;
  r.user = "u" + std::to_string(id);
  r.content = "title-" + std::to_string(id % 5000);
  r.device = id % 3 == 0 ? "tv" : "phone";
  r.region = id % 2 == 0 ? "eu" : "us";
  return r;
}

heartbeat_report beat(uint64_t id, uint64_t n) {
  heartbeat_report h;
  h.session_id = id;
  h.position_ms = static_cast<int64_t>(n % 3'600'000);
  h.bitrate_kbps = 4500;
  h.buffer_ms = 9000;
  return h;
}

// -- latency at the receiver (paced mode) ---------------------------------------------

// What the receivers saw of the one-way heartbeats of a paced run.
struct receiver_summary {
  uint64_t processed = 0;
  double p50_ms = 0;
  double p99_ms = 0;
};

// Bucket bounds: 10 us to ~12 s, 1.25x apart (the same scheme as StreamVerse's monitor).
const std::vector<int64_t>& bounds_ns() {
  static const std::vector<int64_t> xs = [] {
    std::vector<int64_t> v;
    for (double b = 10'000; v.size() < 64; b *= 1.25) {
      v.push_back(static_cast<int64_t>(b));
    }
    return v;
  }();
  return xs;
}

double bucket_percentile(const std::vector<uint64_t>& counts, uint64_t total, double p) {
  auto rank = static_cast<uint64_t>(p * static_cast<double>(total));
  uint64_t seen = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    seen += counts[i];
    if (seen >= std::max<uint64_t>(rank, 1)) {
      return static_cast<double>(i < bounds_ns().size() ? bounds_ns()[i] : bounds_ns().back() * 2)
             / 1e6;
    }
  }
  return 0;
}

// Raw CAF's receivers count here (bench code, not part of the system under test).
struct receiver_stats {
  std::array<std::atomic<uint64_t>, 65> buckets{};
  std::atomic<uint64_t> processed{0};
};

receiver_stats caf_receivers;

int64_t now_ns() {
  return duration_cast<nanoseconds>(steady_clock::now().time_since_epoch()).count();
}

void caf_record(int64_t sent_at_ns) {
  auto d = now_ns() - sent_at_ns;
  auto i = static_cast<size_t>(std::lower_bound(bounds_ns().begin(), bounds_ns().end(), d)
                               - bounds_ns().begin());
  caf_receivers.buckets[i].fetch_add(1, std::memory_order_relaxed);
  caf_receivers.processed.fetch_add(1, std::memory_order_relaxed);
}

// -- the two systems under test: how a driver reaches session `id` -------------------

// StreamVerse: through the gate to the session's host, critical priority.
struct sv_side {
  sv::session::service* svc;

  template <class F, class G>
  void open(caf::event_based_actor* self, uint64_t id, F ok, G fail) const {
    auto& t = svc->route(id);
    auto d = sv::flow::admit(svc->flow(), t, sv::flow::service_class::critical);
    if (!d.admitted()) {
      fail();
      return;
    }
    self->request<caf::message_priority::high>(t.handle, caf::infinite, viewer(id))
        .then([ok](uint64_t) { ok(); }, [fail](caf::error&) { fail(); });
  }

  template <class F, class G>
  void heartbeat(caf::event_based_actor* self, uint64_t id, uint64_t n, F ok, G fail) const {
    auto& t = svc->route(id);
    auto d = sv::flow::admit(svc->flow(), t, sv::flow::service_class::critical);
    if (!d.admitted()) {
      fail();
      return;
    }
    self->request<caf::message_priority::high>(t.handle, caf::infinite, beat(id, n))
        .then([ok](caf::ok_atom) { ok(); }, [fail](caf::error&) { fail(); });
  }

  // One-way heartbeat through the gate; false when refused (overloaded).
  bool beat_oneway(uint64_t id, uint64_t n) const {
    auto h = beat(id, n);
    h.sent_at_ns = sv::session::steady_now_ns();
    return !sv::flow::send(svc->flow(), svc->route(id), sv::flow::service_class::critical,
                           std::move(h));
  }

  void reset_latency() const {
    svc->flow().observe(nanoseconds{0}, nanoseconds{0});
  }

  // Waits (at most `limit`) until every host's queue is empty, then reads the hosts' record.
  receiver_summary drain(uint64_t, nanoseconds limit) const {
    auto deadline = steady_clock::now() + limit;
    auto queued = [this] {
      int64_t n = 0;
      for (size_t i = 0; i < svc->host_count(); ++i) {
        n += svc->route(i).cell->depth();
      }
      return n;
    };
    while (queued() > 0 && steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(1));
    }
    auto r = svc->flow().observe(nanoseconds{0}, nanoseconds{0});
    return {r.critical_count, duration<double, std::milli>(r.critical_p50).count(),
            duration<double, std::milli>(r.sample.critical_p99).count()};
  }
};

// Raw CAF: one plain stateful actor per session, spawned by the driver setup; the same
// validation and state updates, no StreamVerse code on the path.
struct caf_session_state {
  std::string user;
  std::string content;
  std::string device;
  std::string region;
  int64_t position_ms = 0;
  int64_t bitrate_kbps = 0;
  int64_t buffer_ms = 0;
  int64_t dropped_frames = 0;
  uint32_t heartbeats = 0;
};

caf::behavior caf_session(caf::stateful_actor<caf_session_state>* self, open_request r) {
  self->state.user = std::move(r.user);
  self->state.content = std::move(r.content);
  self->state.device = std::move(r.device);
  self->state.region = std::move(r.region);
  return {
      [self](const heartbeat_report& h) -> caf::result<caf::ok_atom> {
        if (h.sent_at_ns > 0) {
          caf_record(h.sent_at_ns);
        }
        if (h.position_ms < 0 || h.bitrate_kbps < 0 || h.bitrate_kbps > 200'000) {
          return caf::make_error(caf::sec::invalid_argument);
        }
        auto& st = self->state;
        st.position_ms = h.position_ms;
        st.bitrate_kbps = h.bitrate_kbps;
        st.buffer_ms = h.buffer_ms;
        st.dropped_frames = h.dropped_frames;
        ++st.heartbeats;
        return caf::ok_atom::value;
      },
  };
}

struct caf_side {
  std::vector<caf::actor>* actors;

  template <class F, class G>
  void heartbeat(caf::event_based_actor* self, uint64_t id, uint64_t n, F ok, G fail) const {
    self->request<caf::message_priority::high>((*actors)[id - 1], caf::infinite, beat(id, n))
        .then([ok](caf::ok_atom) { ok(); }, [fail](caf::error&) { fail(); });
  }

  bool beat_oneway(uint64_t id, uint64_t n) const {
    auto h = beat(id, n);
    h.sent_at_ns = now_ns();
    caf::anon_send<caf::message_priority::high>((*actors)[id - 1], std::move(h));
    return true;
  }

  void reset_latency() const {
    for (auto& b : caf_receivers.buckets) {
      b.store(0);
    }
    caf_receivers.processed.store(0);
  }

  receiver_summary drain(uint64_t expected, nanoseconds limit) const {
    auto deadline = steady_clock::now() + limit;
    while (caf_receivers.processed.load() < expected && steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(1));
    }
    std::vector<uint64_t> counts;
    for (auto& b : caf_receivers.buckets) {
      counts.push_back(b.load());
    }
    auto total = caf_receivers.processed.load();
    return {total, bucket_percentile(counts, total, 0.5), bucket_percentile(counts, total, 0.99)};
  }
};

// -- the driver --------------------------------------------------------------------

struct driver_result {
  uint64_t done = 0;
  uint64_t failed = 0;
  std::vector<float> latency_ms;
};

struct driver_state {
  uint64_t first = 0;
  uint64_t count = 0; // sessions [first, first + count)
  uint64_t next_open = 0;
  uint64_t inflight = 0;
  uint64_t sent = 0;
  driver_result result;
  bool stopping = false;
  double credit = 0; // paced mode: heartbeats owed
  steady_clock::time_point last_tick;
  steady_clock::time_point end;
  std::mt19937_64 rng{42};
  caf::response_promise done;
};

template <class Side>
caf::behavior driver(caf::stateful_actor<driver_state>* self, Side side, uint64_t first,
                     uint64_t count, size_t window, double rate) {
  self->state.first = first;
  self->state.count = count;
  self->state.result.latency_ms.reserve(1 << 20);
  auto finish_if_idle = [self] {
    auto& st = self->state;
    if (st.stopping && st.inflight == 0 && st.done.pending()) {
      st.done.deliver(st.result.done, st.result.failed, st.result.latency_ms);
    }
  };
  // Sends one heartbeat to a random session of this driver and records its latency.
  auto send_one = [self, side, finish_if_idle](auto& again) -> void {
    auto& st = self->state;
    auto id = st.first + st.rng() % st.count;
    auto t0 = steady_clock::now();
    ++st.inflight;
    auto complete = [self, t0, finish_if_idle, &again](bool ok) {
      auto& st = self->state;
      --st.inflight;
      if (ok) {
        ++st.result.done;
        st.result.latency_ms.push_back(
            duration<float, std::milli>(steady_clock::now() - t0).count());
      } else {
        ++st.result.failed;
      }
      if (steady_clock::now() >= st.end) {
        st.stopping = true;
      }
      if (!st.stopping && st.credit < 0) { // closed loop marks itself with credit < 0
        again(again);
      }
      finish_if_idle();
    };
    side.heartbeat(
        self, id, st.sent++, [complete] { complete(true); }, [complete] { complete(false); });
  };
  return {
      [=](open_atom, uint64_t win) -> caf::result<uint64_t> {
        if constexpr (std::is_same<Side, sv_side>::value) {
          auto& st = self->state;
          st.done = self->make_response_promise();
          auto open_next = [self, side](auto& again) -> void {
            auto& st = self->state;
            if (st.next_open == st.count) {
              if (st.inflight == 0) {
                st.done.deliver(st.result.failed);
              }
              return;
            }
            auto id = st.first + st.next_open++;
            ++st.inflight;
            auto complete = [self, &again](bool ok) {
              --self->state.inflight;
              if (!ok) {
                ++self->state.result.failed;
              }
              again(again);
            };
            side.open(
                self, id, [complete] { complete(true); }, [complete] { complete(false); });
          };
          // The recursive lambda must outlive this handler: the actor keeps it until exit.
          auto step = std::make_shared<decltype(open_next)>(open_next);
          for (uint64_t i = 0; i < win && i < st.count; ++i) {
            (*step)(*step);
          }
          self->attach_functor([step] {});
          return st.done;
        } else {
          return uint64_t{0};
        }
      },
      [=](beat_atom, double secs) -> caf::result<uint64_t, uint64_t, std::vector<float>> {
        auto& st = self->state;
        st.done = self->make_response_promise();
        st.end =
            steady_clock::now() + duration_cast<steady_clock::duration>(duration<double>(secs));
        st.last_tick = steady_clock::now();
        auto sender = std::make_shared<decltype(send_one)>(send_one);
        self->attach_functor([sender] {});
        if (rate <= 0) {
          st.credit = -1;
          for (size_t i = 0; i < window; ++i) {
            (*sender)(*sender);
          }
        } else {
          st.credit = 0;
          self->send(self, tick_atom::value);
          self->become(caf::keep_behavior, [=](tick_atom) {
            auto& st = self->state;
            auto now = steady_clock::now();
            if (now >= st.end) {
              st.stopping = true;
              finish_if_idle();
              return;
            }
            st.credit += rate * duration<double>(now - st.last_tick).count();
            st.last_tick = now;
            // One-way sends: a player does not wait for its heartbeat's answer, and
            // thousands of pending requests would slow the driver itself down (CAF 0.17
            // keeps an actor's pending response handlers in a flat vector).
            for (; st.credit >= 1; st.credit -= 1) {
              auto id = st.first + st.rng() % st.count;
              if (side.beat_oneway(id, st.sent++)) {
                ++st.result.done;
              } else {
                ++st.result.failed;
              }
            }
            self->delayed_send(self, milliseconds(1), tick_atom::value);
          });
        }
        return st.done;
      },
  };
}

struct side_result {
  double bytes_per_session = 0;
  double open_per_s = 0;
  double heartbeats_per_s = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  uint64_t failed = 0;  ///< refused with overloaded (counted, answered)
  uint64_t backlog = 0; ///< paced: sent but still unprocessed when the drain time ran out
};

template <class Side>
void run_heartbeats(caf::actor_system& sys, Side side, const options& opt, side_result& out) {
  std::vector<caf::actor> drivers;
  auto per = opt.sessions / opt.drivers;
  for (size_t i = 0; i < opt.drivers; ++i) {
    auto count = i + 1 == opt.drivers ? opt.sessions - per * i : per;
    drivers.push_back(sys.spawn(driver<Side>, side, 1 + per * i, count, opt.window,
                                opt.rate / static_cast<double>(opt.drivers)));
  }
  caf::scoped_actor self{sys};
  std::vector<float> all;
  uint64_t done = 0;
  side.reset_latency();
  auto t0 = steady_clock::now();
  for (auto& d : drivers) {
    self->send(d, beat_atom::value, opt.seconds);
  }
  for (size_t i = 0; i < drivers.size(); ++i) {
    self->receive([&](uint64_t n, uint64_t failed, std::vector<float>& lat) {
      done += n;
      out.failed += failed;
      all.insert(all.end(), lat.begin(), lat.end());
    });
  }
  if (opt.rate > 0) {
    // Paced: heartbeats were one-way; the receivers measured their latency.
    // A side that cannot keep up gets at most max(10 s, S) to work off its backlog.
    auto r =
        side.drain(done, duration_cast<nanoseconds>(duration<double>(std::max(10.0, opt.seconds))));
    auto secs = duration<double>(steady_clock::now() - t0).count();
    out.heartbeats_per_s = static_cast<double>(r.processed) / secs;
    out.p50_ms = r.p50_ms;
    out.p99_ms = r.p99_ms;
    out.backlog = done - std::min(done, r.processed);
  } else {
    auto secs = duration<double>(steady_clock::now() - t0).count();
    out.heartbeats_per_s = static_cast<double>(done) / secs;
    out.p50_ms = percentile(all, 0.50);
    out.p99_ms = percentile(all, 0.99);
  }
  for (auto& d : drivers) {
    self->send_exit(d, caf::exit_reason::user_shutdown);
  }
}

void configure(caf::actor_system_config& cfg, const options& opt) {
  cfg.set("scheduler.max-threads", opt.threads);
  if (opt.max_throughput > 0) {
    cfg.set("scheduler.max-throughput", opt.max_throughput);
  }
  cfg.set("logger.console-verbosity", caf::atom("quiet"));
}

// One side's figures; `partial` (printed after setup) leaves out what is not measured yet,
// so that a side stopped during its heartbeat phase still reports its memory.
std::string side_json(const side_result& r, bool partial = false) {
  std::ostringstream out;
  out << "{\"bytes_per_session\":" << r.bytes_per_session << ",\"open_per_s\":" << r.open_per_s;
  if (partial) {
    out << ",\"partial\":true}";
    return out.str();
  }
  out << ",\"heartbeats_per_s\":" << r.heartbeats_per_s << ",\"hb_p50_ms\":" << r.p50_ms
      << ",\"hb_p99_ms\":" << r.p99_ms << ",\"failed\":" << r.failed << ",\"backlog\":" << r.backlog
      << "}";
  return out.str();
}

side_result run_sv(const options& opt) {
  side_result out;
  caf::actor_system_config cfg;
  configure(cfg, opt);
  caf::actor_system sys{cfg};
  sv::flow::flow_context flow;
  sv::session::service_settings ss;
  ss.hosts = opt.hosts;
  ss.host.idle_timeout = hours(1);
  sv::session::service svc{sys, flow, ss};
  auto rss0 = rss_bytes();
  // Open every session through the hosts, `window` opens in flight per driver.
  {
    std::vector<caf::actor> drivers;
    auto per = opt.sessions / opt.drivers;
    for (size_t i = 0; i < opt.drivers; ++i) {
      auto count = i + 1 == opt.drivers ? opt.sessions - per * i : per;
      drivers.push_back(
          sys.spawn(driver<sv_side>, sv_side{&svc}, 1 + per * i, count, opt.window, 0.0));
    }
    caf::scoped_actor self{sys};
    auto t0 = steady_clock::now();
    for (auto& d : drivers) {
      self->send(d, open_atom::value, uint64_t{opt.window});
    }
    for (size_t i = 0; i < drivers.size(); ++i) {
      self->receive([&](uint64_t failed) { out.failed += failed; });
    }
    out.open_per_s =
        static_cast<double>(opt.sessions) / duration<double>(steady_clock::now() - t0).count();
    for (auto& d : drivers) {
      self->send_exit(d, caf::exit_reason::user_shutdown);
    }
  }
  auto open = svc.open_sessions();
  if (!open || *open != opt.sessions) {
    std::cerr << "sv: expected " << opt.sessions << " open sessions\n";
  }
  out.bytes_per_session =
      static_cast<double>(rss_bytes() - rss0) / static_cast<double>(opt.sessions);
  std::cout << side_json(out, true) << std::endl;
  run_heartbeats(sys, sv_side{&svc}, opt, out);
  return out;
}

side_result run_caf(const options& opt) {
  side_result out;
  caf::actor_system_config cfg;
  configure(cfg, opt);
  caf::actor_system sys{cfg};
  std::vector<caf::actor> actors;
  actors.reserve(opt.sessions);
  auto rss0 = rss_bytes();
  auto t0 = steady_clock::now();
  for (uint64_t id = 1; id <= opt.sessions; ++id) {
    actors.push_back(sys.spawn(caf_session, viewer(id)));
  }
  out.open_per_s =
      static_cast<double>(opt.sessions) / duration<double>(steady_clock::now() - t0).count();
  out.bytes_per_session =
      static_cast<double>(rss_bytes() - rss0) / static_cast<double>(opt.sessions);
  std::cout << side_json(out, true) << std::endl;
  run_heartbeats(sys, caf_side{&actors}, opt, out);
  for (auto& a : actors) {
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  }
  return out;
}

// Runs this binary again in mode `mode` with the parent's flags; returns its last line,
// marked when the child did not finish (then it holds the setup figures the child
// reported before it was stopped).
std::string run_child(const char* self_path, const sv::bench::flags& flags, const char* mode,
                      double limit_s) {
  auto r = sv::bench::run_self(self_path, flags, mode, limit_s);
  if (!r.finished && !r.last_line.empty()) {
    return r.last_line + " (did not finish)";
  }
  return r.last_line;
}

// The value of `key` in a flat JSON object, or NaN (printed as null) when absent.
std::string field(const std::string& json, const std::string& key) {
  auto pos = json.find("\"" + key + "\":");
  if (pos == std::string::npos) {
    return "null";
  }
  auto start = pos + key.size() + 3;
  return json.substr(start, json.find_first_of(",}", start) - start);
}

// "true" when a child's line is its final report.
const char* finished(const std::string& line) {
  return !line.empty() && line.find("did not finish") == std::string::npos
                 && line.find("\"partial\":true") == std::string::npos
             ? "true"
             : "false";
}

// a / b for two numbers given as JSON text, or "null".
std::string ratio(const std::string& a, const std::string& b) {
  if (a == "null" || b == "null" || std::stod(b) == 0) {
    return "null";
  }
  return std::to_string(std::stod(a) / std::stod(b));
}

} // namespace

int main(int argc, char** argv) {
  options opt;
  sv::bench::flags flags;
  flags.add("sessions", opt.sessions)
      .add("seconds", opt.seconds)
      .add("rate", opt.rate)
      .add("hosts", opt.hosts)
      .add("threads", opt.threads)
      .add("drivers", opt.drivers)
      .add("window", opt.window)
      .add("max-throughput", opt.max_throughput)
      .add("mode", opt.mode);
  if (!flags.parse(argc, argv, std::cerr)) {
    return 2;
  }
  if (opt.sessions < opt.drivers || opt.seconds <= 0) {
    std::cerr << "need --sessions >= drivers and --seconds > 0\n";
    return 2;
  }
  if (opt.mode == "sv") {
    std::cout << side_json(run_sv(opt)) << std::endl;
    return 0;
  }
  if (opt.mode == "caf") {
    std::cout << side_json(run_caf(opt)) << std::endl;
    return 0;
  }
  // Room for setup, the run, draining and teardown; a side past it did not keep up.
  auto limit_s = 120 + 3 * opt.seconds + static_cast<double>(opt.sessions) / 50'000;
  auto sv_line = run_child(argv[0], flags, "sv", limit_s);
  std::cout << "streamverse: " << sv_line << std::endl;
  auto caf_line = run_child(argv[0], flags, "caf", limit_s);
  std::cout << "raw caf:     " << caf_line << std::endl;
  std::ostringstream json;
  json << "{\"sessions\":" << opt.sessions << ",\"seconds\":" << opt.seconds
       << ",\"offered_rate\":" << opt.rate << ",\"hosts\":" << opt.hosts
       << ",\"threads\":" << opt.threads
       << ",\"bytes_per_session\":" << field(sv_line, "bytes_per_session")
       << ",\"open_per_s\":" << field(sv_line, "open_per_s")
       << ",\"heartbeats_per_s\":" << field(sv_line, "heartbeats_per_s")
       << ",\"hb_p50_ms\":" << field(sv_line, "hb_p50_ms")
       << ",\"hb_p99_ms\":" << field(sv_line, "hb_p99_ms")
       << ",\"failed\":" << field(sv_line, "failed") << ",\"backlog\":" << field(sv_line, "backlog")
       << ",\"caf_bytes_per_session\":" << field(caf_line, "bytes_per_session")
       << ",\"caf_spawn_per_s\":" << field(caf_line, "open_per_s")
       << ",\"caf_heartbeats_per_s\":" << field(caf_line, "heartbeats_per_s")
       << ",\"caf_hb_p50_ms\":" << field(caf_line, "hb_p50_ms")
       << ",\"caf_hb_p99_ms\":" << field(caf_line, "hb_p99_ms")
       << ",\"caf_backlog\":" << field(caf_line, "backlog")
       << ",\"caf_finished\":" << finished(caf_line) << ",\"sv_finished\":" << finished(sv_line)
       << ",\"heartbeat_ratio\":"
       << ratio(field(sv_line, "heartbeats_per_s"), field(caf_line, "heartbeats_per_s")) << "}";
  std::cout << json.str() << std::endl;
  return 0;
}
