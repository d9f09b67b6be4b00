#pragma once

// The q-quantile (0..1) of latencies in nanoseconds, in milliseconds: the value at index
// floor(q * (n - 1)) of the sorted samples; `empty` when there are none.

#include <algorithm>
#include <cstdint>
#include <vector>

namespace sv::bench {

inline double percentile_ms(std::vector<int64_t> ns, double q, double empty = 0) {
  if (ns.empty()) {
    return empty;
  }
  std::sort(ns.begin(), ns.end());
  auto i = static_cast<size_t>(q * static_cast<double>(ns.size() - 1));
  return static_cast<double>(ns[i]) / 1e6;
}

} // namespace sv::bench
