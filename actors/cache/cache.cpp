#include "actors/cache/cache.hpp"
#include "actors/cache/cache_actors.hpp"
#include "actors/cache/cache_settings.hpp"
#include "runtime/util/worker_pool.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <google/protobuf/util/json_util.h>
#include <spdlog/spdlog.h>

#include "actors/cache/cache.pb.h"
#include "actors/content/catalog.hpp"
#include "actors/content/content.pb.h"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"
#include "runtime/cluster/client.hpp"
#include "runtime/cluster/endpoint.hpp"
#include "runtime/cluster/membership.hpp"
#include "runtime/cluster/owner_router.hpp"
#include "runtime/cluster/placement.hpp"
#include "runtime/metrics/registry.hpp"
#include "runtime/node/ask.hpp"
#include "runtime/node/node.hpp"
#include "runtime/util/clock.hpp"
#include "runtime/wire/errc.hpp"
#include "runtime/wire/protobuf.hpp"
#include "runtime/wire/undecodable.hpp"

namespace sv::cache {

using namespace detail;

loader blocking_loader(std::function<caf::expected<loaded>(const std::string& key)> fetch,
                       size_t threads) {
  auto pool = std::make_shared<worker_pool>(threads);
  return [pool, fetch](const std::string& key, load_done done) {
    pool->post([fetch, key, done] { done(fetch(key)); });
  };
}

void register_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<get_msg>(get_msg::descriptor()->full_name());
  cfg.add_message_type<value_msg>(value_msg::descriptor()->full_name());
  cfg.add_message_type<put_msg>(put_msg::descriptor()->full_name());
  cfg.add_message_type<put_result_msg>(put_result_msg::descriptor()->full_name());
  cfg.add_message_type<invalidate_msg>(invalidate_msg::descriptor()->full_name());
  cfg.add_message_type<hot_msg>(hot_msg::descriptor()->full_name());
}

namespace {

// One per node and cache: the registry's callbacks hold these, so they outlive the cache.
void export_metrics(metrics::registry& reg, const std::shared_ptr<near_cache>& l1,
                    const std::shared_ptr<cache_counters>& c) {
  auto l1_stat = [l1](uint64_t store_stats::*field) {
    return [l1, field] {
      return static_cast<double>(l1->stats().*field);
    };
  };
  auto atomic = [c](std::atomic<uint64_t> cache_counters::*field) {
    return [c, field] {
      return static_cast<double>((*c.*field).load());
    };
  };
  const std::string req = "sv_cache_requests_total";
  const std::string req_help = "Cache requests by level and result";
  reg.counter_callback(req, req_help, l1_stat(&store_stats::hits),
                       {{"level", "l1"}, {"result", "hit"}});
  reg.counter_callback(req, req_help, l1_stat(&store_stats::misses),
                       {{"level", "l1"}, {"result", "miss"}});
  reg.counter_callback(req, req_help, atomic(&cache_counters::l2_hits),
                       {{"level", "l2"}, {"result", "hit"}});
  reg.counter_callback(req, req_help, atomic(&cache_counters::l2_misses),
                       {{"level", "l2"}, {"result", "miss"}});
  reg.counter_callback("sv_cache_evictions_total", "Entries evicted by the policy",
                       l1_stat(&store_stats::evictions), {{"level", "l1"}});
  reg.counter_callback("sv_cache_evictions_total", "Entries evicted by the policy",
                       atomic(&cache_counters::l2_evictions), {{"level", "l2"}});
  reg.counter_callback("sv_cache_admission_refusals_total",
                       "New entries the frequency filter turned away",
                       l1_stat(&store_stats::not_admitted), {{"level", "l1"}});
  reg.counter_callback("sv_cache_admission_refusals_total",
                       "New entries the frequency filter turned away",
                       atomic(&cache_counters::l2_not_admitted), {{"level", "l2"}});
  for (auto r : {fill_result::stale_version, fill_result::raced, fill_result::too_large,
                 fill_result::too_old}) {
    auto i = static_cast<size_t>(r);
    reg.counter_callback(
        "sv_cache_fill_refusals_total", "Fills refused and not cached, by reason (either level)",
        [c, i] { return static_cast<double>(c->refused[i].load()); }, {{"reason", to_string(r)}});
  }
  reg.counter_callback("sv_cache_hot_replications_total",
                       "Hot keys this node's shards pushed into every node's near cache",
                       atomic(&cache_counters::hot_replications));
  reg.counter_callback("sv_cache_cooled_total", "Pushed hot keys dropped from the near cache",
                       atomic(&cache_counters::cooled));
  reg.counter_callback("sv_cache_origin_fetches_total", "Loads from the origin",
                       atomic(&cache_counters::origin_fetches));
  reg.counter_callback("sv_cache_coalesced_total",
                       "Requests that waited for another request's fetch of the same key",
                       atomic(&cache_counters::coalesced));
  reg.counter_callback("sv_cache_loader_errors_total", "Loads that failed or timed out",
                       atomic(&cache_counters::loader_errors));
  reg.gauge_callback("sv_cache_bytes", "Bytes held",
                     [l1] { return static_cast<double>(l1->bytes()); }, {{"level", "l1"}});
  reg.gauge_callback("sv_cache_bytes", "Bytes held", atomic(&cache_counters::l2_bytes),
                     {{"level", "l2"}});
}

} // namespace

cache::cache(node& n)
    : sys_(n.system()),
      timeout_(std::chrono::milliseconds{
          n.settings().section<config::cache_node_settings>().load_timeout_ms + 2000}) {
  auto& cfg = n.settings().section<config::cache_node_settings>();
  store_settings l1s;
  l1s.max_bytes = static_cast<size_t>(cfg.l1_bytes);
  l1s.max_entry_bytes = static_cast<size_t>(cfg.max_entry_bytes);
  l1s.negative_ttl = std::chrono::milliseconds{cfg.negative_ttl_ms};
  l1_ = std::make_shared<near_cache>(l1s);
  auto count = std::make_shared<cache_counters>();
  loaders_ = std::make_shared<loader_table>();
  export_metrics(n.metrics(), l1_, count);
  auto* np = &n;
  service_ = spawn_service(sys_, n.settings().name, cfg, l1_, loaders_, count, n.cluster_endpoint(),
                           std::function<std::vector<cluster::member>()>{[np] {
                             return np->members();
                           }});
  count_ = count;
  cluster::register_service(sys_, service_name, caf::actor_cast<caf::actor>(service_));
}

cache::~cache() {
  sys_.registry().erase(service_name);
  caf::scoped_actor self{sys_};
  self->send_exit(service_, caf::exit_reason::user_shutdown);
  self->wait_for(service_);
}

void cache::set_loader(const std::string& prefix, loader l) {
  std::lock_guard<std::mutex> guard{loaders_->mutex};
  loaders_->by_prefix[prefix] = std::move(l);
}

void cache::follow(content::catalog& c) {
  auto* sys = &sys_;
  auto cat = c.handle();
  auto timeout = timeout_;
  set_loader("meta", [sys, cat, timeout](const std::string& key, load_done done) {
    auto id = key.substr(key.find('/') + 1);
    sys->spawn([cat, id, done, timeout](caf::event_based_actor* self) {
      wire::answer_undecodable(self, "cache loader"); // never renders what it does not know
      self->request(cat, caf::duration{timeout}, caf::get_atom::value, id)
          .then(
              [done, id](const content::metadata& m) {
                std::string json;
                google::protobuf::util::JsonPrintOptions opts;
                opts.preserve_proto_field_names = true;
                if (!google::protobuf::util::MessageToJsonString(m, &json, opts).ok()) {
                  done(make_error(errc::invalid_argument, "cannot render " + id));
                  return;
                }
                done(loaded{std::move(json), m.version(), {"content:" + id}});
              },
              [done](caf::error& err) { done(std::move(err)); });
    });
  });
  sv::ask<caf::ok_atom>(sys_, cat, timeout_, content::watch_atom::value,
                        caf::actor_cast<caf::actor>(service_));
}

namespace {

caf::expected<cached> to_cached(caf::expected<value_msg> v, const std::string& key) {
  if (!v) {
    return v.error();
  }
  if (!v->found()) {
    return make_error(errc::not_found, "no " + key);
  }
  return cached{std::make_shared<const std::string>(std::move(*v->mutable_value())), v->version(),
                v->source()};
}

} // namespace

caf::expected<cache_actor> connect_cache(caf::actor_system& sys, const std::string& host,
                                         uint16_t port, std::chrono::milliseconds timeout) {
  return cluster::lookup_service_as<cache_actor>(sys, host, port, service_name, timeout);
}

caf::expected<cached> remote_get(caf::actor_system& sys, const std::string& host, uint16_t port,
                                 const std::string& key, std::chrono::milliseconds timeout) {
  auto svc = connect_cache(sys, host, port, timeout);
  if (!svc) {
    return svc.error();
  }
  get_msg g;
  g.set_key(key);
  return to_cached(sv::ask<value_msg>(sys, *svc, timeout, std::move(g)), key);
}

caf::expected<cached> cache::get(const std::string& key) {
  if (auto h = l1_->get(key, now_ns())) {
    if (h->value == nullptr) {
      return make_error(errc::not_found, "no " + key + " (cached)");
    }
    return cached{h->value, h->version, "l1"};
  }
  get_msg g;
  g.set_key(key);
  return to_cached(sv::ask<value_msg>(sys_, service_, timeout_, std::move(g)), key);
}

caf::expected<std::string> cache::put(const std::string& key, std::string value, uint64_t version,
                                      std::vector<std::string> tags) {
  put_msg p;
  p.set_key(key);
  p.set_value(std::move(value));
  p.set_version(version);
  for (auto& t : tags) {
    p.add_tags(std::move(t));
  }
  auto r = sv::ask<put_result_msg>(sys_, service_, timeout_, std::move(p));
  if (!r) {
    return r.error();
  }
  return r->result();
}

caf::expected<uint64_t> cache::invalidate(const std::string& key, uint64_t version) {
  invalidate_msg inv;
  inv.set_key(key);
  inv.set_version(version);
  return sv::ask<uint64_t>(sys_, service_, timeout_, std::move(inv));
}

caf::expected<uint64_t> cache::invalidate_tag(const std::string& tag) {
  invalidate_msg inv;
  inv.set_tag(tag);
  return sv::ask<uint64_t>(sys_, service_, timeout_, std::move(inv));
}

caf::expected<uint64_t> cache::prewarm(const std::vector<std::string>& keys) {
  caf::scoped_actor self{sys_};
  uint64_t cached_now = 0;
  caf::error first_error;
  for (auto& k : keys) {
    get_msg g;
    g.set_key(k);
    g.set_prewarm(true);
    self->request(service_, caf::duration{timeout_}, g)
        .receive([&](const value_msg& v) { cached_now += v.refusal().empty() ? 1 : 0; },
                 [&](caf::error& err) {
                   if (!first_error) {
                     first_error = err;
                   }
                 });
  }
  if (cached_now == 0 && first_error) {
    return first_error;
  }
  return cached_now;
}

cache_stats cache::stats() {
  cache_stats out;
  out.l1 = l1_->stats();
  out.l1_bytes = l1_->bytes();
  if (auto s = sv::ask<std::vector<uint64_t>>(sys_, service_, timeout_, stats_atom::value);
      s && s->size() == 8) {
    auto& v = *s;
    out.l2 = store_stats{v[0], v[1], v[2], v[3], v[5], v[4], v[6]};
    out.l2_bytes = v[7];
  }
  auto& c = *count_;
  out.origin_fetches = c.origin_fetches;
  out.coalesced = c.coalesced;
  out.hot_replications = c.hot_replications;
  out.hot_received = c.hot_received;
  out.cooled = c.cooled;
  out.loader_errors = c.loader_errors;
  out.flushes = c.flushes;
  return out;
}

} // namespace sv::cache
