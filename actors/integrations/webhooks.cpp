// The HTTP hooks: each POSTs a JSON request to its partner and reads the answer.

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

std::string check_webhook_url(const std::string& url) {
  return config::check_http_url(url);
}

namespace {

// POSTs `req` as JSON and reads a `Reply` from a 2xx answer (`reply` null: body ignored).
std::string exchange(const webhook_settings& s, const google::protobuf::Message& req,
                     google::protobuf::Message* reply) {
  std::string body;
  auto st = google::protobuf::util::MessageToJsonString(req, &body);
  if (!st.ok()) {
    return "cannot encode the request: " + st.ToString();
  }
  auto r = http_post(s.url, body, s.timeout, s.headers);
  if (r.status == 0) {
    return r.error;
  }
  if (r.status < 200 || r.status > 299) {
    return "HTTP " + std::to_string(r.status);
  }
  if (reply == nullptr) {
    return {};
  }
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = true;
  st = google::protobuf::util::JsonStringToMessage(r.body, reply, opts);
  if (!st.ok()) {
    return "bad answer (HTTP " + std::to_string(r.status) + "): " + st.ToString();
  }
  return {};
}

// What every webhook holds: where to POST and how long to wait.
class webhook_client {
public:
  explicit webhook_client(webhook_settings s) : s_(std::move(s)) {}

protected:
  std::string post(const google::protobuf::Message& req, google::protobuf::Message* reply) const {
    return exchange(s_, req, reply);
  }

private:
  webhook_settings s_;
};

class entitlement_http : public entitlement_hook, webhook_client {
public:
  using webhook_client::webhook_client;
  std::string check(const entitlement_query& q, bool& entitled) override {
    pb::EntitlementRequest req;
    req.set_user(q.user);
    req.set_content(q.content);
    req.set_subscription(q.subscription);
    pb::EntitlementAnswer ans;
    auto why = post(req, &ans);
    entitled = ans.entitled();
    return why;
  }
};

class recommendation_http : public recommendation_hook, webhook_client {
public:
  using webhook_client::webhook_client;
  std::string recommend(const recommendation_query& q, std::vector<std::string>& ids) override {
    pb::RecommendationRequest req;
    req.set_user(q.user);
    req.set_region(q.region);
    req.set_device(q.device);
    req.set_limit(q.limit);
    pb::RecommendationList list;
    if (auto why = post(req, &list); !why.empty()) {
      return why;
    }
    auto n = std::min<size_t>(static_cast<size_t>(list.content_ids_size()), q.limit);
    ids.assign(list.content_ids().begin(), list.content_ids().begin() + static_cast<int>(n));
    return {};
  }
};

class ad_http : public ad_hook, webhook_client {
public:
  using webhook_client::webhook_client;
  std::string decide(const ad_query& q, ad_decision& out) override {
    pb::AdRequest req;
    req.set_user(q.user);
    req.set_content(q.content);
    req.set_region(q.region);
    req.set_device(q.device);
    req.set_slot(q.slot);
    pb::AdDecision d;
    if (auto why = post(req, &d); !why.empty()) {
      return why;
    }
    out = {d.ad_id(), d.media_url(), d.duration_ms()};
    return {};
  }
};

class cdn_http : public cdn_purge_hook, webhook_client {
public:
  using webhook_client::webhook_client;
  std::string purge(const std::vector<std::string>& keys) override {
    pb::CdnPurgeRequest req;
    for (auto& k : keys) {
      req.add_keys(k);
    }
    return post(req, nullptr);
  }
};

class cms_http : public cms_hook, webhook_client {
public:
  using webhook_client::webhook_client;
  std::string poll(const std::string& cursor, cms_page& page) override {
    pb::CmsPollRequest req;
    req.set_cursor(cursor);
    pb::CmsPage p;
    if (auto why = post(req, &p); !why.empty()) {
      return why;
    }
    page.items.assign(p.items().begin(), p.items().end());
    page.next_cursor = p.next_cursor();
    return {};
  }
};

} // namespace

std::shared_ptr<entitlement_hook> entitlement_webhook(webhook_settings s) {
  return std::make_shared<entitlement_http>(std::move(s));
}

std::shared_ptr<recommendation_hook> recommendation_webhook(webhook_settings s) {
  return std::make_shared<recommendation_http>(std::move(s));
}

std::shared_ptr<ad_hook> ad_webhook(webhook_settings s) {
  return std::make_shared<ad_http>(std::move(s));
}

std::shared_ptr<cdn_purge_hook> cdn_purge_webhook(webhook_settings s) {
  return std::make_shared<cdn_http>(std::move(s));
}

std::shared_ptr<cms_hook> cms_webhook(webhook_settings s) {
  return std::make_shared<cms_http>(std::move(s));
}

} // namespace sv::integrations
