#include "actors/content/catalog.hpp"

#include <algorithm>
#include <map>
#include <stdexcept>
#include <vector>

#include <google/protobuf/util/json_util.h>
#include <spdlog/spdlog.h>

#include "actors/content/catalog_store.hpp"
#include "actors/content/view_cache.hpp"
#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/stateful_actor.hpp"
#include "runtime/cluster/endpoint.hpp"
#include "runtime/cluster/membership.hpp"
#include "runtime/cluster/placement.hpp"
#include "runtime/metrics/registry.hpp"
#include "runtime/node/ask.hpp"
#include "runtime/node/node.hpp"
#include "runtime/wire/errc.hpp"
#include "runtime/wire/message_types.hpp"
#include "runtime/wire/protobuf.hpp"

namespace sv::content {

namespace {

using update_msg = streamverse::v1::MetadataUpdate;
using changed_msg = streamverse::v1::MetadataChanged;
using view_atom = caf::atom_constant<caf::atom("sv_view")>;
using size_atom = caf::atom_constant<caf::atom("sv_size")>;
using stats_atom = caf::atom_constant<caf::atom("sv_stats")>;
using retry_atom = caf::atom_constant<caf::atom("sv_retry")>;
using repair_atom = caf::atom_constant<caf::atom("sv_repair")>;
using digest_msg = streamverse::v1::CatalogDigest;
using entries_msg = streamverse::v1::CatalogEntries;

// Anti-entropy buckets: a title's bucket is its id's hash modulo this.
constexpr size_t digest_buckets = 64;

size_t bucket_of(const std::string& id) {
  return static_cast<size_t>(cluster::stable_hash(id) % digest_buckets);
}

uint64_t fingerprint(const metadata& m) {
  return cluster::stable_hash(m.SerializeAsString());
}

uint64_t entry_hash(const metadata& m) {
  return cluster::rendezvous_weight(m.id(), std::to_string(m.version()) + ":"
                                                + std::to_string(fingerprint(m)));
}

// Pause between attempts to reach a peer that is up but not connected yet.
constexpr auto retry_pause = std::chrono::milliseconds{50};

constexpr auto service_name = caf::atom("sv_catalog");

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct catalog_state {
  std::string node_name;
  std::shared_ptr<catalog_store> store;
  std::map<std::string, metadata> replica;
  view_cache views;
  caf::actor endpoint;
  std::function<std::vector<std::string>()> view; // up members, sorted
  std::chrono::milliseconds timeout{5000};
  // Catalog actors of peers, by node name (looked up through their endpoints).
  std::map<std::string, caf::actor> peer_catalogs;
  // Actors told about every version this replica stores (watch_atom).
  std::vector<caf::actor> watchers;
  // Continuations waiting for retry_pause (see later()).
  std::map<uint64_t, std::function<void()>> delayed;
  uint64_t next_delayed = 0;
  // XOR of entry_hash over the titles of each bucket (anti-entropy digest).
  std::vector<uint64_t> digest = std::vector<uint64_t>(digest_buckets, 0);
  std::chrono::milliseconds repair_interval{1000};
  catalog_stats stats;
  metrics::counter* repaired = nullptr;
  metrics::counter* accepted = nullptr;
  metrics::counter* refused = nullptr;
  metrics::counter* applied = nullptr;
  metrics::counter* stale = nullptr;
  metrics::histogram* propagation = nullptr;

  static inline const char* name = "sv.content.catalog";
};

using catalog_actor = caf::stateful_actor<catalog_state>;

// Applies a version to the replica (store first: durable before visible). Returns true
// when it was newer.
bool apply(catalog_actor* self, const metadata& m) {
  auto& st = self->state;
  auto r = st.store->apply(m);
  if (!r) {
    spdlog::error("catalog: cannot store {} v{}: {}", m.id(), m.version(), st.store->error());
    return false;
  }
  if (*r == apply_result::stale) {
    ++st.stats.changes_stale;
    st.stale->inc();
    return false;
  }
  auto& slot = st.replica[m.id()];
  auto& bucket = st.digest[bucket_of(m.id())];
  if (!slot.id().empty()) {
    bucket ^= entry_hash(slot);
  }
  bucket ^= entry_hash(m);
  slot = m;
  st.views.invalidate(m.id(), m.version());
  if (!st.watchers.empty()) {
    changed_msg note;
    *note.mutable_metadata() = m;
    note.set_owner(st.node_name); // here: the replica that stored it
    for (auto& w : st.watchers) {
      self->send(w, note);
    }
  }
  ++st.stats.changes_applied;
  st.applied->inc();
  if (m.updated_at_ms() > 0) {
    st.propagation->observe(static_cast<double>(std::max<int64_t>(0, wall_ms() - m.updated_at_ms()))
                            / 1000.0);
  }
  return true;
}

// Runs `f` in this actor after `d`.
void later(catalog_actor* self, std::chrono::milliseconds d, std::function<void()> f) {
  auto id = self->state.next_delayed++;
  self->state.delayed.emplace(id, std::move(f));
  self->delayed_send(self, d, retry_atom::value, id);
}

// Calls `then(handle)` with the catalog of peer `name` (looked up once through the peer's
// endpoint, then cached), or `failed(err)`. A peer that is not connected yet (it joined a
// moment ago, or a connection is being re-established) is tried again every retry_pause
// until `deadline`.
template <class Then, class Failed>
void with_peer_catalog(catalog_actor* self, const std::string& name, Then then, Failed failed,
                       std::chrono::steady_clock::time_point deadline) {
  auto& st = self->state;
  if (auto i = st.peer_catalogs.find(name); i != st.peer_catalogs.end()) {
    then(i->second);
    return;
  }
  self->request(st.endpoint, caf::duration{st.timeout}, cluster::peers_atom::value)
      .then(
          [=](const std::vector<std::string>& names,
              const std::vector<caf::actor>& handles) mutable {
            auto i = std::find(names.begin(), names.end(), name);
            if (i == names.end()) {
              if (std::chrono::steady_clock::now() + retry_pause < deadline) {
                later(self, retry_pause,
                      [=] { with_peer_catalog(self, name, then, failed, deadline); });
              } else {
                failed(make_error(errc::unavailable, "not connected to " + name));
              }
              return;
            }
            auto peer_endpoint = handles[static_cast<size_t>(i - names.begin())];
            self->request(peer_endpoint, caf::duration{self->state.timeout},
                          cluster::lookup_atom::value, service_name)
                .then(
                    [=](const caf::actor& cat) mutable {
                      self->state.peer_catalogs[name] = cat;
                      self->monitor(cat);
                      then(cat);
                    },
                    [=](caf::error& err) mutable { failed(err); });
          },
          [=](caf::error& err) mutable { failed(err); });
}

// Sends a new version to every connected peer's catalog.
// Sends a new version to the catalog of every up member and calls `done` once each of
// them stored it or could not be reached (each within the timeout). The owner answers the
// update only then: an acknowledged version is on every up replica, so whichever member
// owns the title next has it if this node dies right after the answer.
void broadcast(catalog_actor* self, const metadata& m, std::function<void()> done) {
  changed_msg c;
  *c.mutable_metadata() = m;
  c.set_owner(self->state.node_name);
  // Every up member, connected yet or not (a member that just joined is reached as soon as
  // the connection is up, within half the timeout).
  std::vector<std::string> names;
  for (auto& n : self->state.view()) {
    if (n != self->state.node_name) {
      names.push_back(n);
    }
  }
  if (names.empty()) {
    done();
    return;
  }
  auto pending = std::make_shared<size_t>(names.size());
  auto one_done = [pending, done] {
    if (--*pending == 0) {
      done();
    }
  };
  for (auto& n : names) {
    auto missed = [=](const caf::error& err) {
      spdlog::warn("catalog: {} v{} not stored by {}: {}", m.id(), m.version(), n,
                   self->system().render(err));
      one_done();
    };
    with_peer_catalog(
        self, n,
        [=](const caf::actor& cat) {
          self->request(cat, caf::duration{self->state.timeout}, c)
              .then([=](caf::ok_atom) { one_done(); }, [=](caf::error& err) { missed(err); });
        },
        missed, std::chrono::steady_clock::now() + self->state.timeout / 2);
  }
}

// Anti-entropy, one round: the digest to every connected peer's catalog; the peer answers
// with (id, version) of the titles in the buckets that differ; each side then gets what it
// lacks: newer versions are pushed as MetadataChanged, missing or older ones fetched.
void reconcile(catalog_actor* self, const caf::actor& peer, const entries_msg& theirs) {
  auto& st = self->state;
  // id -> (version, fingerprint) on the peer.
  std::map<std::string, std::pair<uint64_t, uint64_t>> remote;
  std::vector<bool> differing(digest_buckets, false);
  for (auto b : theirs.buckets()) {
    if (b < digest_buckets) {
      differing[b] = true;
    }
  }
  for (auto& e : theirs.entries()) {
    remote[e.id()] = {e.version(), e.fingerprint()};
  }
  // Theirs is newer or we lack it: fetch.
  // Different: a version we lack, or the same version with another content (the store's
  // tie-break decides which one both sides keep).
  auto differs = [](const metadata& m, std::pair<uint64_t, uint64_t> theirs) {
    return m.version() != theirs.first || fingerprint(m) != theirs.second;
  };
  for (auto& [id, v] : remote) {
    auto mine = st.replica.find(id);
    if (mine == st.replica.end() || mine->second.version() < v.first
        || (mine->second.version() == v.first && differs(mine->second, v))) {
      self->request(peer, caf::duration{st.timeout}, caf::get_atom::value, id)
          .then(
              [self](const metadata& m) {
                if (apply(self, m)) {
                  self->state.repaired->inc();
                }
              },
              [](caf::error&) {});
    }
  }
  // In a bucket that differs, ours is newer or they lack it: push.
  for (auto& [id, m] : st.replica) {
    if (!differing[bucket_of(id)]) {
      continue;
    }
    auto theirs_v = remote.find(id);
    if (theirs_v == remote.end() || theirs_v->second.first < m.version()
        || (theirs_v->second.first == m.version() && differs(m, theirs_v->second))) {
      changed_msg c;
      *c.mutable_metadata() = m;
      c.set_owner(st.node_name);
      self->send(peer, c);
    }
  }
}

void repair_round(catalog_actor* self) {
  auto& st = self->state;
  digest_msg d;
  d.set_from(st.node_name);
  for (auto x : st.digest) {
    d.add_buckets(x);
  }
  self->request(st.endpoint, caf::duration{st.timeout}, cluster::peers_atom::value)
      .then(
          [=](const std::vector<std::string>& names, const std::vector<caf::actor>&) {
            for (auto& n : names) {
              with_peer_catalog(
                  self, n,
                  [=](const caf::actor& cat) {
                    self->request(cat, caf::duration{self->state.timeout}, d)
                        .then([=](const entries_msg& e) { reconcile(self, cat, e); },
                              [](caf::error&) {});
                  },
                  [](const caf::error&) {}, std::chrono::steady_clock::now());
            }
          },
          [](caf::error&) {});
  self->delayed_send(self, st.repair_interval, repair_atom::value);
}

// The owner's part of an update: check, version, store, tell everyone.
// The owner's checks and its durable write: the stored next version, or why the update was
// refused (nothing changed then).
caf::expected<metadata> accept_update(catalog_actor* self, const update_msg& u) {
  auto& st = self->state;
  auto& m = u.metadata();
  auto refuse = [&](caf::error err) -> caf::expected<metadata> {
    ++st.stats.updates_refused;
    st.refused->inc();
    return err;
  };
  if (auto why = validate(m); !why.empty()) {
    return refuse(make_error(errc::invalid_argument, why));
  }
  auto current = st.store->version_of(m.id());
  if (u.expected_version() != 0 && u.expected_version() != current) {
    return refuse(make_error(errc::version_conflict, m.id() + " is at version "
                                                         + std::to_string(current) + ", not "
                                                         + std::to_string(u.expected_version())));
  }
  metadata next = m;
  next.set_version(current + 1);
  next.set_updated_at_ms(wall_ms());
  if (!apply(self, next)) {
    return refuse(make_error(errc::unavailable, "cannot store " + m.id()));
  }
  ++st.stats.updates_accepted;
  st.accepted->inc();
  return next;
}

// Handles an update here when this node owns the title, else forwards it to the owner.
// While the owner cannot be reached (it just died and the view has not caught up, or it
// joined and is not connected yet), tries again every retry_pause with a fresh view until
// `deadline`: a caller sees a bounded delay, not an error, when ownership moves.
void route_update(catalog_actor* self, const update_msg& u, caf::response_promise rp,
                  std::chrono::steady_clock::time_point deadline) {
  auto& st = self->state;
  auto owner = cluster::owner_of(u.metadata().id(), st.view());
  if (owner.empty() || owner == st.node_name) {
    auto next = accept_update(self, u);
    if (!next) {
      rp.deliver(next.error());
      return;
    }
    // Answered once every up replica stored it (see broadcast).
    auto version = next->version();
    broadcast(self, *next, [rp, version]() mutable { rp.deliver(version); });
    return;
  }
  ++st.stats.forwarded;
  auto again = [=](const caf::error& err) mutable {
    if (std::chrono::steady_clock::now() + retry_pause < deadline) {
      later(self, retry_pause, [=] { route_update(self, u, rp, deadline); });
      return;
    }
    rp.deliver(make_error(errc::unavailable, "owner " + owner + " of " + u.metadata().id()
                                                 + " unreachable: " + self->system().render(err)));
  };
  with_peer_catalog(
      self, owner,
      [=](const caf::actor& cat) mutable {
        self->request(cat, caf::duration{self->state.timeout}, u)
            .then([=](uint64_t v) mutable { rp.deliver(v); },
                  [=](caf::error& err) mutable {
                    // The owner's own refusals are final; a lost owner is retried.
                    if (err.category() == caf::atom("sv")) {
                      rp.deliver(err);
                    } else {
                      again(err);
                    }
                  });
      },
      again, std::chrono::steady_clock::now());
}

caf::behavior catalog_behavior(catalog_actor* self, std::string node_name,
                               std::shared_ptr<catalog_store> store, caf::actor endpoint,
                               std::function<std::vector<std::string>()> view,
                               std::chrono::milliseconds timeout, metrics::registry* reg) {
  auto& st = self->state;
  st.node_name = std::move(node_name);
  st.store = std::move(store);
  st.endpoint = std::move(endpoint);
  st.view = std::move(view);
  st.timeout = timeout;
  for (auto& m : st.store->load_all()) {
    st.digest[bucket_of(m.id())] ^= entry_hash(m);
    st.replica[m.id()] = m;
  }
  st.repaired = &reg->counter_metric("sv_catalog_repaired_total",
                                     "Versions this replica got from anti-entropy");
  st.accepted = &reg->counter_metric("sv_catalog_updates_total", "Metadata updates as owner",
                                     {{"result", "accepted"}});
  st.refused = &reg->counter_metric("sv_catalog_updates_total", "Metadata updates as owner",
                                    {{"result", "refused"}});
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
    auto& pc = self->state.peer_catalogs;
    for (auto i = pc.begin(); i != pc.end(); ++i) {
      if (i->second.address() == dm.source) {
        pc.erase(i);
        return;
      }
    }
  });
  spdlog::info("catalog: {} titles loaded", st.replica.size());
  self->delayed_send(self, st.repair_interval, repair_atom::value);
  return {
      [self](const update_msg& u) -> caf::result<uint64_t> {
        auto rp = self->make_response_promise<uint64_t>();
        route_update(self, u, rp, std::chrono::steady_clock::now() + self->state.timeout / 2);
        return rp;
      },
      [self](const changed_msg& c) {
        apply(self, c.metadata());
        return caf::ok_atom::value; // stored, or already had it
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
            e->set_version(m.version());
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
        auto& r = self->state.replica;
        auto i = r.find(id);
        if (i == r.end()) {
          return make_error(errc::not_found, "no content " + id);
        }
        return i->second;
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
        if (!google::protobuf::util::MessageToJsonString(i->second, &json, opts).ok()) {
          return make_error(errc::invalid_argument, "cannot render " + id);
        }
        st.views.fill(id, json, i->second.version());
        return json;
      },
      [self](size_atom) { return static_cast<uint64_t>(self->state.replica.size()); },
      [self](stats_atom) {
        auto& s = self->state.stats;
        return std::vector<uint64_t>{s.updates_accepted, s.updates_refused, s.changes_applied,
                                     s.changes_stale, s.forwarded};
      },
      []() -> caf::error { return wire::undecodable("catalog"); },
  };
}

} // namespace

catalog::catalog(node& n, std::chrono::milliseconds timeout) : sys_(n.system()), timeout_(timeout) {
  auto path = n.settings().data_dir + "/catalog.db";
  auto store = std::make_shared<catalog_store>(path);
  if (!store->error().empty()) {
    throw std::runtime_error("catalog: " + store->error());
  }
  auto* np = &n;
  auto view = [np] {
    std::vector<std::string> up;
    for (auto& m : np->members()) {
      if (m.state == cluster::member_state::up) {
        up.push_back(m.name);
      }
    }
    return up;
  };
  actor_ = sys_.spawn(catalog_behavior, n.settings().name, store, n.cluster_endpoint(),
                      std::function<std::vector<std::string>()>{view}, timeout, &n.metrics());
  cluster::register_service(sys_, service_name, actor_);
}

catalog::~catalog() {
  sys_.registry().erase(service_name);
  caf::scoped_actor self{sys_};
  self->send_exit(actor_, caf::exit_reason::user_shutdown);
  self->wait_for(actor_);
}

caf::expected<uint64_t> catalog::update(metadata m, uint64_t expected_version, std::string origin) {
  update_msg u;
  *u.mutable_metadata() = std::move(m);
  u.set_expected_version(expected_version);
  u.set_origin(std::move(origin));
  return sv::ask<uint64_t>(sys_, actor_, timeout_, std::move(u));
}

caf::expected<metadata> catalog::get(const std::string& id) {
  return sv::ask<metadata>(sys_, actor_, timeout_, caf::get_atom::value, id);
}

caf::expected<std::string> catalog::view(const std::string& id) {
  return sv::ask<std::string>(sys_, actor_, timeout_, view_atom::value, id);
}

size_t catalog::size() {
  auto n = sv::ask<uint64_t>(sys_, actor_, timeout_, size_atom::value);
  return n ? static_cast<size_t>(*n) : 0;
}

catalog_stats catalog::stats() {
  auto v = sv::ask<std::vector<uint64_t>>(sys_, actor_, timeout_, stats_atom::value);
  catalog_stats s;
  if (v && v->size() == 5) {
    s = {(*v)[0], (*v)[1], (*v)[2], (*v)[3], (*v)[4]};
  }
  return s;
}

} // namespace sv::content
