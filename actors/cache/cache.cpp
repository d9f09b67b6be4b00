#include "actors/cache/cache.hpp"
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

namespace sv::cache {

namespace {

std::string prefix_of(const std::string& key) {
  return key.substr(0, key.find('/'));
}

} // namespace

// Counters shared by the service, its shards and the host API (and read by the metrics
// registry, which may outlive them: it holds a reference).
struct cache_counters {
  std::atomic<uint64_t> l2_hits{0}, l2_misses{0}, l2_evictions{0}, l2_not_admitted{0},
      l2_invalidated{0}, l2_bytes{0}, origin_fetches{0}, coalesced{0}, hot_replications{0},
      hot_received{0}, cooled{0}, loader_errors{0}, flushes{0};
  // Refused fills by reason (fill_result values), at either level.
  std::array<std::atomic<uint64_t>, 8> refused{};
};

struct loader_table {
  std::mutex mutex;
  std::map<std::string, loader> by_prefix;

  loader find(const std::string& key) {
    std::lock_guard<std::mutex> guard{mutex};
    auto i = by_prefix.find(prefix_of(key));
    return i == by_prefix.end() ? loader{} : i->second;
  }
};

namespace {

using get_msg = streamverse::v1::CacheGet;
using value_msg = streamverse::v1::CacheValue;
using put_msg = streamverse::v1::CachePut;
using put_result_msg = streamverse::v1::CachePutResult;
using invalidate_msg = streamverse::v1::CacheInvalidate;
using hot_msg = streamverse::v1::CacheHot;
using changed_msg = streamverse::v1::MetadataChanged;

using shard_atom = caf::atom_constant<caf::atom("sv_cshard")>;
using apply_atom = caf::atom_constant<caf::atom("sv_capply")>;
using loaded_atom = caf::atom_constant<caf::atom("sv_loaded")>;
using load_timeout_atom = caf::atom_constant<caf::atom("sv_ldtmo")>;
using hot_atom = caf::atom_constant<caf::atom("sv_chot")>;
using flush_atom = caf::atom_constant<caf::atom("sv_cflush")>;
using view_tick_atom = caf::atom_constant<caf::atom("sv_cview")>;
using cool_tick_atom = caf::atom_constant<caf::atom("sv_ccool")>;
using stats_atom = caf::atom_constant<caf::atom("sv_cstats")>;
using retry_atom = caf::atom_constant<caf::atom("sv_cretry")>;

constexpr auto service_name = caf::atom("sv_cache");
// How often the service looks at the membership (ownership moves, members coming back).
constexpr auto view_interval = std::chrono::milliseconds{200};

time_ns now_ns() {
  return sv::clock::steady_ns();
}

value_msg value_of(const entry& e, const char* source, bool hot) {
  value_msg v;
  v.set_found(!e.negative());
  if (!e.negative()) {
    v.set_value(*e.value);
  }
  v.set_version(e.version);
  for (auto& t : e.tags) {
    v.add_tags(t);
  }
  v.set_source(source);
  v.set_hot(hot);
  return v;
}

std::vector<std::string> tags_of(const google::protobuf::RepeatedPtrField<std::string>& in) {
  return {in.begin(), in.end()};
}

// -- cache_shard ------------------------------------------------------------------------

struct shard_state {
  std::unique_ptr<store> data;
  store_settings store_cfg;
  config::cache_node_settings cfg;
  std::shared_ptr<loader_table> loaders;
  std::shared_ptr<cache_counters> count;
  caf::actor service;
  struct load {
    std::vector<std::pair<caf::response_promise, bool>> waiters; // (promise, prewarm)
    time_ns started = 0;
    uint64_t id = 0;
    int attempts = 0;
  };
  std::map<std::string, load> inflight;
  uint64_t next_load = 0;
  std::map<std::string, time_ns> hot; // key -> when it was pushed
  time_ns flushed_at = 0;
  store_stats last; // what was already added to `count`
  size_t last_bytes = 0;

  shard_state() = default;
  shard_state(const shard_state&) = delete;
  shard_state& operator=(const shard_state&) = delete;
  ~shard_state() {
    if (count) {
      count->l2_bytes -= last_bytes; // a stopped shard gives its bytes back
    }
  }

  static inline const char* name = "sv.cache.shard";
};

using shard_actor = caf::stateful_actor<shard_state>;

// Adds what the store counted since the last call to the shared counters.
void sync_counts(shard_actor* self) {
  auto& st = self->state;
  auto s = st.data->stats();
  st.count->l2_evictions += s.evictions - st.last.evictions;
  st.count->l2_not_admitted += s.not_admitted - st.last.not_admitted;
  st.count->l2_invalidated += s.invalidated - st.last.invalidated;
  st.last = s;
  st.count->l2_bytes += st.data->bytes() - st.last_bytes; // wraps correctly when smaller
  st.last_bytes = st.data->bytes();
}

// Whether `key` is hot; pushes it to every node's L1 (through the service) when it just
// turned hot, or was pushed longer than two cool intervals ago.
bool check_hot(shard_actor* self, const std::string& key, const entry& e, time_ns now) {
  auto& st = self->state;
  if (e.negative() || st.data->frequency(key) < st.cfg.hot_threshold) {
    return false;
  }
  auto again = static_cast<time_ns>(st.cfg.cool_interval_ms) * 2'000'000;
  auto h = st.hot.find(key);
  if (h == st.hot.end() || now - h->second > again) {
    st.hot[key] = now;
    hot_msg push;
    push.set_key(key);
    push.set_value(*e.value);
    push.set_version(e.version);
    for (auto& t : e.tags) {
      push.add_tags(t);
    }
    self->send(st.service, hot_atom::value, push);
    ++st.count->hot_replications;
  }
  return true;
}

void start_load(shard_actor* self, const std::string& key);

void answer_all(shard_actor* self, const std::string& key, const caf::expected<value_msg>& v) {
  auto& st = self->state;
  auto i = st.inflight.find(key);
  if (i == st.inflight.end()) {
    return;
  }
  auto waiters = std::move(i->second.waiters);
  st.inflight.erase(i);
  for (auto& [rp, prewarm] : waiters) {
    if (!v) {
      rp.deliver(v.error());
    } else if (prewarm) {
      value_msg brief = *v;
      brief.clear_value();
      rp.deliver(std::move(brief));
    } else {
      rp.deliver(*v);
    }
  }
}

void on_loaded(shard_actor* self, const std::string& key, uint64_t id, bool ok, std::string value,
               uint64_t version, std::vector<std::string> tags, const caf::error& err) {
  auto& st = self->state;
  auto i = st.inflight.find(key);
  if (i == st.inflight.end() || i->second.id != id) {
    return; // timed out, or a newer attempt is running
  }
  auto now = now_ns();
  if (!ok && !is(err, errc::not_found)) {
    ++st.count->loader_errors;
    answer_all(self, key, err);
    return;
  }
  auto val = ok ? std::make_shared<const std::string>(std::move(value)) : nullptr;
  auto started = i->second.started;
  auto r = started < st.flushed_at ? fill_result::raced
                                   : st.data->fill(key, val, version, tags, started, now);
  if (r == fill_result::raced && i->second.attempts < 2) {
    start_load(self, key); // invalidated while loading: read again once
    return;
  }
  if (refused(r)) {
    ++st.count->refused[static_cast<size_t>(r)];
  }
  sync_counts(self);
  value_msg v;
  v.set_found(ok);
  if (ok) {
    v.set_value(*val);
  }
  v.set_version(version);
  for (auto& t : tags) {
    v.add_tags(t);
  }
  v.set_source("origin");
  if (refused(r)) {
    v.set_refusal(to_string(r));
  }
  if (auto* e = st.data->peek(key); e != nullptr && r == fill_result::stored) {
    v.set_hot(check_hot(self, key, *e, now));
  }
  answer_all(self, key, v);
}

void start_load(shard_actor* self, const std::string& key) {
  auto& st = self->state;
  auto& l = st.inflight[key];
  l.started = now_ns();
  l.id = ++st.next_load;
  ++l.attempts;
  auto f = st.loaders->find(key);
  if (!f) {
    ++st.count->loader_errors;
    answer_all(self, key,
               make_error(errc::invalid_argument, "no loader for \"" + prefix_of(key) + "/\""));
    return;
  }
  ++st.count->origin_fetches;
  auto me = caf::actor_cast<caf::actor>(self);
  auto id = l.id;
  self->delayed_send(self, std::chrono::milliseconds{st.cfg.load_timeout_ms},
                     load_timeout_atom::value, key, id);
  f(key, [me, key, id](caf::expected<loaded> r) {
    if (r) {
      caf::anon_send(me, loaded_atom::value, key, id, true, std::move(r->value), r->version,
                     std::move(r->tags), caf::error{});
    } else {
      caf::anon_send(me, loaded_atom::value, key, id, false, std::string{}, uint64_t{0},
                     std::vector<std::string>{}, r.error());
    }
  });
}

caf::behavior shard_behavior(shard_actor* self, store_settings store_cfg,
                             config::cache_node_settings cfg, std::shared_ptr<loader_table> loaders,
                             std::shared_ptr<cache_counters> count, caf::actor service) {
  auto& st = self->state;
  st.store_cfg = store_cfg;
  st.data = std::make_unique<store>(store_cfg);
  st.cfg = cfg;
  st.loaders = std::move(loaders);
  st.count = std::move(count);
  st.service = std::move(service);
  return {
      [self](const get_msg& g) -> caf::result<value_msg> {
        auto& st = self->state;
        auto now = now_ns();
        if (auto* e = st.data->get(g.key(), now); e != nullptr) {
          ++st.count->l2_hits;
          auto v = value_of(*e, "l2", check_hot(self, g.key(), *e, now));
          if (g.prewarm()) {
            v.clear_value();
          }
          return v;
        }
        ++st.count->l2_misses;
        auto rp = self->make_response_promise<value_msg>();
        auto i = st.inflight.find(g.key());
        if (i != st.inflight.end()) {
          ++st.count->coalesced;
          i->second.waiters.emplace_back(rp, g.prewarm());
          return rp;
        }
        st.inflight[g.key()].waiters.emplace_back(rp, g.prewarm());
        start_load(self, g.key());
        return rp;
      },
      [self](loaded_atom, const std::string& key, uint64_t id, bool ok, std::string& value,
             uint64_t version, std::vector<std::string>& tags, const caf::error& err) {
        on_loaded(self, key, id, ok, std::move(value), version, std::move(tags), err);
      },
      [self](load_timeout_atom, const std::string& key, uint64_t id) {
        auto& st = self->state;
        if (auto i = st.inflight.find(key); i != st.inflight.end() && i->second.id == id) {
          ++st.count->loader_errors;
          answer_all(self, key,
                     make_error(caf::sec::request_timeout, "origin did not answer for " + key));
        }
      },
      [self](const put_msg& p) {
        auto& st = self->state;
        auto now = now_ns();
        auto r = st.data->fill(p.key(), std::make_shared<const std::string>(p.value()), p.version(),
                               tags_of(p.tags()), now, now);
        if (refused(r)) {
          ++st.count->refused[static_cast<size_t>(r)];
        }
        st.hot.erase(p.key()); // pushed again (the new version) when next requested
        sync_counts(self);
        put_result_msg out;
        out.set_result(to_string(r));
        return out;
      },
      [self](const invalidate_msg& inv) {
        auto& st = self->state;
        auto now = now_ns();
        if (!inv.tag().empty()) {
          st.data->invalidate_tag(inv.tag(), now);
          for (auto i = st.hot.begin(); i != st.hot.end();) {
            i = st.data->contains(i->first) ? std::next(i) : st.hot.erase(i);
          }
        } else {
          st.data->invalidate(inv.key(), inv.version(), now);
          st.hot.erase(inv.key());
        }
        sync_counts(self);
        return caf::ok_atom::value;
      },
      [self](flush_atom) {
        auto& st = self->state;
        st.data = st.data->without_entries(); // fences stay
        st.last = {};
        st.count->l2_bytes -= st.last_bytes;
        st.last_bytes = 0;
        st.hot.clear();
        st.flushed_at = now_ns();
      },
      [self](stats_atom) {
        auto s = self->state.data->stats();
        return std::vector<uint64_t>{
            s.hits,    s.misses,       s.negative_hits, s.evictions,
            s.refused, s.not_admitted, s.invalidated,   self->state.data->bytes()};
      },
  };
}

// -- the node's cache service ------------------------------------------------------------

struct service_state {
  config::cache_node_settings cfg;
  std::shared_ptr<near_cache> l1;
  std::shared_ptr<loader_table> loaders;
  std::shared_ptr<cache_counters> count;
  std::map<uint32_t, caf::actor> shards; // the shard actors on this node
  // Shard owners and the other nodes' cache services.
  cluster::owner_router<caf::stateful_actor<service_state>> router{service_name};
  struct waiting {
    std::vector<caf::response_promise> rps;
    time_ns started = 0;
    uint32_t behind = 0; // answers from a shard behind this node's fence
  };
  std::map<std::string, waiting> inflight; // L1 misses waiting for their shard
  std::set<std::string> ever_up;           // members seen up at some point
  std::set<std::string> up_now;            // members up at the last view tick
  std::chrono::milliseconds timeout{5000};

  static inline const char* name = "sv.cache.service";
};

using service_actor = caf::stateful_actor<service_state>;

std::vector<std::string> up_members(service_actor* self) {
  return self->state.router.up();
}

uint32_t shard_of(service_actor* self, const std::string& key) {
  return static_cast<uint32_t>(key_hash(key) % self->state.cfg.shards);
}

std::string shard_key(uint32_t shard) {
  return "cache-shard-" + std::to_string(shard);
}

caf::actor local_shard(service_actor* self, uint32_t shard) {
  auto& st = self->state;
  if (auto i = st.shards.find(shard); i != st.shards.end()) {
    return i->second;
  }
  // This node's L2 budget over the shards it is expected to own.
  auto nodes = std::max<size_t>(1, up_members(self).size());
  auto owned = std::max<size_t>(1, (st.cfg.shards + nodes - 1) / nodes);
  store_settings s;
  s.max_bytes = std::max<size_t>(1, static_cast<size_t>(st.cfg.l2_bytes / owned));
  s.max_entry_bytes = static_cast<size_t>(st.cfg.max_entry_bytes);
  s.negative_ttl = std::chrono::milliseconds{st.cfg.negative_ttl_ms};
  auto a = self->spawn<caf::linked>(shard_behavior, s, st.cfg, st.loaders, st.count,
                                    caf::actor_cast<caf::actor>(self));
  st.shards.emplace(shard, a);
  return a;
}

// Calls `then(service)` with peer `name`'s cache service, or `failed()`; in call order.
void with_peer(service_actor* self, const std::string& name,
               std::function<void(const caf::actor&)> then, std::function<void()> failed) {
  auto& st = self->state;
  st.router.with_peer(self, name, st.timeout, std::move(then),
                      [failed](const caf::error&) { failed(); });
}

// Sends `msg` to the shard of `key`: on this node when it owns the shard (or its owner
// cannot be reached: the cache stays available, with a second copy that invalidations
// reach too), else to the owner's service.
template <class Msg, class Reply>
void to_shard(service_actor* self, const std::string& key, const Msg& msg,
              std::function<void(const Reply&)> done, std::function<void(const caf::error&)> fail) {
  auto& st = self->state;
  auto shard = shard_of(self, key);
  auto timeout = caf::duration{st.timeout};
  auto local = [=] {
    self->request(local_shard(self, shard), timeout, msg)
        .then([=](const Reply& r) { done(r); }, [=](caf::error& err) { fail(err); });
  };
  st.router.route(
      self, shard_key(shard), st.timeout, local,
      [=](const caf::actor& svc, const std::string&) {
        self->request(svc, timeout, shard_atom::value, shard, msg)
            .then([=](const Reply& r) { done(r); },
                  [=](caf::error& err) {
                    // The owner's answer is final unless the owner itself is gone.
                    if (err == caf::sec::request_timeout || is_refusal(err)) {
                      fail(err);
                    } else {
                      local();
                    }
                  });
      },
      [=](const caf::error&, const std::string&) { local(); });
}

// Runs `here(shard)` when this node owns `key`'s shard (or its owner cannot be reached),
// else sends `(shard_atom, shard, msg)` to the owner's service and passes its answer on.
template <class Msg, class Reply>
void via_owner(service_actor* self, const std::string& key, const Msg& msg,
               std::function<void(uint32_t)> here, std::function<void(const Reply&)> done,
               std::function<void(const caf::error&)> fail) {
  auto& st = self->state;
  auto shard = shard_of(self, key);
  st.router.route(
      self, shard_key(shard), st.timeout, [=] { here(shard); },
      [=](const caf::actor& svc, const std::string&) {
        self->request(svc, caf::duration{self->state.timeout}, shard_atom::value, shard, msg)
            .then([=](const Reply& r) { done(r); }, [=](caf::error& err) { fail(err); });
      },
      [=](const caf::error&, const std::string&) { here(shard); });
}

void apply_l1(service_actor* self, const invalidate_msg& inv) {
  auto& st = self->state;
  auto now = now_ns();
  if (!inv.tag().empty()) {
    st.l1->invalidate_tag(inv.tag(), now);
  } else {
    st.l1->invalidate(inv.key(), inv.version(), now);
  }
}

// Applies `inv` to this node's L1 and shards; `done()` once every shard applied it.
void apply_local(
    service_actor* self, const invalidate_msg& inv, std::function<void()> done = [] {}) {
  auto& st = self->state;
  apply_l1(self, inv);
  if (st.shards.empty()) {
    done();
    return;
  }
  auto pending = std::make_shared<size_t>(st.shards.size());
  auto one = [pending, done] {
    if (--*pending == 0) {
      done();
    }
  };
  for (auto& [shard, a] : st.shards) {
    self->request(a, caf::duration{st.timeout}, inv)
        .then([one](caf::ok_atom) { one(); }, [one](caf::error&) { one(); });
  }
}

// Applies `inv` to the L1 and shards here and on every up member (shards there may hold a
// copy made while the owner was unreachable); `done(nodes that applied it)`.
void broadcast(service_actor* self, const invalidate_msg& inv, std::function<void(uint64_t)> done) {
  std::vector<std::string> others;
  for (auto& n : up_members(self)) {
    if (n != self->state.router.self_name()) {
      others.push_back(n);
    }
  }
  struct tally {
    size_t pending;
    uint64_t applied = 0;
  };
  auto t = std::make_shared<tally>(tally{others.size() + 1});
  auto one = [t, done](bool ok) {
    t->applied += ok ? 1 : 0;
    if (--t->pending == 0) {
      done(t->applied);
    }
  };
  apply_local(self, inv, [one] { one(true); });
  for (auto& n : others) {
    with_peer(
        self, n,
        [=](const caf::actor& svc) {
          self->request(svc, caf::duration{self->state.timeout}, apply_atom::value, inv)
              .then([=](caf::ok_atom) { one(true); }, [=](caf::error&) { one(false); });
        },
        [=] { one(false); });
  }
}

// At the shard's owner: the shard applies `inv`, then every node does. Those messages
// leave this node after any hot-key push of the old value (both go from this service to
// each peer, in order), so a push can never land after the invalidation that outdates it.
void owner_invalidate(service_actor* self, uint32_t shard, const invalidate_msg& inv,
                      std::function<void(uint64_t)> done) {
  auto then_l1 = [self, inv, done] {
    broadcast(self, inv, done);
  };
  auto& shards = self->state.shards;
  auto i = shards.find(shard);
  if (i == shards.end()) {
    then_l1();
    return;
  }
  self->request(i->second, caf::duration{self->state.timeout}, inv)
      .then([then_l1](caf::ok_atom) { then_l1(); }, [then_l1](caf::error&) { then_l1(); });
}

// At the shard's owner: the shard stores the version, then every L1 drops older ones.
void owner_put(service_actor* self, uint32_t shard, const put_msg& p, caf::response_promise rp) {
  auto key = p.key();
  auto version = p.version();
  self->request(local_shard(self, shard), caf::duration{self->state.timeout}, p)
      .then(
          [self, rp, key, version](const put_result_msg& r) mutable {
            invalidate_msg inv;
            inv.set_key(key);
            inv.set_version(version);
            broadcast(self, inv, [rp, r](uint64_t) mutable { rp.deliver(r); });
          },
          [rp](caf::error& err) mutable { rp.deliver(err); });
}

// Every view tick: shards this node no longer owns stop; when a member that was up before
// comes back after being away, this node's L1 and shards are emptied (either side may have
// missed the other's invalidations meanwhile).
void view_tick(service_actor* self) {
  auto& st = self->state;
  auto up = up_members(self);
  std::set<std::string> up_set(up.begin(), up.end());
  bool returned = false;
  for (auto& n : up_set) {
    if (n != st.router.self_name() && st.ever_up.count(n) > 0 && st.up_now.count(n) == 0) {
      returned = true;
      spdlog::info("cache: {} is back: emptying this node's cache", n);
    }
    st.ever_up.insert(n);
  }
  st.up_now = std::move(up_set);
  if (returned) {
    st.l1->clear();
    for (auto& [shard, a] : st.shards) {
      self->send(a, flush_atom::value);
    }
    ++st.count->flushes;
  }
  for (auto i = st.shards.begin(); i != st.shards.end();) {
    if (!st.router.is_local(st.router.owner(shard_key(i->first), up))) {
      self->send_exit(i->second, caf::exit_reason::user_shutdown);
      i = st.shards.erase(i);
    } else {
      ++i;
    }
  }
  self->delayed_send(self, view_interval, view_tick_atom::value);
}

void fetch(service_actor* self, const get_msg& g);

// A get's answer from its shard: to everyone waiting for the key (and into L1 when hot).
// An answer older than this node's fence (the shard's node has not stored the new version
// yet) is never served: asked again every 20 ms, for at most a second, then `unavailable`.
void finish_get(service_actor* self, const get_msg& g, const caf::expected<value_msg>& v) {
  auto& st = self->state;
  auto& key = g.key();
  auto w = st.inflight.find(key);
  if (w == st.inflight.end()) {
    return;
  }
  auto fence = st.l1->fence(key);
  // (A shard passes a loaded value on also when it refused to keep it: the check is on
  // every answer with a value.)
  if (v && v->found() && v->version() < fence) {
    if (++w->second.behind <= 50) {
      self->delayed_send(self, std::chrono::milliseconds{20}, retry_atom::value, g);
      return;
    }
    auto waiting = std::move(w->second);
    st.inflight.erase(w);
    auto err =
        make_error(errc::unavailable, "cache: the shard of " + key + " has version "
                                          + std::to_string(v->version())
                                          + ", this node already saw " + std::to_string(fence));
    for (auto& rp : waiting.rps) {
      rp.deliver(err);
    }
    return;
  }
  auto waiting = std::move(w->second);
  st.inflight.erase(w);
  // Near caches keep hot keys only (popularity-based placement): the rest is served by
  // its shard.
  if (v && v->refusal().empty() && v->hot()) {
    auto now = now_ns();
    auto val = v->found() ? std::make_shared<const std::string>(v->value()) : nullptr;
    auto r = st.l1->fill(key, val, v->version(), tags_of(v->tags()), waiting.started, now);
    if (refused(r)) {
      ++st.count->refused[static_cast<size_t>(r)];
    }
    if (r == fill_result::stored || r == fill_result::not_newer) {
      st.l1->mark_hot(key);
    }
  }
  for (auto& rp : waiting.rps) {
    if (v) {
      rp.deliver(*v);
    } else {
      rp.deliver(v.error());
    }
  }
}

void fetch(service_actor* self, const get_msg& g) {
  to_shard<get_msg, value_msg>(
      self, g.key(), g, [self, g](const value_msg& v) { finish_get(self, g, v); },
      [self, g](const caf::error& err) { finish_get(self, g, err); });
}

caf::behavior service_behavior(service_actor* self, std::string node_name,
                               config::cache_node_settings cfg, std::shared_ptr<near_cache> l1,
                               std::shared_ptr<loader_table> loaders,
                               std::shared_ptr<cache_counters> count, caf::actor endpoint,
                               std::function<std::vector<cluster::member>()> members) {
  auto& st = self->state;
  st.router.bind(std::move(node_name), std::move(endpoint), std::move(members));
  st.cfg = cfg;
  st.l1 = std::move(l1);
  st.loaders = std::move(loaders);
  st.count = std::move(count);
  st.timeout = std::chrono::milliseconds{cfg.load_timeout_ms + 1000};
  self->set_down_handler([self](caf::down_msg& dm) { self->state.router.forget(dm.source); });
  self->send(self, view_tick_atom::value);
  self->delayed_send(self, std::chrono::milliseconds{cfg.cool_interval_ms}, cool_tick_atom::value);
  return {
      // A get from this node (host API or an actor): L1, else the key's shard.
      [self](const get_msg& g) -> caf::result<value_msg> {
        auto& st = self->state;
        auto now = now_ns();
        if (!g.prewarm()) {
          if (auto h = st.l1->get(g.key(), now)) {
            value_msg v;
            v.set_found(h->value != nullptr);
            if (h->value != nullptr) {
              v.set_value(*h->value);
            }
            v.set_version(h->version);
            v.set_source("l1");
            return v;
          }
        }
        auto rp = self->make_response_promise<value_msg>();
        if (g.prewarm()) {
          to_shard<get_msg, value_msg>(
              self, g.key(), g, [rp](const value_msg& v) mutable { rp.deliver(v); },
              [rp](const caf::error& err) mutable { rp.deliver(err); });
          return rp;
        }
        auto [i, fresh] = st.inflight.try_emplace(g.key());
        i->second.rps.push_back(rp);
        if (!fresh) {
          ++st.count->coalesced;
          return rp;
        }
        i->second.started = now;
        fetch(self, g);
        return rp;
      },
      [self](retry_atom, const get_msg& g) { fetch(self, g); },
      // From another node's service: this node's shard answers.
      [self](shard_atom, uint32_t shard, const get_msg& g) {
        self->delegate(local_shard(self, shard), g);
      },
      [self](shard_atom, uint32_t shard, const put_msg& p) -> caf::result<put_result_msg> {
        auto rp = self->make_response_promise<put_result_msg>();
        owner_put(self, shard, p, rp);
        return rp;
      },
      [self](shard_atom, uint32_t shard, const invalidate_msg& inv) -> caf::result<uint64_t> {
        auto rp = self->make_response_promise<uint64_t>();
        owner_invalidate(self, shard, inv, [rp](uint64_t n) mutable { rp.deliver(n); });
        return rp;
      },
      // From this node: a put goes to the owner of the key's shard.
      [self](const put_msg& p) -> caf::result<put_result_msg> {
        auto rp = self->make_response_promise<put_result_msg>();
        via_owner<put_msg, put_result_msg>(
            self, p.key(), p,
            [self, p, rp](uint32_t shard) mutable { owner_put(self, shard, p, rp); },
            [rp](const put_result_msg& r) mutable { rp.deliver(r); },
            [rp](const caf::error& err) mutable { rp.deliver(err); });
        return rp;
      },
      // A key: through the owner of its shard (see owner_invalidate). A tag: every node's
      // L1 and shards.
      [self](const invalidate_msg& inv) -> caf::result<uint64_t> {
        auto rp = self->make_response_promise<uint64_t>();
        if (!inv.tag().empty()) {
          broadcast(self, inv, [rp](uint64_t n) mutable { rp.deliver(n); });
          return rp;
        }
        via_owner<invalidate_msg, uint64_t>(
            self, inv.key(), inv,
            [self, inv, rp](uint32_t shard) mutable {
              owner_invalidate(self, shard, inv, [rp](uint64_t n) mutable { rp.deliver(n); });
            },
            [rp](uint64_t n) mutable { rp.deliver(n); },
            [rp](const caf::error& err) mutable { rp.deliver(err); });
        return rp;
      },
      [self](apply_atom, const invalidate_msg& inv) -> caf::result<caf::ok_atom> {
        auto rp = self->make_response_promise<caf::ok_atom>();
        apply_local(self, inv, [rp]() mutable { rp.deliver(caf::ok_atom::value); });
        return rp;
      },
      // A version the followed catalog stored: this node's entries of the title go.
      [self](const changed_msg& c) {
        auto& id = c.metadata().id();
        invalidate_msg by_key;
        by_key.set_key("meta/" + id);
        by_key.set_version(c.metadata().version());
        apply_local(self, by_key);
        invalidate_msg by_tag;
        by_tag.set_tag("content:" + id);
        apply_local(self, by_tag);
      },
      // From a shard here: push a hot key into every node's L1 (this one included).
      [self](hot_atom, const hot_msg& h) {
        for (auto& n : up_members(self)) {
          if (n == self->state.router.self_name()) {
            self->send(self, h);
            continue;
          }
          with_peer(
              self, n, [self, h](const caf::actor& svc) { self->send(svc, h); }, [] {});
        }
      },
      [self](const hot_msg& h) {
        auto& st = self->state;
        auto now = now_ns();
        auto r = st.l1->fill(h.key(), std::make_shared<const std::string>(h.value()), h.version(),
                             tags_of(h.tags()), now, now);
        if (r == fill_result::stored || r == fill_result::not_newer) {
          st.l1->mark_hot(h.key());
          ++st.count->hot_received;
        }
      },
      [self](view_tick_atom) { view_tick(self); },
      [self](cool_tick_atom) {
        auto& st = self->state;
        st.count->cooled += st.l1->cool(st.cfg.cool_below_hits).size();
        self->delayed_send(self, std::chrono::milliseconds{st.cfg.cool_interval_ms},
                           cool_tick_atom::value);
      },
      // Totals of the shards on this node: hits, misses, negative hits, evictions, refused,
      // not admitted, invalidated, bytes.
      [self](stats_atom) -> caf::result<std::vector<uint64_t>> {
        auto& st = self->state;
        auto rp = self->make_response_promise<std::vector<uint64_t>>();
        auto total = std::make_shared<std::vector<uint64_t>>(8, 0);
        auto pending = std::make_shared<size_t>(st.shards.size());
        if (*pending == 0) {
          rp.deliver(*total);
          return rp;
        }
        for (auto& [shard, a] : st.shards) {
          auto one = [rp, total, pending](const std::vector<uint64_t>* s) mutable {
            if (s != nullptr) {
              for (size_t i = 0; i < total->size() && i < s->size(); ++i) {
                (*total)[i] += (*s)[i];
              }
            }
            if (--*pending == 0) {
              rp.deliver(*total);
            }
          };
          self->request(a, caf::duration{st.timeout}, stats_atom::value)
              .then([one](const std::vector<uint64_t>& s) mutable { one(&s); },
                    [one](caf::error&) mutable { one(nullptr); });
        }
        return rp;
      },
  };
}

} // namespace

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
  service_ = sys_.spawn(service_behavior, n.settings().name, cfg, l1_, loaders_, count,
                        n.cluster_endpoint(), std::function<std::vector<cluster::member>()>{[np] {
                          return np->members();
                        }});
  count_ = count;
  cluster::register_service(sys_, service_name, service_);
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
  sv::ask<caf::ok_atom>(sys_, cat, timeout_, content::watch_atom::value, service_);
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

caf::expected<cached> remote_get(caf::actor_system& sys, const std::string& host, uint16_t port,
                                 const std::string& key, std::chrono::milliseconds timeout) {
  auto svc = cluster::lookup_service(sys, host, port, service_name, timeout);
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
