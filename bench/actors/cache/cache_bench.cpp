// sv-bench-cache: trace-driven hit ratios of LRU, StreamVerse's policy (TinyLFU admission
// with an adaptive window) and Belady's optimum (OPT), computed in one run on traces
// generated from fixed seeds, for caches of 1% and 10% of the keys.
//
//   build/bin/sv-bench-cache [--keys K] [--requests R] [--seconds S] [--threads T]
//
// Per trace and size also `top_keys`: the share of requests to the most requested keys
// (as many as fit), the ceiling of frequency-based policies on the stationary traces.
// Traces: Zipf 0.8 and Zipf 1.0 (stationary), a release calendar (new titles go viral
// and fade), Zipf 1.0 with 20% scan requests. Then throughput on three nodes on loopback
// (cache_cluster.hpp): L1 gets/s of hot keys on one node (T reader threads) against the same
// reads as requests to a CAF actor holding a map, and the p50/p99 of a get served by a
// shard on another node against a raw CAF request/response to that node. Prints one line
// per figure, then one JSON object as its last line. `origin_reduction` is 1 - origin
// fetches / requests of StreamVerse's policy on Zipf 1.0 at 10% (a fetch per miss: misses
// of one key in flight together coalesce into one fetch, so this is the upper bound).

#include <algorithm>
#include <chrono>
#include <functional>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "actors/cache/policy.hpp"
#include "actors/cache/traces.hpp"
#include "bench/actors/cache/cache_cluster.hpp"
#include "bench/support/flags.hpp"

namespace {

struct options {
  size_t keys = 1'000'000;
  size_t requests = 10'000'000;
  double seconds = 5;
  size_t threads = 2;
};

struct ratios {
  double lru = 0;
  double ours = 0;
  double opt = 0;
  double top = 0; // share of requests to the `capacity` most requested keys of the trace
};

// What a cache holding exactly the most requested keys of the whole trace would hit: on a
// stationary trace, the ceiling of any policy that ranks keys by frequency (it knows the
// true frequencies from the start). OPT is above it because it also knows the order.
double top_share(const std::vector<uint64_t>& trace, size_t capacity) {
  std::unordered_map<uint64_t, uint64_t> counts;
  for (auto k : trace) {
    ++counts[k];
  }
  std::vector<uint64_t> c;
  c.reserve(counts.size());
  for (auto& [k, n] : counts) {
    c.push_back(n);
  }
  auto keep = std::min(capacity, c.size());
  std::partial_sort(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(keep), c.end(),
                    std::greater<>{});
  uint64_t hits = 0;
  for (size_t i = 0; i < keep; ++i) {
    hits += c[i];
  }
  return static_cast<double>(hits) / static_cast<double>(trace.size());
}

ratios evaluate(const std::vector<uint64_t>& trace, size_t capacity) {
  sv::cache::lru_cache lru{capacity};
  sv::cache::tinylfu_cache ours{capacity};
  uint64_t lru_hits = 0;
  uint64_t our_hits = 0;
  for (auto k : trace) {
    lru_hits += lru.access(k);
    our_hits += ours.access(k);
  }
  auto n = static_cast<double>(trace.size());
  return {static_cast<double>(lru_hits) / n, static_cast<double>(our_hits) / n,
          static_cast<double>(sv::cache::belady_hits(trace, capacity)) / n,
          top_share(trace, capacity)};
}

} // namespace

int main(int argc, char** argv) {
  options opt;
  sv::bench::flags flags;
  flags.add("keys", opt.keys)
      .add("requests", opt.requests)
      .add("seconds", opt.seconds)
      .add("threads", opt.threads);
  if (!flags.parse(argc, argv, std::cerr)) {
    return 2;
  }
  if (opt.keys < 100 || opt.requests < 1000) {
    std::cerr << "need --keys >= 100 and --requests >= 1000\n";
    return 2;
  }
  struct named {
    std::string name;
    std::vector<uint64_t> trace;
  };
  std::vector<named> traces;
  traces.push_back({"zipf_0.8", sv::cache::zipf_trace(opt.keys, 0.8, opt.requests, 11)});
  traces.push_back({"zipf_1.0", sv::cache::zipf_trace(opt.keys, 1.0, opt.requests, 12)});
  traces.push_back({"release", sv::cache::release_trace(opt.keys, opt.requests, 100, 13)});
  traces.push_back({"scan", sv::cache::scan_trace(opt.keys, 1.0, opt.requests, 0.2, 14)});
  std::ostringstream json;
  json << std::fixed << std::setprecision(4) << "{\"keys\":" << opt.keys
       << ",\"requests\":" << opt.requests;
  bool ours_at_least_lru = true;
  double worst_gap_to_opt = 0;
  double origin_reduction = 0;
  for (auto& t : traces) {
    for (auto [label, share] : {std::pair{"1pct", 0.01}, std::pair{"10pct", 0.10}}) {
      auto capacity = static_cast<size_t>(static_cast<double>(opt.keys) * share);
      auto start = std::chrono::steady_clock::now();
      auto r = evaluate(t.trace, capacity);
      auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::cout << t.name << " " << label << ": lru " << r.lru << ", ours " << r.ours << ", opt "
                << r.opt << ", top keys " << r.top << " (" << secs << " s)" << std::endl;
      auto key = t.name + "_" + label;
      json << ",\"" << key << "\":{\"lru\":" << r.lru << ",\"ours\":" << r.ours
           << ",\"opt\":" << r.opt << ",\"top_keys\":" << r.top << "}";
      if (label == std::string{"10pct"}) {
        json << ",\"" << t.name << "_origin_reduction\":" << r.ours;
        if (t.name == "zipf_1.0") {
          origin_reduction = r.ours;
        }
      }
      ours_at_least_lru = ours_at_least_lru && r.ours >= r.lru;
      worst_gap_to_opt = std::max(worst_gap_to_opt, r.opt - r.ours);
    }
  }
  json << ",\"ours_at_least_lru_everywhere\":" << (ours_at_least_lru ? "true" : "false")
       << ",\"worst_gap_to_opt\":" << worst_gap_to_opt
       << ",\"origin_reduction\":" << origin_reduction;
  auto c = sv::bench::run_cache_cluster(opt.seconds, opt.threads);
  std::cout << "three nodes formed: " << (c.formed ? "yes" : "no")
            << "\nL1 gets/s: " << c.l1_gets_per_s
            << " (raw CAF map actor: " << c.raw_caf_map_gets_per_s
            << ")\nL2 remote get p50/p99 ms: " << c.l2_get_p50_ms << " / " << c.l2_get_p99_ms
            << " over " << c.l2_samples << " gets (raw CAF hop: " << c.raw_caf_hop_p50_ms << " / "
            << c.raw_caf_hop_p99_ms << ")" << std::endl;
  json << ",\"cluster_formed\":" << (c.formed ? "true" : "false")
       << ",\"l1_gets_per_s\":" << std::setprecision(0) << c.l1_gets_per_s
       << ",\"raw_caf_map_gets_per_s\":" << c.raw_caf_map_gets_per_s << std::setprecision(4)
       << ",\"l2_get_p50_ms\":" << c.l2_get_p50_ms << ",\"l2_get_p99_ms\":" << c.l2_get_p99_ms
       << ",\"l2_samples\":" << c.l2_samples << ",\"raw_caf_hop_p50_ms\":" << c.raw_caf_hop_p50_ms
       << ",\"raw_caf_hop_p99_ms\":" << c.raw_caf_hop_p99_ms << "}";
  std::cout << json.str() << std::endl;
  return 0;
}
