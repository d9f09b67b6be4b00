// CDN purges: keys queued, sent in batches on a thread of their own, retried with a bound.

#include "actors/integrations/hooks.hpp"
#include "actors/integrations/hooks_internal.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "actors/integrations/http_client.hpp"
#include "actors/integrations/integrations.pb.h"
#include "google/protobuf/util/json_util.h"
#include "runtime/config/node_settings.hpp"
#include "runtime/metrics/registry.hpp"
#include "spdlog/spdlog.h"

namespace sv::integrations {

namespace pb = streamverse::v1;
using namespace detail;

struct cdn_purger::impl : loop_thread {
  cdn_purge_settings settings;
  std::shared_ptr<cdn_purge_hook> hook;
  std::unique_ptr<metrics::registry> own;
  metrics::counter* purged_c;
  metrics::counter* dropped_c;
  metrics::counter* abandoned_c;
  metrics::counter* unsent_c;
  metrics::gauge* pending_g;

  std::deque<std::string> waiting; // in arrival order
  std::unordered_set<std::string> waiting_set;
  std::vector<std::string> in_flight;  // the batch being sent (or waiting to retry)
  uint32_t attempts = 0;               // failed calls of in_flight
  hook_clock::time_point first_wait{}; // when the oldest waiting key came
  hook_clock::time_point retry_at{};
  stats st;
  std::unique_ptr<hook_guard> guard;

  impl(std::shared_ptr<cdn_purge_hook> h, cdn_purge_settings s, metrics::registry* reg)
      : settings(std::move(s)), hook(std::move(h)) {
    reg = &registry_or_own(reg, own);
    auto keys = [&](const char* result) {
      return &reg->counter_metric("sv_cdn_purge_keys_total",
                                  "CDN purge keys by what became of them", {{"result", result}});
    };
    purged_c = keys("purged");
    dropped_c = keys("dropped");
    abandoned_c = keys("abandoned");
    unsent_c = keys("unsent");
    pending_g = &reg->gauge_metric("sv_cdn_purge_pending", "CDN purge keys waiting or in flight");
    guard = std::make_unique<hook_guard>(settings.guard, reg);
  }

  size_t pending() const {
    return waiting.size() + in_flight.size();
  }

  void run() {
    std::unique_lock<std::mutex> lock{mx};
    while (!stopping) {
      auto now = hook_clock::now();
      if (in_flight.empty()) {
        if (waiting.empty()) {
          cv.wait(lock);
          continue;
        }
        if (waiting.size() < settings.batch && now < first_wait + settings.linger) {
          cv.wait_until(lock, first_wait + settings.linger);
          continue;
        }
        auto n = std::min<size_t>(waiting.size(), settings.batch);
        for (size_t i = 0; i < n; ++i) {
          waiting_set.erase(waiting.front());
          in_flight.push_back(std::move(waiting.front()));
          waiting.pop_front();
        }
        first_wait = now;
        attempts = 0;
      } else if (now < retry_at) {
        cv.wait_until(lock, retry_at);
        continue;
      }
      // A copy: a call that timed out may still be running when the batch is retried.
      auto batch = std::make_shared<const std::vector<std::string>>(in_flight);
      lock.unlock();
      std::string why;
      auto* h = hook.get();
      auto s = guard->call_and_wait([h, batch] { return h->purge(*batch); }, &why);
      lock.lock();
      if (s == call_status::ok) {
        st.purged += batch->size();
        purged_c->inc(batch->size());
        in_flight.clear();
      } else {
        // A call the open breaker kept back was no attempt: the batch waits for the partner.
        bool attempted = s != call_status::breaker_open;
        if (attempted && ++attempts >= settings.max_attempts) {
          spdlog::error("cdn purge: giving up {} keys after {} attempts: {}", batch->size(),
                        attempts, why);
          st.abandoned += batch->size();
          abandoned_c->inc(batch->size());
          in_flight.clear();
        } else {
          ++st.retries;
          auto shift = std::min<uint32_t>(attempts == 0 ? 0 : attempts - 1, 16);
          auto wait = std::min(settings.backoff * (1u << shift), settings.max_backoff);
          if (!attempted) {
            wait = std::min(settings.guard.breaker.open_for, settings.max_backoff);
          }
          retry_at = hook_clock::now() + wait;
          spdlog::debug("cdn purge: {} ({}), retry in {} ms", to_string(s), why, wait.count());
        }
      }
      pending_g->set(static_cast<double>(pending()));
      cv.notify_all(); // drain()
    }
  }
};

cdn_purger::cdn_purger(std::shared_ptr<cdn_purge_hook> hook, cdn_purge_settings s,
                       metrics::registry* metrics)
    : impl_(std::make_unique<impl>(std::move(hook), std::move(s), metrics)) {
  impl_->start([this] { impl_->run(); });
}

cdn_purger::~cdn_purger() {
  impl_->stop();
  auto left = impl_->pending();
  if (left > 0) {
    impl_->unsent_c->inc(left);
    spdlog::warn("cdn purge: {} keys not sent at shutdown", left);
  }
}

size_t cdn_purger::purge(const std::vector<std::string>& keys) {
  size_t refused = 0;
  {
    std::lock_guard<std::mutex> lock{impl_->mx};
    for (auto& k : keys) {
      if (impl_->waiting_set.count(k) != 0) {
        continue; // already waiting: one purge covers both
      }
      if (impl_->pending() >= impl_->settings.max_pending) {
        ++refused;
        continue;
      }
      if (impl_->waiting.empty()) {
        impl_->first_wait = hook_clock::now();
      }
      impl_->waiting.push_back(k);
      impl_->waiting_set.insert(k);
    }
    impl_->st.dropped += refused;
    impl_->pending_g->set(static_cast<double>(impl_->pending()));
  }
  if (refused > 0) {
    impl_->dropped_c->inc(refused);
    spdlog::warn("cdn purge: queue full, {} keys dropped", refused);
  }
  impl_->cv.notify_all();
  return refused;
}

bool cdn_purger::drain(std::chrono::milliseconds limit) {
  std::unique_lock<std::mutex> lock{impl_->mx};
  return impl_->cv.wait_for(lock, limit, [this] { return impl_->pending() == 0; });
}

cdn_purger::stats cdn_purger::snapshot() const {
  std::lock_guard<std::mutex> lock{impl_->mx};
  auto s = impl_->st;
  s.pending = impl_->pending();
  return s;
}

hook_guard& cdn_purger::guard() noexcept {
  return *impl_->guard;
}

} // namespace sv::integrations
