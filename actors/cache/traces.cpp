#include "actors/cache/traces.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <unordered_map>

namespace sv::cache {

namespace {

// Draws Zipf(s) ranks in [0, n) from a precomputed cumulative distribution.
class zipf_sampler {
public:
  zipf_sampler(size_t n, double s) : cdf_(n) {
    double sum = 0;
    for (size_t i = 0; i < n; ++i) {
      sum += 1.0 / std::pow(static_cast<double>(i + 1), s);
      cdf_[i] = sum;
    }
    for (auto& x : cdf_) {
      x /= sum;
    }
  }

  template <class Rng>
  size_t operator()(Rng& rng) {
    auto u = std::uniform_real_distribution<double>{0, 1}(rng);
    auto i = std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin();
    return std::min(static_cast<size_t>(i), cdf_.size() - 1);
  }

private:
  std::vector<double> cdf_;
};

std::vector<uint64_t> shuffled_ids(size_t n, std::mt19937_64& rng) {
  std::vector<uint64_t> ids(n);
  std::iota(ids.begin(), ids.end(), uint64_t{1});
  std::shuffle(ids.begin(), ids.end(), rng);
  return ids;
}

} // namespace

std::vector<uint64_t> zipf_trace(size_t keys, double s, size_t requests, uint64_t seed) {
  std::mt19937_64 rng{seed};
  auto ids = shuffled_ids(keys, rng);
  zipf_sampler zipf{keys, s};
  std::vector<uint64_t> out(requests);
  for (auto& x : out) {
    x = ids[zipf(rng)];
  }
  return out;
}

std::vector<uint64_t> release_trace(size_t keys, size_t requests, size_t releases, uint64_t seed) {
  std::mt19937_64 rng{seed};
  auto ids = shuffled_ids(keys, rng);
  zipf_sampler catalogue{keys, 0.8};
  constexpr size_t batch = 50; // titles per release
  zipf_sampler within{batch, 1.0};
  auto period = std::max<size_t>(1, requests / std::max<size_t>(1, releases));
  std::vector<uint64_t> out(requests);
  std::uniform_real_distribution<double> u{0, 1};
  for (size_t i = 0; i < requests; ++i) {
    auto release = i / period;
    // Half of the traffic goes to releases: the newest gets most, older ones fade fast.
    if (u(rng) < 0.5) {
      size_t age = 0;
      while (age < release && u(rng) < 0.35) {
        ++age;
      }
      auto r = release - age;
      out[i] = (uint64_t{1} << 40) + r * batch + within(rng); // ids outside the catalogue
    } else {
      out[i] = ids[catalogue(rng)];
    }
  }
  return out;
}

std::vector<uint64_t> scan_trace(size_t keys, double s, size_t requests, double scan_share,
                                 uint64_t seed) {
  std::mt19937_64 rng{seed};
  auto ids = shuffled_ids(keys, rng);
  zipf_sampler zipf{keys, s};
  std::vector<uint64_t> out;
  out.reserve(requests);
  std::uniform_real_distribution<double> u{0, 1};
  uint64_t next_scan_key = uint64_t{1} << 41; // never requested otherwise
  constexpr size_t scan_length = 20'000;
  // Scans come in runs of scan_length; their starts are placed so that their share of
  // requests is scan_share.
  auto start_probability = scan_share / (static_cast<double>(scan_length) * (1 - scan_share));
  while (out.size() < requests) {
    if (u(rng) < start_probability) {
      for (size_t k = 0; k < scan_length && out.size() < requests; ++k) {
        out.push_back(next_scan_key++);
      }
    } else {
      out.push_back(ids[zipf(rng)]);
    }
  }
  return out;
}

uint64_t belady_hits(const std::vector<uint64_t>& trace, size_t capacity) {
  if (capacity == 0) {
    return 0;
  }
  constexpr auto never = std::numeric_limits<size_t>::max();
  std::vector<size_t> next_use(trace.size());
  {
    std::unordered_map<uint64_t, size_t> seen;
    seen.reserve(trace.size() / 4);
    for (size_t i = trace.size(); i-- > 0;) {
      auto it = seen.find(trace[i]);
      next_use[i] = it == seen.end() ? never : it->second;
      seen[trace[i]] = i;
    }
  }
  std::set<std::pair<size_t, uint64_t>> by_next; // (next use, key) of cached keys
  std::unordered_map<uint64_t, size_t> cached;   // key -> its next use
  cached.reserve(capacity * 2);
  uint64_t hits = 0;
  for (size_t i = 0; i < trace.size(); ++i) {
    auto key = trace[i];
    if (auto c = cached.find(key); c != cached.end()) {
      ++hits;
      by_next.erase({c->second, key});
      c->second = next_use[i];
      by_next.insert({next_use[i], key});
      continue;
    }
    if (next_use[i] == never) {
      continue; // never used again: do not cache
    }
    if (cached.size() >= capacity) {
      auto furthest = std::prev(by_next.end());
      if (furthest->first <= next_use[i]) {
        continue; // everything cached is needed sooner
      }
      cached.erase(furthest->second);
      by_next.erase(furthest);
    }
    cached[key] = next_use[i];
    by_next.insert({next_use[i], key});
  }
  return hits;
}

} // namespace sv::cache
