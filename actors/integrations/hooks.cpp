#include "actors/integrations/hooks.hpp"

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

// -- in-process defaults ------------------------------------------------------------

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

// -- webhooks -----------------------------------------------------------------------

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

// -- entitlements ---------------------------------------------------------------------

namespace {

metrics::counter& fallback_counter(metrics::registry* reg, std::unique_ptr<metrics::registry>& own,
                                   const std::string& hook) {
  return registry_or_own(reg, own).counter_metric(
      "sv_hook_fallback_total",
      "Answers a hook's policy gave without a fresh partner answer "
      "(cached, fallback list, default)",
      {{"hook", hook}});
}

} // namespace

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

// -- recommendations ------------------------------------------------------------------

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

// -- ads ------------------------------------------------------------------------------

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

// -- the threads of cdn_purger and cms_ingest -----------------------------------------

namespace {

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

} // namespace

// -- cdn_purger -----------------------------------------------------------------------

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

// -- cms_ingest -----------------------------------------------------------------------

namespace {

std::string read_cursor(const std::string& path) {
  if (path.empty()) {
    return {};
  }
  std::ifstream in{path};
  std::string cursor;
  std::getline(in, cursor);
  return cursor;
}

// Written to a temporary file and renamed over the old one: a crash leaves either.
void write_cursor(const std::string& path, const std::string& cursor) {
  if (path.empty()) {
    return;
  }
  auto tmp = path + ".tmp";
  {
    std::ofstream out{tmp, std::ios::trunc};
    out << cursor << '\n';
    out.flush();
    if (!out) {
      spdlog::error("cms: cannot write {}", tmp);
      return;
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    spdlog::error("cms: cannot rename {} to {}", tmp, path);
  }
}

} // namespace

struct cms_ingest::impl : loop_thread {
  cms_settings settings;
  std::shared_ptr<cms_hook> hook;
  apply_fn apply;
  std::function<bool()> active;
  metrics::counter* applied_c;
  metrics::counter* rejected_c;
  bool poke = false;
  stats st;
  std::unique_ptr<metrics::registry> own;
  std::unique_ptr<hook_guard> guard;

  impl(std::shared_ptr<cms_hook> h, apply_fn a, std::function<bool()> act, cms_settings s,
       metrics::registry* reg)
      : settings(std::move(s)), hook(std::move(h)), apply(std::move(a)), active(std::move(act)) {
    reg = &registry_or_own(reg, own);
    applied_c = &reg->counter_metric("sv_cms_items_total", "CMS items by what became of them",
                                     {{"result", "applied"}});
    rejected_c = &reg->counter_metric("sv_cms_items_total", "CMS items by what became of them",
                                      {{"result", "rejected"}});
    guard = std::make_unique<hook_guard>(settings.guard, reg);
    st.cursor = read_cursor(settings.cursor_file);
  }

  // One poll; true when a full page may be waiting (poll again at once).
  bool poll_once() {
    std::string cursor;
    {
      std::lock_guard<std::mutex> lock{mx};
      cursor = st.cursor;
      ++st.polls;
    }
    auto page = std::make_shared<cms_page>();
    auto* h = hook.get();
    std::string why;
    auto s = guard->call_and_wait([h, cursor, page] { return h->poll(cursor, *page); }, &why);
    if (s != call_status::ok) {
      spdlog::debug("cms poll: {} ({})", to_string(s), why);
      return false;
    }
    for (auto& item : page->items) {
      auto r = apply(item);
      if (r == apply_result::try_later) {
        return false; // the cursor stays: the page comes again
      }
      std::lock_guard<std::mutex> lock{mx};
      if (r == apply_result::applied) {
        ++st.applied;
        applied_c->inc();
      } else {
        ++st.rejected;
        rejected_c->inc();
        spdlog::warn("cms: item {} rejected", item.id());
      }
    }
    if (page->next_cursor.empty() || page->next_cursor == cursor) {
      return false;
    }
    {
      std::lock_guard<std::mutex> lock{mx};
      st.cursor = page->next_cursor;
    }
    write_cursor(settings.cursor_file, page->next_cursor);
    return !page->items.empty();
  }

  void run() {
    std::unique_lock<std::mutex> lock{mx};
    while (!stopping) {
      poke = false;
      lock.unlock();
      bool more = active() && poll_once();
      lock.lock();
      if (!more && !stopping && !poke) {
        cv.wait_for(lock, settings.poll, [this] { return stopping || poke; });
      }
    }
  }
};

cms_ingest::cms_ingest(std::shared_ptr<cms_hook> hook, apply_fn apply, std::function<bool()> active,
                       cms_settings s, metrics::registry* metrics)
    : impl_(std::make_unique<impl>(std::move(hook), std::move(apply), std::move(active),
                                   std::move(s), metrics)) {
  impl_->start([this] { impl_->run(); });
}

cms_ingest::~cms_ingest() {
  impl_->stop();
}

void cms_ingest::poll_now() {
  {
    std::lock_guard<std::mutex> lock{impl_->mx};
    impl_->poke = true;
  }
  impl_->cv.notify_all();
}

cms_ingest::stats cms_ingest::snapshot() const {
  std::lock_guard<std::mutex> lock{impl_->mx};
  return impl_->st;
}

hook_guard& cms_ingest::guard() noexcept {
  return *impl_->guard;
}

} // namespace sv::integrations
