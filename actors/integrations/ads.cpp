// Ad decisions: the hook behind its guard; no ad when it fails, is slow or is shed.

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

struct ads::impl {
  std::shared_ptr<ad_hook> hook;
  shed_fn shed;
  hook_guard guard;

  impl(std::shared_ptr<ad_hook> h, ad_settings s, shed_fn f, metrics::registry* reg)
      : hook(std::move(h)), shed(std::move(f)), guard(std::move(s.guard), reg) {}
};

ads::ads(std::shared_ptr<ad_hook> hook, ad_settings s, shed_fn shed, metrics::registry* metrics)
    : impl_(std::make_shared<impl>(std::move(hook), std::move(s), std::move(shed), metrics)) {}

ads::~ads() = default;

void ads::decide(const ad_query& q, done_fn done) {
  auto* self = impl_.get();
  if (self->shed && self->shed()) {
    self->guard.count_shed();
    done(std::nullopt);
    return;
  }
  auto d = std::make_shared<ad_decision>();
  self->guard.call([self, q, d] { return self->hook->decide(q, *d); },
                   [d, done](call_status s, const std::string&) {
                     if (s != call_status::ok || d->ad_id.empty()) {
                       done(std::nullopt);
                     } else {
                       done(std::move(*d));
                     }
                   },
                   self->hook->immediate());
}

hook_guard& ads::guard() noexcept {
  return impl_->guard;
}

} // namespace sv::integrations
