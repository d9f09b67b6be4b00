// The L2 cache shard: one actor per shard this node owns, holding its store, loading misses
// from the origin (coalesced: one load per key at a time), and telling the service which
// keys turned hot.

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
#include "runtime/wire/errc.hpp"
#include "runtime/wire/protobuf.hpp"
#include "runtime/wire/undecodable.hpp"

namespace sv::cache::detail {

namespace {

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
  wire::answer_undecodable(self, "cache shard"); // never renders what it does not know
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

} // namespace

caf::actor spawn_shard(caf::local_actor* service, store_settings s, config::cache_node_settings cfg,
                       std::shared_ptr<loader_table> loaders,
                       std::shared_ptr<cache_counters> count) {
  return service->spawn<caf::linked>(shard_behavior, s, cfg, std::move(loaders), std::move(count),
                                     caf::actor_cast<caf::actor>(service));
}

} // namespace sv::cache::detail
