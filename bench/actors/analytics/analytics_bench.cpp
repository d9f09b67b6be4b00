// sv-bench-analytics: viewer events through one node's analytics (batcher -> partitions:
// durable history + real-time windows), with sessions heartbeating on the same node.
//
//   build/bin/sv-bench-analytics [--seconds S] [--threads T] [--sessions N] [--batch K]
//                                [--source blocks|events] [--paced-rate R]
//
// Phase 1: N sessions heartbeat in a closed loop (one prober thread) for S seconds: their
// p99 without analytics. Phase 2: the same, while T producer threads hand events over as
// fast as they are accepted, K at a time, retrying after `overloaded`: by default as blocks
// of session events, the form session hosts batch them in at the source (--source events:
// ViewerEvent messages through emit_many(), the form of host code and outside producers):
// events/s stored, acknowledgement and freshness p99 (bucket bounds of the node's
// histograms), the heartbeat p99 again. Phase 3: the producers paced at R events/s in all
// (default 100,000, the seed's rate): the heartbeat p99 against phase 1's
// (hb_p99_ratio_at_100k). Then every accepted event must be in the history exactly once:
// `lost` and `duplicates` come from reading every partition's file back. Raw CAF in the
// same run: the same events sent as messages to one plain actor that only counts them (the
// messaging ceiling of one protobuf event per message). Prints one line per figure, then
// one JSON object as its last line.

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "actors/analytics/analytics.hpp"
#include "actors/analytics/events.hpp"
#include "actors/analytics/history_store.hpp"
#include "actors/session/session_service.hpp"
#include "bench/support/flags.hpp"
#include "bench/support/percentile.hpp"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/send.hpp"
#include "runtime/metrics/registry.hpp"
#include "runtime/node/node.hpp"
#include "runtime/wire/errc.hpp"
#include "runtime/wire/protobuf.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
namespace v1 = streamverse::v1;

struct options {
  double seconds = 5;
  size_t threads = 1;
  size_t sessions = 10'000;
  size_t batch = 1024;           // events per block or emit_many() call; 1: emit()
  std::string source = "blocks"; // or "events"
  double paced_rate = 100'000;   // phase 3: events/s in all
};

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

using sv::bench::percentile_ms;

// The bucket bound (ms) under which a share q of a histogram's observations fall.
double histogram_quantile_ms(const sv::metrics::histogram& h, double q) {
  auto total = h.count();
  if (total == 0) {
    return 0;
  }
  auto want = static_cast<uint64_t>(q * static_cast<double>(total));
  for (size_t i = 0; i < h.upper_bounds().size(); ++i) {
    if (h.cumulative_count(i) >= want) {
      return h.upper_bounds()[i] * 1000;
    }
  }
  return h.upper_bounds().back() * 1000 * 2;
}

// Closed-loop heartbeats until `stop`: round trip times.
std::vector<int64_t> probe(sv::session::service& svc, size_t sessions, std::atomic<bool>& stop) {
  std::vector<int64_t> rtt;
  std::mt19937_64 rng{7};
  while (!stop.load()) {
    sv::session::heartbeat_report h;
    h.session_id = 1 + rng() % sessions;
    h.position_ms = 1000;
    h.bitrate_kbps = 3000;
    auto t0 = clock_type::now();
    svc.heartbeat(h);
    rtt.push_back(
        std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now() - t0).count());
  }
  return rtt;
}

v1::ViewerEvent make_event(uint64_t thread, uint64_t n) {
  v1::ViewerEvent e;
  e.set_event_id(std::to_string(thread) + "-" + std::to_string(n));
  e.set_session_id("s" + std::to_string(n % 100'000));
  e.set_user_id("u" + std::to_string(n % 100'000));
  e.set_content_id("title-" + std::to_string(n % 1000));
  e.set_region(n % 2 == 0 ? "eu-west" : "us-east");
  e.set_device("tv");
  e.set_type(n % 50 == 0 ? v1::EVENT_START : v1::EVENT_HEARTBEAT);
  e.set_timestamp_ms(wall_ms());
  e.set_bitrate_kbps(3000);
  e.set_watched_ms(2000);
  e.set_startup_ms(800);
  return e;
}

// Events [first, first + n) of producer `thread` as a session host's block: ids
// "bench-<thread>/<session>/<seq>", unique per event.
sv::session::session_event_block make_block(uint64_t thread, uint64_t first, size_t n) {
  sv::session::session_event_block b;
  b.source = "bench-" + std::to_string(thread);
  b.events.reserve(n);
  auto tv = b.text.add("tv");
  auto regions = std::array<sv::session::text_ref, 2>{b.text.add("eu-west"), b.text.add("us-east")};
  auto now = wall_ms();
  for (uint64_t k = first; k < first + n; ++k) {
    sv::session::session_event e;
    e.kind =
        k % 50 == 0 ? sv::session::session_event::opened : sv::session::session_event::heartbeat;
    e.session_id = k % 100'000 + 1;
    e.seq = static_cast<uint32_t>(k / 100'000 + 1);
    e.at_ms = now;
    e.bitrate_kbps = 3000;
    e.watched_ms = 2000;
    e.user = b.text.add("u" + std::to_string(k % 100'000));
    e.content = b.text.add("title-" + std::to_string(k % 1000));
    e.device = tv;
    e.region = regions[k % 2];
    b.events.push_back(e);
  }
  return b;
}

caf::behavior counter(caf::event_based_actor*, std::shared_ptr<std::atomic<uint64_t>> n) {
  return {[n](const v1::ViewerEvent&) {
    ++*n;
  }};
}

} // namespace

int main(int argc, char** argv) {
  options opt;
  sv::bench::flags flags;
  flags.add("seconds", opt.seconds)
      .add("threads", opt.threads)
      .add("sessions", opt.sessions)
      .add("batch", opt.batch)
      .add("source", opt.source)
      .add("paced-rate", opt.paced_rate);
  if (!flags.parse(argc, argv, std::cerr)) {
    return 2;
  }
  auto dir =
      std::filesystem::temp_directory_path() / ("sv-bench-analytics-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  sv::config::node_settings s;
  s.name = "bench";
  s.cluster_port = 0;
  s.data_dir = (dir / "node").string();
  s.scheduler_threads = 2;
  s.log_level = "warn";
  std::ostringstream json;
  json << std::fixed << std::setprecision(3);
  double hb_without = 0;
  double hb_with = 0;
  double hb_paced = 0;
  double paced_per_s = 0;
  double events_per_s = 0;
  uint64_t emitted = 0;
  uint64_t retries = 0;
  double ack_p99 = 0;
  double fresh_p99 = 0;
  {
    sv::node n{s, {sv::analytics::register_message_types}};
    if (!n.start().empty()) {
      return 1;
    }
    sv::session::service sessions{n};
    sv::analytics::analytics a{n};
    for (size_t i = 1; i <= opt.sessions; ++i) {
      sv::session::open_request r;
      r.session_id = i;
      r.user = "u" + std::to_string(i);
      r.content = "title-" + std::to_string(i % 1000);
      r.device = "tv";
      r.region = "eu-west";
      sessions.open(r);
    }
    auto timed = [&](auto during) {
      std::atomic<bool> stop{false};
      std::vector<int64_t> rtt;
      std::thread prober{[&] {
        rtt = probe(sessions, opt.sessions, stop);
      }};
      during(stop);
      stop = true;
      prober.join();
      return percentile_ms(rtt, 0.99);
    };
    auto wait_seconds = [&](std::atomic<bool>&) {
      std::this_thread::sleep_for(std::chrono::duration<double>(opt.seconds));
    };
    hb_without = timed(wait_seconds);
    std::cout << "heartbeat p99 without analytics: " << hb_without << " ms" << std::endl;

    std::atomic<uint64_t> sent{0};
    std::atomic<uint64_t> refused{0};
    // T producers until `producing` drops; `rate` > 0 paces them (events/s in all).
    auto produce = [&](std::atomic<bool>& producing, double rate, uint64_t base) {
      std::vector<std::thread> producers;
      for (size_t t = 0; t < opt.threads; ++t) {
        producers.emplace_back([&, t, rate, base] {
          uint64_t i = 0;
          auto t0 = clock_type::now();
          auto per_thread = rate / static_cast<double>(opt.threads);
          std::vector<v1::ViewerEvent> chunk;
          sv::session::session_event_block block_template;
          while (producing.load(std::memory_order_relaxed)) {
            if (per_thread > 0) {
              // Paced: wake when the next batch is due (a batching source wakes per batch).
              auto due_at = t0
                            + std::chrono::duration_cast<clock_type::duration>(
                                std::chrono::duration<double>(static_cast<double>(i) / per_thread));
              if (clock_type::now() < due_at) {
                std::this_thread::sleep_until(due_at);
                continue;
              }
            }
            if (opt.source == "blocks") {
              // A source that batches has its events at hand: a copy of a template with
              // fresh ids and times (the producer's own cost stays small).
              auto n = std::max<size_t>(1, opt.batch);
              if (block_template.events.size() != n) {
                block_template = make_block(t, 0, n);
              }
              auto b = block_template;
              auto now = wall_ms();
              for (size_t k = 0; k < n; ++k) {
                auto id = base + i + k;
                b.events[k].session_id = id % 100'000 + 1;
                b.events[k].seq = static_cast<uint32_t>(id / 100'000 + 1);
                b.events[k].at_ms = now;
              }
              if (a.emit_block(std::move(b))) {
                i += n;
              } else {
                // Overloaded: a source honours backpressure and backs off for a moment
                // (spinning here would take the core the stores need).
                ++refused;
                std::this_thread::sleep_for(std::chrono::milliseconds{1});
              }
              continue;
            }
            if (opt.batch <= 1) {
              if (a.emit(make_event(t, i))) {
                ++i;
              } else {
                ++refused;
                std::this_thread::yield();
              }
              continue;
            }
            if (chunk.empty()) {
              for (size_t k = 0; k < opt.batch; ++k) {
                chunk.push_back(make_event(t, i + k));
              }
            }
            if (a.emit_many(chunk)) {
              i += chunk.size();
              chunk.clear();
            } else {
              ++refused;
              std::this_thread::yield();
            }
          }
          sent += i;
        });
      }
      return producers;
    };
    double elapsed = 0;
    uint64_t stored_at_end = 0;
    hb_with = timed([&](std::atomic<bool>&) {
      std::atomic<bool> producing{true};
      auto t0 = clock_type::now();
      auto producers = produce(producing, 0, 0);
      std::this_thread::sleep_for(std::chrono::duration<double>(opt.seconds));
      producing = false;
      for (auto& p : producers) {
        p.join();
      }
      elapsed = std::chrono::duration<double>(clock_type::now() - t0).count();
      stored_at_end = a.stats().stored;
    });
    a.drain(std::chrono::seconds{60});
    // Phase 3: the seed's rate, paced.
    auto stored_before = a.stats().stored;
    double paced_elapsed = 0;
    hb_paced = timed([&](std::atomic<bool>&) {
      std::atomic<bool> producing{true};
      auto t0 = clock_type::now();
      auto producers = produce(producing, opt.paced_rate, uint64_t{1} << 40); // ids apart
      std::this_thread::sleep_for(std::chrono::duration<double>(opt.seconds));
      producing = false;
      for (auto& p : producers) {
        p.join();
      }
      paced_elapsed = std::chrono::duration<double>(clock_type::now() - t0).count();
    });
    a.drain(std::chrono::seconds{60});
    paced_per_s = static_cast<double>(a.stats().stored - stored_before) / paced_elapsed;
    emitted = sent;
    retries = refused;
    events_per_s = static_cast<double>(stored_at_end) / elapsed;
    auto& reg = n.metrics();
    ack_p99 = histogram_quantile_ms(
        reg.histogram_metric("sv_analytics_ack_seconds", "", sv::metrics::latency_buckets()), 0.99);
    fresh_p99 = histogram_quantile_ms(
        reg.histogram_metric("sv_analytics_freshness_seconds", "", sv::metrics::latency_buckets()),
        0.99);
    std::cout << "events stored/s: " << events_per_s << " (" << emitted << " accepted, " << retries
              << " overloaded retries); ack p99 <= " << ack_p99
              << " ms, freshness p99 <= " << fresh_p99
              << " ms; heartbeat p99 with analytics: " << hb_with << " ms" << std::endl;
    std::cout << "paced at " << opt.paced_rate << " events/s (" << paced_per_s
              << " stored/s): heartbeat p99 " << hb_paced << " ms, "
              << (hb_without > 0 ? hb_paced / hb_without : 0) << "x the p99 without" << std::endl;
  }
  // Every accepted event exactly once in the history files (ids compared by 64-bit hash).
  uint64_t in_files = 0;
  std::vector<uint64_t> ids;
  for (auto& f : std::filesystem::directory_iterator(dir / "node" / "analytics")) {
    if (f.path().extension() != ".db") {
      continue;
    }
    sv::analytics::history_store h{f.path().string()};
    h.for_each([&](const sv::analytics::event_view& e) {
      ++in_files;
      ids.push_back(sv::analytics::session_key_of(e.event_id()));
    });
  }
  std::sort(ids.begin(), ids.end());
  uint64_t duplicates = 0;
  for (size_t i = 1; i < ids.size(); ++i) {
    duplicates += ids[i] == ids[i - 1] ? 1 : 0;
  }
  auto distinct = ids.size() - duplicates;
  auto lost = emitted > distinct ? emitted - distinct : 0;
  std::cout << "history: " << in_files << " events, " << distinct << " distinct; lost " << lost
            << ", duplicates " << duplicates << std::endl;
  // Raw CAF: the same events to one counting actor.
  double raw_per_s = 0;
  {
    caf::actor_system_config cfg;
    sv::analytics::register_message_types(cfg);
    cfg.set("scheduler.max-threads", size_t{2});
    caf::actor_system sys{cfg};
    auto n = std::make_shared<std::atomic<uint64_t>>(0);
    auto c = sys.spawn(counter, n);
    auto t0 = clock_type::now();
    auto end = t0
               + std::chrono::duration_cast<clock_type::duration>(
                   std::chrono::duration<double>(opt.seconds));
    uint64_t i = 0;
    while (clock_type::now() < end) {
      for (int k = 0; k < 256; ++k) {
        caf::anon_send(c, make_event(0, i++));
      }
      while (i - n->load() > 200'000) { // the same bound on what is in flight
        std::this_thread::yield();
      }
    }
    while (n->load() < i) {
      std::this_thread::yield();
    }
    raw_per_s =
        static_cast<double>(i) / std::chrono::duration<double>(clock_type::now() - t0).count();
    caf::anon_send_exit(c, caf::exit_reason::user_shutdown);
  }
  std::cout << "raw CAF, events to one counting actor: " << raw_per_s << "/s" << std::endl;
  std::filesystem::remove_all(dir);
  json << "{\"seconds\":" << opt.seconds << ",\"threads\":" << opt.threads
       << ",\"batch\":" << opt.batch << ",\"events_per_s\":" << std::setprecision(0) << events_per_s
       << std::setprecision(3) << ",\"accepted\":" << emitted
       << ",\"overloaded_retries\":" << retries << ",\"ack_p99_ms\":" << ack_p99
       << ",\"freshness_p99_ms\":" << fresh_p99 << ",\"lost\":" << lost
       << ",\"duplicates\":" << duplicates << ",\"hb_p99_ms_without\":" << hb_without
       << ",\"hb_p99_ms_with\":" << hb_with
       << ",\"hb_p99_ratio\":" << (hb_without > 0 ? hb_with / hb_without : 0) << ",\"source\":\""
       << opt.source << "\",\"paced_rate\":" << opt.paced_rate
       << ",\"paced_stored_per_s\":" << paced_per_s << ",\"hb_p99_ms_paced\":" << hb_paced
       << ",\"hb_p99_ratio_at_100k\":" << (hb_without > 0 ? hb_paced / hb_without : 0)
       << ",\"raw_caf_count_per_s\":" << std::setprecision(0) << raw_per_s << "}";
  std::cout << json.str() << std::endl;
  return 0;
}
