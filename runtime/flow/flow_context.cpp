#include "runtime/flow/flow_context.hpp"

#include <algorithm>
#include <map>

namespace sv::flow {

flow_context::flow_context(flow_settings settings)
    : settings_(settings), gate_(settings.gate), degrader_(settings.degrader) {}

const std::array<int64_t, flow_context::latency_bucket_count>&
flow_context::latency_bounds() noexcept {
  static const std::array<int64_t, latency_bucket_count> bounds = [] {
    std::array<int64_t, latency_bucket_count> xs{};
    double b = 10'000;
    for (auto& x : xs) {
      x = static_cast<int64_t>(b);
      b *= 1.25;
    }
    return xs;
  }();
  return bounds;
}

std::shared_ptr<load_cell> flow_context::make_cell(const std::string& kind) {
  auto cell = std::make_shared<load_cell>();
  std::lock_guard<std::mutex> guard{cells_mtx_};
  cells_.emplace_back(kind, cell);
  return cell;
}

void flow_context::record_critical_latency(std::chrono::nanoseconds d) noexcept {
  auto& bounds = latency_bounds();
  auto i = static_cast<size_t>(std::lower_bound(bounds.begin(), bounds.end(), d.count())
                               - bounds.begin());
  window_[i].fetch_add(1, std::memory_order_relaxed);
}

reading flow_context::observe(std::chrono::nanoseconds dispatch_lag, std::chrono::nanoseconds now) {
  reading r;
  // Depths by kind; cells nobody holds any more are dropped here.
  std::map<std::string, kind_depth> by_kind;
  std::chrono::nanoseconds busy{0};
  {
    std::lock_guard<std::mutex> guard{cells_mtx_};
    auto gone = std::remove_if(cells_.begin(), cells_.end(), [&](const auto& entry) {
      auto cell = entry.second.lock();
      if (!cell) {
        return true;
      }
      busy += cell->take_busy();
      auto& k = by_kind[entry.first];
      k.kind = entry.first;
      auto depth = cell->depth();
      k.max = std::max(k.max, depth);
      k.mean += static_cast<double>(depth);
      ++k.cells;
      return false;
    });
    cells_.erase(gone, cells_.end());
  }
  int64_t deepest = 0;
  for (auto& [name, k] : by_kind) {
    k.mean /= static_cast<double>(k.cells);
    deepest = std::max(deepest, k.max);
    r.depths.push_back(k);
  }
  // A mailbox as deep as the critical watermark counts as full (pressure 1): lower
  // classes filling up to their own watermarks is the gate doing its job, not harm; a
  // queue approaching the point where critical work is refused is.
  auto full = std::max<uint32_t>(1, settings_.gate.watermarks[index(service_class::critical)]);
  r.sample.depth_ratio = static_cast<double>(deepest) / static_cast<double>(full);
  lags_.push_back(dispatch_lag);
  if (lags_.size() > std::max<size_t>(1, settings_.lag_readings)) {
    lags_.erase(lags_.begin());
  }
  r.sample.dispatch_lag = *std::min_element(lags_.begin(), lags_.end());
  // Critical percentiles of the window, each read as the upper bound of its bucket
  // (overflow: twice the last bound); then the window starts anew.
  std::array<uint64_t, latency_bucket_count + 1> counts{};
  uint64_t total = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    counts[i] = window_[i].exchange(0, std::memory_order_relaxed);
    total += counts[i];
  }
  auto percentile = [&](uint64_t rank) {
    auto& bounds = latency_bounds();
    uint64_t seen = 0;
    size_t i = 0;
    while (seen + counts[i] < rank) {
      seen += counts[i++];
    }
    return std::chrono::nanoseconds{i < bounds.size() ? bounds[i] : bounds.back() * 2};
  };
  r.critical_count = total;
  if (total > 0) {
    r.critical_p50 = percentile((total + 1) / 2);
    r.sample.critical_p99 = percentile(total - total / 100);
  }
  // Utilization over the time since the previous reading (unknown at the first one).
  auto shed = gate_.take_shed_work();
  if (last_reading_ && now > *last_reading_ && settings_.workers > 0) {
    auto capacity = static_cast<double>((now - *last_reading_).count())
                    * static_cast<double>(settings_.workers);
    r.utilization = static_cast<double>(busy.count()) / capacity;
    r.projected_utilization = static_cast<double>((busy + shed).count()) / capacity;
    utilization_.store(r.projected_utilization, std::memory_order_relaxed);
  }
  last_reading_ = now;
  r.sample.utilization = r.utilization;
  r.pressure = pressure(r.sample, settings_.budget);
  r.before = degrader_.current();
  r.after = degrader_.update(r.pressure, now, r.projected_utilization);
  if (r.after != r.before) {
    transitions_.fetch_add(1, std::memory_order_relaxed);
    level_.store(r.after, std::memory_order_relaxed);
  }
  return r;
}

} // namespace sv::flow
