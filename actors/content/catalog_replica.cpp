// The catalog actor of a node: its replica of every title (stored, watched, served), the
// routing of updates to each title's owner (cluster::owner_router), and its handlers.

#include "actors/content/catalog_actor.hpp"

#include <algorithm>
#include <set>
#include <vector>

#include <google/protobuf/util/json_util.h>
#include <spdlog/spdlog.h>

#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/send.hpp"
#include "runtime/cluster/endpoint.hpp"
#include "runtime/wire/protobuf.hpp"
#include "runtime/wire/undecodable.hpp"

namespace sv::content::detail {

// What a replica does once its store took a version: memory, digest, view fences, watchers.
void stored(catalog_self* self, const stored_version& v) {
  auto& st = self->state;
  auto& m = v.value;
  auto& slot = st.replica[m.id()];
  auto& bucket = st.digest[bucket_of(m.id())];
  if (!slot.value.id().empty()) {
    bucket ^= entry_hash(slot);
  }
  bucket ^= entry_hash(v);
  slot = v;
  st.views.invalidate(m.id(), m.version());
  if (!st.watchers.empty()) {
    auto note = to_changed(v, st.router.self_name()); // owner field: the replica that stored it
    for (auto& w : st.watchers) {
      caf::anon_send(w, note);
    }
  }
  ++st.stats.changes_applied;
  st.applied->inc();
  if (m.updated_at_ms() > 0) {
    st.propagation->observe(static_cast<double>(std::max<int64_t>(0, wall_ms() - m.updated_at_ms()))
                            / 1000.0);
  }
}

// Applies a version from anti-entropy to the replica (store first: durable before
// visible). Returns true when it superseded what the replica had.
bool apply_version(catalog_self* self, const stored_version& v) {
  auto& st = self->state;
  auto r = st.store->apply(v.value, v.accepted);
  if (!r) {
    spdlog::error("catalog: cannot store {} v{}: {}", v.value.id(), v.value.version(),
                  st.store->error());
    return false;
  }
  if (*r == apply_result::stale) {
    ++st.stats.changes_stale;
    st.stale->inc();
    return false;
  }
  stored(self, v);
  return true;
}

// Runs `f` in this actor after `d`.
void later(catalog_self* self, std::chrono::milliseconds d, std::function<void()> f) {
  auto id = self->state.next_delayed++;
  self->state.delayed.emplace(id, std::move(f));
  self->delayed_send(self, d, retry_atom::value, id);
}

namespace {

// Handles an update here when this node owns the title, else forwards it to the owner.
// While the owner cannot be reached (it just died and the view has not caught up, or it
// joined and is not connected yet), tries again every retry_pause with a fresh view until
// `deadline`: a caller sees a bounded delay, not an error, when ownership moves.
void route_update(catalog_self* self, const update_msg& u, caf::response_promise rp,
                  std::chrono::steady_clock::time_point deadline) {
  auto& st = self->state;
  auto& id = u.metadata().id();
  auto here = [=]() mutable {
    auto& st = self->state;
    if (auto why = validate(u.metadata()); !why.empty()) {
      ++st.stats.updates_refused;
      st.refused->inc();
      rp.deliver(make_error(errc::invalid_argument, why));
      return;
    }
    // One proposal per title at a time; they queue behind each other here.
    auto& q = st.queued[id];
    q.push_back(pending_update{u, std::move(rp), deadline, std::nullopt});
    if (q.size() == 1) {
      attempt(self, id);
    }
  };
  auto again = [=](const caf::error& err, const std::string& owner) mutable {
    if (std::chrono::steady_clock::now() + retry_pause < deadline) {
      later(self, retry_pause, [=] { route_update(self, u, rp, deadline); });
      return;
    }
    rp.deliver(make_error(errc::unavailable, "owner " + owner + " of " + u.metadata().id()
                                                 + " unreachable: " + self->system().render(err)));
  };
  st.router.route(
      self, id, st.timeout, here,
      [=](const caf::actor& owner_catalog, const std::string& owner) mutable {
        auto cat = caf::actor_cast<catalog_actor>(owner_catalog);
        ++self->state.stats.forwarded;
        self->request(cat, caf::duration{self->state.timeout}, u)
            .then([=](uint64_t v) mutable { rp.deliver(v); },
                  [=](caf::error& err) mutable {
                    // The owner's own refusals are final; a lost owner is retried.
                    if (is_refusal(err)) {
                      rp.deliver(err);
                    } else {
                      again(err, owner);
                    }
                  });
      },
      again);
}

// Answers a get for a title this replica lacks from the best-placed other replicas, asked
// at once: the first that has it decides (its version is stored here too); "not found"
// only when none has it. A "not found" from one of them is not final: after nodes joined,
// the best-placed replicas may be new ones that have not caught up by anti-entropy either,
// while the one that owned the title before ranks behind them. One that is not connected
// yet (a member learned by gossip right after this node joined) or does not answer in time
// is waited for within the lookup's bound (it joined a moment ago and is connecting); one
// that does not answer in time makes the answer "unavailable", not "not found". When none
// of the best-placed is in this node's region, up to read_through_local replicas of that
// region are asked too: every replica holds every title, and those are a LAN away while
// the best-placed may be an ocean away.
constexpr size_t read_through_fanout = 4;
constexpr size_t read_through_local = 2;

// Whom a read-through of `id` asks: the best-placed other replicas, and when none of them
// is in this node's region, up to read_through_local of those.
template <class Router>
std::vector<std::string> read_through_replicas(const Router& router, const std::string& id) {
  auto ms = router.members();
  auto up = up_names(ms);
  std::vector<std::string> others;
  for (auto& name : router.owners(id, up, read_through_fanout + 1)) {
    if (name != router.self_name() && others.size() < read_through_fanout) {
      others.push_back(name);
    }
  }
  std::string region;
  for (auto& m : ms) {
    if (m.name == router.self_name()) {
      region = m.region;
    }
  }
  if (region.empty()) {
    return others;
  }
  auto in_region = [&](const std::string& name) {
    return std::any_of(ms.begin(), ms.end(), [&](const cluster::member& m) {
      return m.name == name && m.region == region;
    });
  };
  if (std::any_of(others.begin(), others.end(), in_region)) {
    return others; // one of them is a LAN away already
  }
  size_t local = 0;
  for (auto& name : router.owners(id, up_names_in(ms, region), up.size())) {
    if (local == read_through_local) {
      break;
    }
    if (name != router.self_name()
        && std::find(others.begin(), others.end(), name) == others.end()) {
      others.push_back(name);
      ++local;
    }
  }
  return others;
}

void read_through(catalog_self* self, caf::response_promise rp, const std::string& id,
                  std::vector<std::string> others) {
  if (others.empty()) {
    rp.deliver(make_error(errc::not_found, "no content " + id));
    return;
  }
  struct asking {
    caf::response_promise rp;
    size_t left = 0;
    bool answered = false, any_silent = false;
  };
  auto a = std::make_shared<asking>();
  a->rp = std::move(rp);
  a->left = others.size();
  auto one_less = [self, a, id, others](bool silent) {
    a->any_silent = a->any_silent || silent;
    if (--a->left != 0 || a->answered) {
      return;
    }
    a->answered = true;
    std::string names;
    for (auto& o : others) {
      names += (names.empty() ? "" : ", ") + o;
    }
    // "Not found" is a claim that the title does not exist: only when every replica asked
    // said so. One that could not be asked may have it: unavailable (worth a retry).
    if (a->any_silent) {
      a->rp.deliver(make_error(errc::unavailable, "content " + id + " not here, and " + names
                                                      + ", which would know, did not all answer"));
      return;
    }
    a->rp.deliver(
        make_error(errc::not_found, "no content " + id + " (here; nor at " + names + ")"));
  };
  // The whole fan-out stays within 1.75 s (7/8 of the catalog's timeout when that is
  // shorter): an open's availability check and the cache's playlist loader wait 2 s for
  // the answer, and get "not found" or "unavailable" rather than a timeout. Of it, a
  // replica not connected yet is waited for 3/7, its lookup and its answer take 2/7 each.
  auto& st = self->state;
  auto budget = std::min(st.timeout, std::chrono::milliseconds{2000}) * 7 / 8;
  auto connect_wait = budget * 3 / 7;
  auto lookup = budget * 2 / 7;
  auto answer = caf::duration{budget * 2 / 7};
  for (auto& name : others) {
    st.router.with_peer(
        self, name, lookup,
        [=](const caf::actor& other) {
          self->request(caf::actor_cast<catalog_actor>(other), answer, fetch_atom::value, id)
              .then(
                  [=](const changed_msg& c) {
                    apply_version(self, from_msg(c));
                    auto j = self->state.replica.find(id);
                    if (a->answered || j == self->state.replica.end()) {
                      one_less(false);
                      return;
                    }
                    a->answered = true;
                    a->rp.deliver(j->second.value);
                  },
                  [=](caf::error& err) { one_less(!is(err, errc::not_found)); });
        },
        [=](const caf::error&) { one_less(true); }, connect_wait);
  }
}

catalog_private::behavior_type
catalog_behavior(catalog_self* self, std::string node_name, std::shared_ptr<catalog_store> store,
                 caf::actor endpoint, std::function<std::vector<cluster::member>()> members,
                 std::chrono::milliseconds timeout, metrics::registry* reg,
                 std::chrono::milliseconds repair_interval) {
  auto& st = self->state;
  st.repair_interval = repair_interval;
  st.router.bind(std::move(node_name), std::move(endpoint), std::move(members));
  st.store = std::move(store);
  st.voters = st.store->voters();
  st.jitter.seed(
      static_cast<std::minstd_rand::result_type>(cluster::stable_hash(st.router.self_name())));
  st.timeout = timeout;
  for (auto& v : st.store->load_all()) {
    st.digest[bucket_of(v.value.id())] ^= entry_hash(v);
    st.replica[v.value.id()] = v;
  }
  st.repaired = &reg->counter_metric("sv_catalog_repaired_total",
                                     "Versions this replica got from anti-entropy");
  st.accepted = &reg->counter_metric("sv_catalog_updates_total", "Metadata updates as owner",
                                     {{"result", "accepted"}});
  st.refused = &reg->counter_metric("sv_catalog_updates_total", "Metadata updates as owner",
                                    {{"result", "refused"}});
  st.no_majority = &reg->counter_metric(
      "sv_catalog_no_majority_total",
      "Updates refused as unavailable because no majority of the voters answered (also "
      "counted as refused)");
  st.applied =
      &reg->counter_metric("sv_catalog_changes_total", "Metadata versions received by the replica",
                           {{"result", "applied"}});
  st.stale =
      &reg->counter_metric("sv_catalog_changes_total", "Metadata versions received by the replica",
                           {{"result", "stale"}});
  st.propagation = &reg->histogram_metric(
      "sv_catalog_propagation_seconds",
      "From the owner accepting a version to this replica storing it", metrics::latency_buckets());
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& ws = self->state.watchers;
    ws.erase(std::remove_if(ws.begin(), ws.end(),
                            [&](const caf::actor& w) { return w.address() == dm.source; }),
             ws.end());
    self->state.router.forget(dm.source);
  });
  wire::answer_undecodable(self, "catalog");
  spdlog::info("catalog: {} titles loaded", st.replica.size());
  self->delayed_send(self, st.repair_interval, repair_atom::value);
  return {
      [self](const update_msg& u) -> caf::result<uint64_t> {
        auto rp = self->make_response_promise<uint64_t>();
        route_update(self, u, rp, std::chrono::steady_clock::now() + self->state.timeout / 2);
        return rp;
      },
      [self](const changed_msg& c) {
        apply_version(self, from_msg(c));
        return caf::ok_atom::value; // stored, or already had it
      },
      [self](const prepare_msg& p) {
        auto r = consensus::prepare(*self->state.store, p.id(), from_msg(p.ballot()));
        promise_msg out;
        out.set_ok(r.ok);
        to_msg(r.promised, out.mutable_promised());
        if (r.accepted) {
          *out.mutable_accepted() = to_changed(*r.accepted, self->state.router.self_name());
        }
        return out;
      },
      [self](const accept_msg& a) {
        auto v = from_msg(a.change());
        auto r = consensus::accept(*self->state.store, v.value, v.accepted);
        if (r.stored) {
          stored(self, v);
        }
        accepted_msg out;
        out.set_ok(r.ok);
        to_msg(r.promised, out.mutable_promised());
        return out;
      },
      [self](fetch_atom, const std::string& id) -> caf::result<changed_msg> {
        auto& r = self->state.replica;
        auto i = r.find(id);
        if (i == r.end()) {
          return make_error(errc::not_found, "no content " + id);
        }
        return to_changed(i->second, self->state.router.self_name());
      },
      [](caf::ok_atom) {
        // A replica's answer to an anti-entropy push: nothing to do.
      },
      [self](repair_atom) { repair_round(self); },
      [self](watch_atom, const caf::actor& watcher) {
        self->monitor(watcher);
        self->state.watchers.push_back(watcher);
        return caf::ok_atom::value;
      },
      [self](const digest_msg& theirs) {
        // Our entries in every bucket whose digest differs from theirs (all buckets when
        // their digest is malformed).
        auto& st = self->state;
        std::vector<bool> differs(digest_buckets, true);
        if (static_cast<size_t>(theirs.buckets_size()) == digest_buckets) {
          for (size_t i = 0; i < digest_buckets; ++i) {
            differs[i] = theirs.buckets(static_cast<int>(i)) != st.digest[i];
          }
        }
        entries_msg out;
        for (size_t i = 0; i < digest_buckets; ++i) {
          if (differs[i]) {
            out.add_buckets(static_cast<uint32_t>(i));
          }
        }
        for (auto& [id, m] : st.replica) {
          if (differs[bucket_of(id)]) {
            auto* e = out.add_entries();
            e->set_id(id);
            e->set_version(m.value.version());
            e->set_fingerprint(fingerprint(m));
          }
        }
        return out;
      },
      [self](retry_atom, uint64_t id) {
        auto& d = self->state.delayed;
        if (auto i = d.find(id); i != d.end()) {
          auto f = std::move(i->second);
          d.erase(i);
          f();
        }
      },
      [self](caf::get_atom, const std::string& id) -> caf::result<metadata> {
        auto& st = self->state;
        if (auto i = st.replica.find(id); i != st.replica.end()) {
          return i->second.value;
        }
        // Not here: a replica that just joined has not caught up by anti-entropy yet (or the
        // title does not exist). The best-placed other replicas are asked (the owner, and
        // the ones that owned it before nodes joined), and a version found is stored here.
        auto rp = self->make_response_promise<metadata>();
        read_through(self, rp, id, read_through_replicas(st.router, id));
        return rp;
      },
      [self](view_atom, const std::string& id) -> caf::result<std::string> {
        auto& st = self->state;
        if (auto* e = st.views.get(id)) {
          return e->value;
        }
        auto i = st.replica.find(id);
        if (i == st.replica.end()) {
          return make_error(errc::not_found, "no content " + id);
        }
        std::string json;
        google::protobuf::util::JsonPrintOptions opts;
        opts.preserve_proto_field_names = true;
        if (!google::protobuf::util::MessageToJsonString(i->second.value, &json, opts).ok()) {
          return make_error(errc::invalid_argument, "cannot render " + id);
        }
        st.views.fill(id, json, i->second.value.version());
        return json;
      },
      [self](size_atom) { return static_cast<uint64_t>(self->state.replica.size()); },
      [self](stats_atom) {
        auto& s = self->state.stats;
        return std::vector<uint64_t>{s.updates_accepted, s.updates_refused, s.changes_applied,
                                     s.changes_stale, s.forwarded};
      },
  };
}

} // namespace

catalog_actor spawn_catalog(caf::actor_system& sys, std::string node_name,
                            std::shared_ptr<catalog_store> store, caf::actor endpoint,
                            std::function<std::vector<cluster::member>()> members,
                            std::chrono::milliseconds timeout, metrics::registry* reg,
                            std::chrono::milliseconds repair_interval) {
  return sys.spawn(catalog_behavior, std::move(node_name), std::move(store), std::move(endpoint),
                   std::move(members), timeout, reg, repair_interval);
}

} // namespace sv::content::detail
