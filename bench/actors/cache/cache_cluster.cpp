#include "bench/actors/cache/cache_cluster.hpp"
#include "actors/cache/cache_settings.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "actors/cache/cache.hpp"
#include "bench/support/percentile.hpp"
#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/scoped_actor.hpp"
#include "runtime/cluster/client.hpp"
#include "runtime/cluster/endpoint.hpp"
#include "runtime/cluster/placement.hpp"
#include "runtime/node/node.hpp"

namespace sv::bench {

namespace {

using clock_type = std::chrono::steady_clock;

using sv::bench::percentile_ms;

template <class Pred>
bool wait_for(Pred pred, std::chrono::seconds limit) {
  auto end = clock_type::now() + limit;
  while (clock_type::now() < end) {
    if (pred()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  return pred();
}

caf::behavior map_actor(caf::event_based_actor*,
                        std::shared_ptr<std::unordered_map<std::string, std::string>> m) {
  return {[m](caf::get_atom, const std::string& k) {
    return m->at(k);
  }};
}

caf::behavior echo_actor(caf::event_based_actor*) {
  return {[](const std::string& s) {
    return s;
  }};
}

} // namespace

cache_cluster_figures run_cache_cluster(double seconds, size_t threads) {
  cache_cluster_figures out;
  auto dir =
      std::filesystem::temp_directory_path() / ("sv-bench-cache-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::vector<std::unique_ptr<sv::node>> nodes;
  std::vector<std::unique_ptr<sv::cache::cache>> caches;
  const std::string payload(200, 'v');
  for (auto name : {"node-a", "node-b", "node-c"}) {
    sv::config::node_settings s;
    s.name = name;
    s.cluster_port = 0;
    s.data_dir = (dir / name).string();
    s.scheduler_threads = 2;
    s.gossip_interval_ms = 100;
    s.seed_retry_ms = 50;
    s.log_level = "warn";
    s.section<sv::config::cache_node_settings>().hot_threshold = 4;
    s.section<sv::config::cache_node_settings>().cool_below_hits = 1;
    s.section<sv::config::cache_node_settings>().l1_bytes = 64ull << 20;
    s.section<sv::config::cache_node_settings>().l2_bytes = 256ull << 20;
    if (!nodes.empty()) {
      s.seeds = {{"127.0.0.1", nodes[0]->cluster_port()}};
    }
    auto n = std::make_unique<sv::node>(
        s, std::vector<sv::node::type_registrar>{sv::cache::register_message_types});
    if (!n->start().empty()) {
      return out;
    }
    auto c = std::make_unique<sv::cache::cache>(*n);
    c->set_loader("b", [payload](const std::string&, sv::cache::load_done done) {
      done(sv::cache::loaded{payload, 1, {}});
    });
    caches.push_back(std::move(c));
    nodes.push_back(std::move(n));
  }
  out.formed = wait_for(
      [&] {
        return std::all_of(nodes.begin(), nodes.end(), [](auto& n) {
          return n->status().members_up == 3 && n->status().peers == 2;
        });
      },
      std::chrono::seconds{20});
  if (!out.formed) {
    return out;
  }
  auto& a = *caches[0];

  // -- L1: 1,000 keys turned hot through the shards, then read on `threads` threads.
  constexpr size_t hot_keys = 1000;
  for (size_t k = 0; k < hot_keys; ++k) {
    for (int i = 0; i < 5; ++i) {
      a.get("b/hot-" + std::to_string(k));
    }
  }
  wait_for(
      [&] {
        for (size_t k = 0; k < hot_keys; ++k) {
          if (!a.l1().contains("b/hot-" + std::to_string(k))) {
            return false;
          }
        }
        return true;
      },
      std::chrono::seconds{10});
  auto run_readers = [&](auto read) {
    std::atomic<uint64_t> total{0};
    std::vector<std::thread> ts;
    auto end =
        clock_type::now()
        + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(seconds));
    for (size_t t = 0; t < threads; ++t) {
      ts.emplace_back([&, t] {
        std::mt19937_64 rng{t + 1};
        std::vector<std::string> keys;
        for (size_t k = 0; k < hot_keys; ++k) {
          keys.push_back("b/hot-" + std::to_string(k));
        }
        uint64_t n = 0;
        while (clock_type::now() < end) {
          for (int i = 0; i < 256; ++i) {
            n += read(keys[rng() % hot_keys]) ? 1 : 0;
          }
        }
        total += n;
      });
    }
    for (auto& t : ts) {
      t.join();
    }
    return static_cast<double>(total.load()) / seconds;
  };
  out.l1_gets_per_s = run_readers([&](const std::string& k) {
    auto v = a.get(k);
    return v && v->source == "l1";
  });
  {
    auto m = std::make_shared<std::unordered_map<std::string, std::string>>();
    for (size_t k = 0; k < hot_keys; ++k) {
      (*m)["b/hot-" + std::to_string(k)] = payload;
    }
    auto& sys = nodes[0]->system();
    auto holder = sys.spawn(map_actor, m);
    out.raw_caf_map_gets_per_s = run_readers([&](const std::string& k) {
      // One blocking actor per reader thread (gone when the thread ends).
      thread_local std::unique_ptr<caf::scoped_actor> self;
      if (!self) {
        self = std::make_unique<caf::scoped_actor>(sys);
      }
      bool ok = false;
      (*self)
          ->request(holder, caf::infinite, caf::get_atom::value, k)
          .receive([&](const std::string& v) { ok = !v.empty(); }, [](caf::error&) {});
      return ok;
    });
    caf::anon_send_exit(holder, caf::exit_reason::user_shutdown);
  }

  // -- L2: keys whose shard lives on another node, loaded once, then read from node-a.
  std::vector<std::string> up{"node-a", "node-b", "node-c"};
  auto shards = nodes[0]->settings().section<sv::config::cache_node_settings>().shards;
  std::vector<std::string> remote;
  for (size_t k = 0; remote.size() < 5000; ++k) {
    auto key = "b/cold-" + std::to_string(k);
    auto shard = sv::cache::key_hash(key) % shards;
    if (sv::cluster::owner_of("cache-shard-" + std::to_string(shard), up) != "node-a") {
      remote.push_back(key);
    }
  }
  for (auto& k : remote) {
    caches[1]->get(k);
  }
  std::vector<int64_t> l2;
  auto end =
      clock_type::now()
      + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(seconds));
  for (size_t i = 0; clock_type::now() < end; ++i) {
    auto t0 = clock_type::now();
    auto v = a.get(remote[i % remote.size()]);
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now() - t0).count();
    if (v && v->source == "l2") {
      l2.push_back(ns);
    }
  }
  out.l2_samples = l2.size();
  out.l2_get_p50_ms = percentile_ms(l2, 0.5);
  out.l2_get_p99_ms = percentile_ms(l2, 0.99);

  // -- Raw CAF: request/response with an echo actor on node-b, the same payload.
  {
    auto echo = nodes[1]->system().spawn(echo_actor);
    sv::cluster::register_service(nodes[1]->system(), caf::atom("b_echo"), echo);
    auto remote_echo =
        sv::cluster::lookup_service(nodes[0]->system(), "127.0.0.1", nodes[1]->cluster_port(),
                                    caf::atom("b_echo"), std::chrono::seconds{5});
    std::vector<int64_t> hop;
    if (remote_echo) {
      caf::scoped_actor self{nodes[0]->system()};
      auto stop = clock_type::now()
                  + std::chrono::duration_cast<clock_type::duration>(
                      std::chrono::duration<double>(seconds));
      while (clock_type::now() < stop) {
        auto t0 = clock_type::now();
        self->request(*remote_echo, caf::infinite, payload)
            .receive([](const std::string&) {}, [](caf::error&) {});
        hop.push_back(
            std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now() - t0).count());
      }
    }
    out.raw_caf_hop_p50_ms = percentile_ms(hop, 0.5);
    out.raw_caf_hop_p99_ms = percentile_ms(hop, 0.99);
    caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
  }
  for (size_t i = 0; i < nodes.size(); ++i) {
    caches[i].reset();
  }
  nodes.clear();
  std::filesystem::remove_all(dir);
  return out;
}

} // namespace sv::bench
