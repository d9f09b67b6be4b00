// Recommendations: the hook behind its guard, with the fallback list when it fails or is shed.

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

struct recommendations::impl {
  recommendation_settings settings;
  std::shared_ptr<recommendation_hook> hook;
  shed_fn shed;
  std::unique_ptr<metrics::registry> own;
  metrics::counter& fallback;
  std::atomic<uint64_t> fallbacks{0};
  std::mutex mx;
  std::map<std::pair<std::string, std::string>, std::vector<std::string>> last; // region, device
  hook_guard guard;

  impl(std::shared_ptr<recommendation_hook> h, recommendation_settings s, shed_fn f,
       metrics::registry* reg)
      : settings(std::move(s)), hook(std::move(h)), shed(std::move(f)),
        fallback(fallback_counter(reg, own, settings.guard.name)),
        guard(settings.guard, &registry_or_own(reg, own)) {}

  std::vector<std::string> fallback_for(const recommendation_query& q) {
    fallbacks.fetch_add(1, std::memory_order_relaxed);
    fallback.inc();
    std::vector<std::string> ids;
    {
      std::lock_guard<std::mutex> lock{mx};
      auto i = last.find({q.region, q.device});
      ids = i != last.end() ? i->second : settings.fallback;
    }
    if (ids.size() > q.limit) {
      ids.resize(q.limit);
    }
    return ids;
  }
};

recommendations::recommendations(std::shared_ptr<recommendation_hook> hook,
                                 recommendation_settings s, shed_fn shed,
                                 metrics::registry* metrics)
    : impl_(std::make_shared<impl>(std::move(hook), std::move(s), std::move(shed), metrics)) {}

recommendations::~recommendations() = default;

void recommendations::get(const recommendation_query& q, done_fn done) {
  auto* self = impl_.get();
  if (self->shed && self->shed()) {
    self->guard.count_shed();
    done(self->fallback_for(q), false);
    return;
  }
  auto ids = std::make_shared<std::vector<std::string>>();
  self->guard.call([self, q, ids] { return self->hook->recommend(q, *ids); },
                   [self, q, ids, done](call_status s, const std::string&) {
                     if (s != call_status::ok) {
                       done(self->fallback_for(q), false);
                       return;
                     }
                     {
                       std::lock_guard<std::mutex> lock{self->mx};
                       self->last[{q.region, q.device}] = *ids;
                     }
                     done(std::move(*ids), true);
                   },
                   self->hook->immediate());
}

hook_guard& recommendations::guard() noexcept {
  return impl_->guard;
}

uint64_t recommendations::fallbacks() const noexcept {
  return impl_->fallbacks.load(std::memory_order_relaxed);
}

} // namespace sv::integrations
