// Entitlement checks: the hook behind its guard, answers cached for a TTL, fail-open or closed when
// the partner fails.

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

struct entitlements::impl {
  struct entry {
    bool entitled = false;
    hook_clock::time_point expires;
  };
  entitlement_settings settings;
  std::shared_ptr<entitlement_hook> hook;
  std::unique_ptr<metrics::registry> own;
  metrics::counter& fallback;
  metrics::counter& hits;
  std::atomic<uint64_t> fallbacks{0};
  std::mutex mx;
  std::unordered_map<std::string, entry> cache;
  hook_guard guard; // last: destroyed first, while the cache is still there

  impl(std::shared_ptr<entitlement_hook> h, entitlement_settings s, metrics::registry* reg)
      : settings(std::move(s)), hook(std::move(h)),
        fallback(fallback_counter(reg, own, settings.guard.name)),
        hits(registry_or_own(reg, own).counter_metric(
            "sv_hook_cache_hits_total", "Answers served from a hook's cache while fresh",
            {{"hook", settings.guard.name}})),
        guard(settings.guard, &registry_or_own(reg, own)) {}

  static std::string key(const entitlement_query& q) {
    return q.user + '\x1f' + q.content + '\x1f' + std::to_string(q.subscription);
  }

  void store(const std::string& k, bool entitled) {
    auto now = hook_clock::now();
    std::lock_guard<std::mutex> lock{mx};
    if (cache.size() >= settings.max_entries) {
      // Full: one pass drops what expired; if that freed less than an eighth, arbitrary
      // entries go until an eighth is free, so the next max/8 inserts need no pass.
      for (auto i = cache.begin(); i != cache.end();) {
        i = i->second.expires <= now ? cache.erase(i) : std::next(i);
      }
      auto room = std::max<size_t>(1, settings.max_entries / 8);
      while (!cache.empty() && cache.size() + room > settings.max_entries) {
        cache.erase(cache.begin());
      }
    }
    cache[k] = entry{entitled, now + (entitled ? settings.ttl : settings.denied_ttl)};
  }

  // The cached answer: fresh only, or any.
  std::optional<bool> lookup(const std::string& k, bool fresh_only) {
    std::lock_guard<std::mutex> lock{mx};
    auto i = cache.find(k);
    if (i == cache.end() || (fresh_only && i->second.expires <= hook_clock::now())) {
      return std::nullopt;
    }
    return i->second.entitled;
  }
};

entitlements::entitlements(std::shared_ptr<entitlement_hook> hook, entitlement_settings s,
                           metrics::registry* metrics)
    : impl_(std::make_shared<impl>(std::move(hook), std::move(s), metrics)) {}

entitlements::~entitlements() = default;

std::optional<bool> entitlements::cached(const entitlement_query& q) {
  auto r = impl_->lookup(impl::key(q), true);
  if (r) {
    impl_->hits.inc();
  }
  return r;
}

std::optional<bool> entitlements::check(const entitlement_query& q, done_fn done) {
  auto k = impl::key(q);
  if (auto r = impl_->lookup(k, true)) {
    impl_->hits.inc();
    return r;
  }
  auto answer = std::make_shared<bool>(false);
  auto* self = impl_.get();
  // The hook's answer, or the fallback when the call failed.
  auto verdict = [self, k, answer](call_status s, const std::string& why) {
    if (s == call_status::ok) {
      self->store(k, *answer);
      return *answer;
    }
    auto last = self->lookup(k, false);
    auto v = last ? *last : self->settings.allow_when_unavailable;
    self->fallbacks.fetch_add(1, std::memory_order_relaxed);
    self->fallback.inc();
    spdlog::debug("entitlement {} / {}: {} ({}), answering {} from {}", k, to_string(s), why, v,
                  last ? "cache" : "the default");
    return v;
  };
  auto work = [self, q, answer] {
    return self->hook->check(q, *answer);
  };
  if (self->hook->immediate()) {
    // Runs (or is refused) before call() returns.
    std::optional<bool> now;
    self->guard.call(
        work, [&now, &verdict](call_status s, const std::string& why) { now = verdict(s, why); },
        true);
    return now;
  }
  self->guard.call(
      work, [verdict, done](call_status s, const std::string& why) { done(verdict(s, why)); });
  return std::nullopt;
}

hook_guard& entitlements::guard() noexcept {
  return impl_->guard;
}

uint64_t entitlements::fallbacks() const noexcept {
  return impl_->fallbacks.load(std::memory_order_relaxed);
}

} // namespace sv::integrations
