#include "runtime/flow/degrader.hpp"

#include <algorithm>

namespace sv::flow {

double pressure(const load_sample& s, const pressure_budget& b) noexcept {
  auto ratio = [](std::chrono::nanoseconds x, std::chrono::nanoseconds budget) {
    return budget.count() > 0 ? static_cast<double>(x.count()) / static_cast<double>(budget.count())
                              : 0.0;
  };
  auto critical = ratio(s.critical_p99, b.critical_p99);
  auto lag = ratio(s.dispatch_lag, b.dispatch_lag);
  auto corroborated =
      critical >= 0.5 || s.depth_ratio >= 0.5 || s.utilization >= b.busy_utilization;
  if (!corroborated) {
    lag = std::min(lag, b.lag_alone_cap);
  }
  return std::max({0.0, s.depth_ratio, lag, critical});
}

degrader::degrader(degrader_settings settings) : settings_(settings) {}

level degrader::justified(double pressure, double gap) const noexcept {
  auto result = level::l0;
  for (size_t i = 0; i < settings_.enter.size(); ++i) {
    if (pressure >= settings_.enter[i] - gap) {
      result = static_cast<level>(i + 1);
    }
  }
  return result;
}

level degrader::update(double pressure, std::chrono::nanoseconds now,
                       double projected_utilization) noexcept {
  auto up = justified(pressure, 0);
  if (up > level_) {
    level_ = up;
    ++transitions_;
    calm_since_.reset();
    return level_;
  }
  auto keep = justified(pressure, settings_.exit_gap);
  auto busy = settings_.exit_utilization > 0 && projected_utilization >= settings_.exit_utilization;
  if (keep >= level_ || busy) {
    calm_since_.reset(); // not calm enough to leave the current level
    return level_;
  }
  if (!calm_since_) {
    calm_since_ = now;
  }
  if (now - *calm_since_ >= settings_.hold) {
    level_ = keep;
    ++transitions_;
    calm_since_.reset();
  }
  return level_;
}

} // namespace sv::flow
