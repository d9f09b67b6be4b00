#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace sv::metrics {

/// Label pairs of one time series, e.g. {{"class", "bulk"}}. Order does not matter.
using labels = std::vector<std::pair<std::string, std::string>>;

/// A monotonically increasing count. Updates are lock-free (relaxed atomics).
class counter {
public:
  void inc(uint64_t n = 1) noexcept {
    value_.fetch_add(n, std::memory_order_relaxed);
  }
  uint64_t value() const noexcept {
    return value_.load(std::memory_order_relaxed);
  }

private:
  std::atomic<uint64_t> value_{0};
};

/// A value that goes up and down. Updates are lock-free.
class gauge {
public:
  void set(double x) noexcept {
    value_.store(x, std::memory_order_relaxed);
  }
  void add(double x) noexcept;
  double value() const noexcept {
    return value_.load(std::memory_order_relaxed);
  }

private:
  std::atomic<double> value_{0};
};

/// A distribution over fixed, ascending upper bounds (the Prometheus `le` buckets; the
/// `+Inf` bucket is implicit). `observe` is lock-free; a reader may see a sum and a
/// count from slightly different moments, as Prometheus clients usually do.
class histogram {
public:
  explicit histogram(std::vector<double> upper_bounds);

  void observe(double x) noexcept;

  const std::vector<double>& upper_bounds() const noexcept {
    return bounds_;
  }
  /// Count of observations <= upper_bounds()[i]; index bounds.size() is +Inf.
  uint64_t cumulative_count(size_t i) const noexcept;
  uint64_t count() const noexcept;
  double sum() const noexcept;

private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_; // per bucket, not cumulative
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

/// Bucket bounds for latencies in seconds, 100 µs to 10 s.
std::vector<double> latency_buckets();

/// The metrics of one node. Metric objects live as long as the registry and never move,
/// so callers keep references to them. Registration takes a lock; updates do not.
/// Registering a name twice with the same type and labels returns the same object; a bad
/// name, a bad label name or a type conflict throws std::invalid_argument (a programming
/// error, found by the first test that runs the code).
class registry {
public:
  registry();
  ~registry();
  registry(const registry&) = delete;
  registry& operator=(const registry&) = delete;

  counter& counter_metric(const std::string& name, const std::string& help, const labels& ls = {});
  gauge& gauge_metric(const std::string& name, const std::string& help, const labels& ls = {});
  histogram& histogram_metric(const std::string& name, const std::string& help,
                              std::vector<double> upper_bounds, const labels& ls = {});

  /// A gauge whose value is computed when the registry is rendered. `fn` must be
  /// thread-safe and must outlive the registry (or be removed with the registry).
  void gauge_callback(const std::string& name, const std::string& help, std::function<double()> fn,
                      const labels& ls = {});
  /// Same as gauge_callback, for a counter maintained elsewhere.
  void counter_callback(const std::string& name, const std::string& help,
                        std::function<double()> fn, const labels& ls = {});

  /// The Prometheus text exposition format (version 0.0.4) of every metric.
  std::string render() const;

private:
  struct family;
  family& get_family(const std::string& name, const std::string& help, int kind);

  mutable std::mutex mtx_;
  std::map<std::string, std::unique_ptr<family>> families_;
};

/// The content type that goes with `registry::render()`.
inline constexpr const char* exposition_content_type = "text/plain; version=0.0.4; charset=utf-8";

} // namespace sv::metrics
