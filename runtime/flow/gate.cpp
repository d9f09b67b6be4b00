#include "runtime/flow/gate.hpp"

#include <algorithm>

namespace sv::flow {

gate::gate(gate_settings settings) : settings_(settings) {}

int64_t gate::effective_watermark(service_class c,
                                  std::chrono::nanoseconds service_time) const noexcept {
  auto watermark = static_cast<int64_t>(std::max<uint32_t>(1, settings_.watermarks[index(c)]));
  auto budget = std::chrono::duration_cast<std::chrono::nanoseconds>(settings_.queue_delay_budget);
  if (c == service_class::critical || budget.count() == 0 || service_time.count() == 0) {
    return watermark;
  }
  return std::max<int64_t>(1, std::min(watermark, budget.count() / service_time.count()));
}

decision gate::check(service_class c, int64_t depth, level lvl,
                     std::chrono::nanoseconds service_time, int64_t urgent_depth) const noexcept {
  using std::chrono::milliseconds;
  if (settings_.policy.refuses(lvl, c)) {
    auto hint = settings_.level_retry * static_cast<int>(lvl);
    return {verdict::shed_by_level, std::min(hint, settings_.max_retry)};
  }
  auto backlog = std::chrono::nanoseconds{service_time.count() * urgent_depth};
  if (c != service_class::critical && settings_.critical_backlog_budget.count() > 0
      && service_time.count() > 0 && backlog >= settings_.critical_backlog_budget) {
    return {verdict::critical_first, settings_.base_retry};
  }
  auto watermark = effective_watermark(c, service_time);
  if (depth < watermark) {
    return {};
  }
  // At the watermark the hint is base_retry; twice as deep, twice as long.
  auto hint = milliseconds{settings_.base_retry.count() * depth / watermark};
  return {verdict::over_watermark,
          std::min(std::max(hint, settings_.base_retry), settings_.max_retry)};
}

decision gate::admit(service_class c, const load_cell& cell, level lvl) noexcept {
  auto d = check(c, cell.depth(), lvl, cell.service_time(), cell.urgent_depth());
  auto& counter = d.admitted() ? admitted_[index(c)] : refused_[index(c)];
  counter.fetch_add(1, std::memory_order_relaxed);
  if (d.why == verdict::shed_by_level) {
    shed_work_ns_.fetch_add(cell.service_time().count(), std::memory_order_relaxed);
  }
  return d;
}

} // namespace sv::flow
