// The in-process hooks a node uses when no webhook is configured (tier rule, a fixed list, no ads,
// nothing to purge) and the host-pushed CMS.

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

namespace {

class tier_rule : public entitlement_hook {
public:
  bool immediate() const noexcept override {
    return true;
  }
  std::string check(const entitlement_query& q, bool& entitled) override {
    entitled = q.subscription >= q.required;
    return {};
  }
};

class fixed_list : public recommendation_hook {
public:
  bool immediate() const noexcept override {
    return true;
  }
  explicit fixed_list(std::vector<std::string> ids) : ids_(std::move(ids)) {}
  std::string recommend(const recommendation_query& q, std::vector<std::string>& ids) override {
    ids.assign(ids_.begin(), ids_.begin() + std::min<size_t>(ids_.size(), q.limit));
    return {};
  }

private:
  std::vector<std::string> ids_;
};

class no_ad : public ad_hook {
public:
  bool immediate() const noexcept override {
    return true;
  }
  std::string decide(const ad_query&, ad_decision& out) override {
    out = {};
    return {};
  }
};

class nothing_to_purge : public cdn_purge_hook {
public:
  std::string purge(const std::vector<std::string>& keys) override {
    spdlog::debug("cdn purge (no CDN configured): {} keys", keys.size());
    return {};
  }
};

} // namespace

std::shared_ptr<entitlement_hook> tier_entitlement() {
  return std::make_shared<tier_rule>();
}

std::shared_ptr<recommendation_hook> static_recommendations(std::vector<std::string> ids) {
  return std::make_shared<fixed_list>(std::move(ids));
}

std::shared_ptr<ad_hook> no_ads() {
  return std::make_shared<no_ad>();
}

std::shared_ptr<cdn_purge_hook> no_cdn() {
  return std::make_shared<nothing_to_purge>();
}

struct pushed_cms::impl {
  std::mutex mx;
  std::vector<content::metadata> items; // cursor = index after the last one handed out
};

pushed_cms::pushed_cms() : impl_(std::make_shared<impl>()) {}

void pushed_cms::push(content::metadata m) {
  std::lock_guard<std::mutex> guard{impl_->mx};
  impl_->items.push_back(std::move(m));
}

std::string pushed_cms::poll(const std::string& cursor, cms_page& page) {
  size_t from = 0;
  if (!cursor.empty()) {
    char* end = nullptr;
    from = std::strtoull(cursor.c_str(), &end, 10);
    if (end == nullptr || *end != '\0') {
      return "bad cursor \"" + cursor + "\"";
    }
  }
  std::lock_guard<std::mutex> guard{impl_->mx};
  from = std::min(from, impl_->items.size());
  page.items.assign(impl_->items.begin() + static_cast<std::ptrdiff_t>(from), impl_->items.end());
  page.next_cursor = std::to_string(impl_->items.size());
  return {};
}

uint32_t required_tier(const content::metadata& m) {
  static const std::pair<const char*, uint32_t> tiers[] = {
      {"tier:free", 0}, {"tier:basic", 1}, {"tier:standard", 2}, {"tier:premium", 3}};
  uint32_t required = 0;
  for (auto& tag : m.tags()) {
    for (auto& [name, tier] : tiers) {
      if (tag == name) {
        required = std::max(required, tier);
      }
    }
  }
  return required;
}

} // namespace sv::integrations
