#pragma once

#include <chrono>
#include <cstdint>

namespace sv::flow {

struct adaptive_limit_settings {
  double initial_limit = 64;
  double min_limit = 8;
  double max_limit = 4096;
  /// How much of each new estimate is taken (0..1]; lower is steadier.
  double smoothing = 0.2;
  /// Weight of one sample in the long-term latency average (1 / window length).
  double long_window_weight = 1.0 / 600;
  /// A short-term latency up to this multiple of the long-term one counts as normal.
  double tolerance = 1.5;
};

/// A concurrency limit for critical work that follows measured latency instead of a
/// fixed number, after Netflix's Gradient2 (the idea behind Envoy's adaptive
/// concurrency filter as well):
///
///   gradient  = clamp(tolerance * long_rtt / short_rtt, 0.5, 1)
///   new_limit = limit * gradient + sqrt(limit)        (sqrt(limit): room to probe up)
///   limit     = limit * (1 - smoothing) + new_limit * smoothing, within [min, max]
///
/// When latency rises above its long-term average (queueing), the gradient drops below 1
/// and the limit shrinks; while latency stays near normal it grows by about sqrt(limit)
/// per sample. Samples taken while less than half the limit was in use do not raise the
/// limit (the load, not the limit, was what held concurrency down). If the long-term
/// average drifts far above the short one (after a slow period), it is pulled down so
/// the limit can recover. Not thread-safe: one owner (the load monitor or a gate actor).
class adaptive_limit {
public:
  explicit adaptive_limit(adaptive_limit_settings settings = {});

  /// Feeds the latency of one completed request, with the number of requests in flight
  /// when it started. Returns the new limit.
  double on_sample(std::chrono::nanoseconds rtt, uint32_t inflight) noexcept;

  /// The current limit, at least 1.
  uint32_t limit() const noexcept;

  double long_rtt_ns() const noexcept {
    return long_rtt_;
  }

  // -- admission of one request at a time (the caller owns the in-flight count) ---------

  /// Takes a slot when fewer than limit() requests are in flight.
  bool try_acquire() noexcept;
  /// Returns a slot; `rtt` is the request's latency (fed to on_sample).
  void release(std::chrono::nanoseconds rtt) noexcept;

  uint32_t inflight() const noexcept {
    return inflight_;
  }

private:
  adaptive_limit_settings settings_;
  double limit_;
  double long_rtt_ = 0;
  uint32_t inflight_ = 0;
};

} // namespace sv::flow
