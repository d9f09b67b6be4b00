#include "runtime/flow/adaptive_limit.hpp"

#include <algorithm>
#include <cmath>

namespace sv::flow {

adaptive_limit::adaptive_limit(adaptive_limit_settings settings)
    : settings_(settings), limit_(settings.initial_limit) {
  settings_.max_limit = std::max(settings_.max_limit, settings_.min_limit);
  limit_ = std::clamp(limit_, settings_.min_limit, settings_.max_limit);
}

double adaptive_limit::on_sample(std::chrono::nanoseconds rtt, uint32_t inflight) noexcept {
  auto short_rtt = static_cast<double>(std::max<int64_t>(1, rtt.count()));
  if (long_rtt_ <= 0) {
    long_rtt_ = short_rtt;
  } else {
    long_rtt_ += (short_rtt - long_rtt_) * settings_.long_window_weight;
  }
  // After a slow phase the long average lags far above current latency; decay it so the
  // gradient does not stay pinned at 1 and hide the next queueing episode.
  if (long_rtt_ / short_rtt > 2) {
    long_rtt_ *= 0.95;
  }
  if (inflight < limit_ / 2) {
    return limit_; // application-limited: this sample says nothing about the limit
  }
  auto gradient = std::clamp(settings_.tolerance * long_rtt_ / short_rtt, 0.5, 1.0);
  auto estimate = limit_ * gradient + std::sqrt(limit_);
  limit_ = limit_ * (1 - settings_.smoothing) + estimate * settings_.smoothing;
  limit_ = std::clamp(limit_, settings_.min_limit, settings_.max_limit);
  return limit_;
}

uint32_t adaptive_limit::limit() const noexcept {
  return std::max<uint32_t>(1, static_cast<uint32_t>(limit_));
}

bool adaptive_limit::try_acquire() noexcept {
  if (inflight_ >= limit()) {
    return false;
  }
  ++inflight_;
  return true;
}

void adaptive_limit::release(std::chrono::nanoseconds rtt) noexcept {
  auto at_start = inflight_;
  if (inflight_ > 0) {
    --inflight_;
  }
  on_sample(rtt, at_start);
}

} // namespace sv::flow
