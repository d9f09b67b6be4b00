#pragma once

// Internal to actors/integrations (not an interface): what the hook files share. One file
// per role: hooks_defaults.cpp (the in-process hooks), webhooks.cpp (the HTTP hooks),
// entitlements.cpp, recommendations.cpp, ads.cpp, cdn_purger.cpp, cms_ingest.cpp.

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "actors/integrations/guard.hpp"
#include "runtime/metrics/registry.hpp"

namespace sv::integrations::detail {

inline metrics::counter& fallback_counter(metrics::registry* reg,
                                          std::unique_ptr<metrics::registry>& own,
                                          const std::string& hook) {
  return registry_or_own(reg, own).counter_metric(
      "sv_hook_fallback_total",
      "Answers a hook's policy gave without a fresh partner answer "
      "(cached, fallback list, default)",
      {{"hook", hook}});
}

// A loop on a thread of its own, with the lock and condition its state shares with callers.
struct loop_thread {
  mutable std::mutex mx;
  std::condition_variable cv;
  bool stopping = false;
  std::thread thread;

  template <class F>
  void start(F loop) {
    thread = std::thread{std::move(loop)};
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lock{mx};
      stopping = true;
    }
    cv.notify_all();
    if (thread.joinable()) {
      thread.join();
    }
  }
};

} // namespace sv::integrations::detail
