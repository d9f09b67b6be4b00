// The node's cache service: the near cache (L1), routing of misses and writes to the
// owner of each key's shard (cluster::owner_router), invalidations to every node, hot keys
// pushed into every near cache and cooled again.

#include "actors/cache/cache_actors.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/local_actor.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"
#include "caf/typed_event_based_actor.hpp"
#include "runtime/cluster/endpoint.hpp"
#include "runtime/cluster/owner_router.hpp"
#include "runtime/wire/errc.hpp"
#include "runtime/wire/protobuf.hpp"
#include "runtime/wire/undecodable.hpp"

namespace sv::cache::detail {

namespace {

struct service_state {
  config::cache_node_settings cfg;
  std::shared_ptr<near_cache> l1;
  std::shared_ptr<loader_table> loaders;
  std::shared_ptr<cache_counters> count;
  std::map<uint32_t, caf::actor> shards; // the shard actors on this node
  // Shard owners and the other nodes' cache services.
  cluster::owner_router<caf::stateful_actor<service_state, cache_private::base>> router{
      service_name};
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

using service_actor = caf::stateful_actor<service_state, cache_private::base>;

cache_actor peer(const caf::actor& svc) {
  return caf::actor_cast<cache_actor>(svc);
}

// Every up member, in every region: whom invalidations reach.
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
  // This node's L2 budget over the shards it is expected to own (among its region's nodes).
  auto nodes = std::max<size_t>(1, st.router.placement().size());
  auto owned = std::max<size_t>(1, (st.cfg.shards + nodes - 1) / nodes);
  store_settings s;
  s.max_bytes = std::max<size_t>(1, static_cast<size_t>(st.cfg.l2_bytes / owned));
  s.max_entry_bytes = static_cast<size_t>(st.cfg.max_entry_bytes);
  s.negative_ttl = std::chrono::milliseconds{st.cfg.negative_ttl_ms};
  auto a = spawn_shard(self, s, st.cfg, st.loaders, st.count);
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
        self->request(peer(svc), timeout, shard_atom::value, shard, msg)
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
        self->request(peer(svc), caf::duration{self->state.timeout}, shard_atom::value, shard, msg)
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
          self->request(peer(svc), caf::duration{self->state.timeout}, apply_atom::value, inv)
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
      caf::anon_send(a, flush_atom::value);
    }
    ++st.count->flushes;
  }
  auto placed = st.router.placement();
  for (auto i = st.shards.begin(); i != st.shards.end();) {
    if (!st.router.is_local(st.router.owner(shard_key(i->first), placed))) {
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

cache_private::behavior_type
service_behavior(service_actor* self, std::string node_name, config::cache_node_settings cfg,
                 std::shared_ptr<near_cache> l1, std::shared_ptr<loader_table> loaders,
                 std::shared_ptr<cache_counters> count, caf::actor endpoint,
                 std::function<std::vector<cluster::member>()> members) {
  auto& st = self->state;
  // Each region has its own L2 shard set: a miss never crosses the WAN but to the origin.
  st.router.bind(std::move(node_name), std::move(endpoint), std::move(members),
                 cluster::placement_scope::region);
  st.cfg = cfg;
  st.l1 = std::move(l1);
  st.loaders = std::move(loaders);
  st.count = std::move(count);
  st.timeout = std::chrono::milliseconds{cfg.load_timeout_ms + 1000};
  self->set_down_handler([self](caf::down_msg& dm) { self->state.router.forget(dm.source); });
  wire::answer_undecodable(self, "cache service");
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
      [self](shard_atom, uint32_t shard, const get_msg& g) -> caf::result<value_msg> {
        self->delegate(local_shard(self, shard), g);
        return caf::delegated<value_msg>{};
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
      // From a shard here: push a hot key into the L1 of every node of this region (this one
      // included), the nodes its shard serves; each region's shards push their own.
      [self](hot_atom, const hot_msg& h) {
        for (auto& n : self->state.router.placement()) {
          if (n == self->state.router.self_name()) {
            self->send(self, h);
            continue;
          }
          with_peer(
              self, n, [self, h](const caf::actor& svc) { self->send(peer(svc), h); }, [] {});
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

cache_actor spawn_service(caf::actor_system& sys, std::string node_name,
                          config::cache_node_settings cfg, std::shared_ptr<near_cache> l1,
                          std::shared_ptr<loader_table> loaders,
                          std::shared_ptr<cache_counters> count, caf::actor endpoint,
                          std::function<std::vector<cluster::member>()> members) {
  return sys.spawn(service_behavior, std::move(node_name), cfg, std::move(l1), std::move(loaders),
                   std::move(count), std::move(endpoint), std::move(members));
}

} // namespace sv::cache::detail
