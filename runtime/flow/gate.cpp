#include "runtime/flow/gate.hpp"

#include <algorithm>

namespace sv::flow {

gate::gate(gate_settings settings) : settings_(settings) {}

decision gate::check(service_class c, int64_t depth, level lvl) const noexcept {
  using std::chrono::milliseconds;
  if (settings_.policy.refuses(lvl, c)) {
    auto hint = settings_.level_retry * static_cast<int>(lvl);
    return {verdict::shed_by_level, std::min(hint, settings_.max_retry)};
  }
  auto watermark = static_cast<int64_t>(std::max<uint32_t>(1, settings_.watermarks[index(c)]));
  if (depth < watermark) {
    return {};
  }
  // At the watermark the hint is base_retry; twice as deep, twice as long.
  auto hint = milliseconds{settings_.base_retry.count() * depth / watermark};
  return {verdict::over_watermark,
          std::min(std::max(hint, settings_.base_retry), settings_.max_retry)};
}

decision gate::admit(service_class c, const load_cell& cell, level lvl) noexcept {
  auto d = check(c, cell.depth(), lvl);
  auto& counter = d.admitted() ? admitted_[index(c)] : refused_[index(c)];
  counter.fetch_add(1, std::memory_order_relaxed);
  return d;
}

} // namespace sv::flow
