#pragma once

// Services of a node that can stop being ready while it runs (issue #18): a store whose
// disk is full or failing. A store marks itself unready when a write fails and ready again
// at its next write that succeeds; the node's /readyz (metrics port and player API) answers
// 503 naming each unready service while any is. Thread-safe; mark_ready is one atomic load
// while every service is ready, so stores call it after every write.

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace sv {

class readiness {
public:
  /// `service` is not ready because of `reason` (a store's last error); counts a failure.
  void mark_unready(const std::string& service, const std::string& reason) {
    failures_.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard<std::mutex> guard{mtx_};
    unready_[service] = reason;
    any_.store(true, std::memory_order_release);
  }

  /// `service` works again (a write succeeded).
  void mark_ready(const std::string& service) {
    if (!any_.load(std::memory_order_acquire)) {
      return;
    }
    std::lock_guard<std::mutex> guard{mtx_};
    unready_.erase(service);
    any_.store(!unready_.empty(), std::memory_order_release);
  }

  /// The unready services and why, by name.
  std::vector<std::pair<std::string, std::string>> unready() const {
    if (!any_.load(std::memory_order_acquire)) {
      return {};
    }
    std::lock_guard<std::mutex> guard{mtx_};
    return {unready_.begin(), unready_.end()};
  }

  /// Whether any service is unready (one atomic load).
  bool any_unready() const {
    return any_.load(std::memory_order_acquire);
  }

  /// Failed writes reported so far.
  uint64_t failures() const {
    return failures_.load(std::memory_order_relaxed);
  }

private:
  mutable std::mutex mtx_;
  std::map<std::string, std::string> unready_;
  std::atomic<bool> any_{false};
  std::atomic<uint64_t> failures_{0};
};

} // namespace sv
