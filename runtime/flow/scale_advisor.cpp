#include "runtime/flow/scale_advisor.hpp"

#include <algorithm>
#include <cmath>

namespace sv::flow {

uint32_t scale_advisor::raw(const scale_input& in) const {
  auto nodes = std::max<uint32_t>(in.nodes, 1);
  double ratio = 0;
  if (s_.target_utilization > 0) {
    ratio = std::max(ratio, in.utilization / s_.target_utilization);
  }
  if (s_.held_per_node > 0) {
    ratio = std::max(ratio, static_cast<double>(in.held) / static_cast<double>(s_.held_per_node));
  }
  double want = std::abs(ratio - 1) <= s_.tolerance ? nodes : std::ceil(nodes * ratio);
  if (in.level >= 2) {
    want = std::max(want, static_cast<double>(nodes) + 1);
  }
  want = std::clamp(want, static_cast<double>(s_.min_nodes),
                    static_cast<double>(std::max(s_.min_nodes, s_.max_nodes)));
  return static_cast<uint32_t>(want);
}

uint32_t scale_advisor::desired(const scale_input& in, std::chrono::nanoseconds now) {
  window_.emplace_back(now, raw(in));
  while (!window_.empty() && now - window_.front().first > s_.down_stabilization) {
    window_.pop_front();
  }
  uint32_t best = 0;
  for (auto& [when, n] : window_) {
    best = std::max(best, n);
  }
  return best;
}

} // namespace sv::flow
