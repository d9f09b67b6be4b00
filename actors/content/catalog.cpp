#include "actors/content/catalog.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <vector>

#include <google/protobuf/util/json_util.h>
#include <spdlog/spdlog.h>

#include "actors/content/catalog_store.hpp"
#include "actors/content/consensus.hpp"
#include "actors/content/view_cache.hpp"
#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/stateful_actor.hpp"
#include "runtime/cluster/endpoint.hpp"
#include "runtime/cluster/membership.hpp"
#include "runtime/cluster/owner_router.hpp"
#include "runtime/cluster/placement.hpp"
#include "runtime/metrics/registry.hpp"
#include "runtime/node/ask.hpp"
#include "runtime/node/node.hpp"
#include "runtime/util/clock.hpp"
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
using fetch_atom = caf::atom_constant<caf::atom("sv_fetch")>;
using digest_msg = streamverse::v1::CatalogDigest;
using entries_msg = streamverse::v1::CatalogEntries;
using prepare_msg = streamverse::v1::CatalogPrepare;
using promise_msg = streamverse::v1::CatalogPromise;
using accept_msg = streamverse::v1::CatalogAccept;
using accepted_msg = streamverse::v1::CatalogAccepted;
using ballot_msg = streamverse::v1::Ballot;

// Anti-entropy buckets: a title's bucket is its id's hash modulo this.
constexpr size_t digest_buckets = 64;

size_t bucket_of(const std::string& id) {
  return static_cast<size_t>(cluster::stable_hash(id) % digest_buckets);
}

// Content and ballot: replicas that hold one version under different ballots repair too.
uint64_t fingerprint(const stored_version& v) {
  return cluster::stable_hash(v.value.SerializeAsString() + "\n" + std::to_string(v.accepted.round)
                              + ":" + v.accepted.node);
}

uint64_t entry_hash(const stored_version& v) {
  return cluster::rendezvous_weight(v.value.id(), std::to_string(v.value.version()) + ":"
                                                      + std::to_string(fingerprint(v)));
}

// Pause between attempts to reach a peer that is up but not connected yet, and (plus a
// random part) between two attempts of a proposal that a higher ballot interrupted.
constexpr auto retry_pause = std::chrono::milliseconds{50};

// Once a majority stored a version, how long the owner still waits for the other members'
// answers before it acknowledges (so that a version is normally readable on every node
// when its update returns, without a stalled member holding the answer up).
constexpr auto ack_grace = std::chrono::milliseconds{200};

ballot from_msg(const ballot_msg& b) {
  return {b.round(), b.node()};
}

void to_msg(const ballot& b, ballot_msg* out) {
  out->set_round(b.round);
  out->set_node(b.node);
}

stored_version from_msg(const changed_msg& c) {
  return {c.metadata(), from_msg(c.ballot())};
}

changed_msg to_changed(const stored_version& v, const std::string& from) {
  changed_msg c;
  *c.mutable_metadata() = v.value;
  c.set_owner(from);
  to_msg(v.accepted, c.mutable_ballot());
  return c;
}

// An update waiting for (or in) its proposal at the owner.
struct pending_update {
  update_msg update;
  caf::response_promise rp;
  std::chrono::steady_clock::time_point deadline;
  // The version an earlier attempt of this update proposed: when the next attempt finds it
  // as the highest, it proposes the same version again (it may already be chosen).
  std::optional<stored_version> attempted;
};

constexpr auto service_name = caf::atom("sv_catalog");

using sv::clock::wall_ms;

struct catalog_state {
  std::shared_ptr<catalog_store> store;
  std::map<std::string, stored_version> replica;
  view_cache views;
  // The members whose majority an update needs (persisted; see refresh_voters()).
  std::vector<std::string> voters;
  // Updates per title at this owner: the front one is being proposed.
  std::map<std::string, std::deque<pending_update>> queued;
  // The highest ballot round seen per title (ours or a refusal's).
  std::map<std::string, uint64_t> rounds;
  // Titles whose last proposal here was chosen, with that version and ballot: the next
  // update of the title skips phase 1 (consensus::proposal::continuing).
  std::map<std::string, stored_version> leading;
  std::minstd_rand jitter;
  std::chrono::milliseconds timeout{5000};
  // Title owners (this node's name, endpoint and member view) and the peers' catalogs.
  cluster::owner_router<caf::stateful_actor<catalog_state>> router{service_name};
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
  metrics::counter* no_majority = nullptr;
  metrics::counter* applied = nullptr;
  metrics::counter* stale = nullptr;
  metrics::histogram* propagation = nullptr;

  static inline const char* name = "sv.content.catalog";
};

using catalog_actor = caf::stateful_actor<catalog_state>;

// What a replica does once its store took a version: memory, digest, view fences, watchers.
void stored(catalog_actor* self, const stored_version& v) {
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
      self->send(w, note);
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
bool apply(catalog_actor* self, const stored_version& v) {
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
void later(catalog_actor* self, std::chrono::milliseconds d, std::function<void()> f) {
  auto id = self->state.next_delayed++;
  self->state.delayed.emplace(id, std::move(f));
  self->delayed_send(self, d, retry_atom::value, id);
}

// Calls `then(handle)` with the catalog of peer `name` (looked up once, then cached), or
// `failed(err)`. A peer that is not connected yet (it joined a moment ago, or a connection
// is being re-established) is tried again every retry_pause until `deadline`. Calls for one
// peer are answered in the order they were made.
template <class Then, class Failed>
void with_peer_catalog(catalog_actor* self, const std::string& name, Then then, Failed failed,
                       std::chrono::steady_clock::time_point deadline) {
  auto& st = self->state;
  st.router.with_peer(self, name, st.timeout, then, [=](const caf::error& err) mutable {
    if (is(err, errc::unavailable) && std::chrono::steady_clock::now() + retry_pause < deadline) {
      later(self, retry_pause, [=] { with_peer_catalog(self, name, then, failed, deadline); });
    } else {
      failed(err);
    }
  });
}

// Keeps the voter set (the members whose majority an update needs) in step with the
// membership, persisted so that a node restarted alone does not believe it is the cluster:
// a member is added once seen up and removed when it leaves gracefully; a member that
// crashed stays a voter while it is listed down, and is dropped once the membership forgot
// it only by a node that sees a majority of the voters up. So the minority side of a
// partition never shrinks the set into a majority of its own.
void refresh_voters(catalog_actor* self) {
  auto& st = self->state;
  std::set<std::string> voters(st.voters.begin(), st.voters.end());
  voters.insert(st.router.self_name());
  std::set<std::string> listed;
  std::set<std::string> up;
  auto members = st.router.members();
  for (auto& m : members) {
    listed.insert(m.name);
    if (m.state == cluster::member_state::up) {
      voters.insert(m.name);
      up.insert(m.name);
    }
  }
  for (auto& m : members) {
    if (m.state == cluster::member_state::leaving && m.name != st.router.self_name()) {
      voters.erase(m.name);
    }
  }
  auto up_voters = static_cast<size_t>(std::count_if(voters.begin(), voters.end(), [&](auto& v) {
    return v == st.router.self_name() || up.count(v) > 0;
  }));
  if (up_voters >= consensus::quorum(voters.size())) {
    for (auto i = voters.begin(); i != voters.end();) {
      i = (*i != st.router.self_name() && listed.count(*i) == 0) ? voters.erase(i) : std::next(i);
    }
  }
  std::vector<std::string> next(voters.begin(), voters.end());
  if (next != st.voters) {
    if (!st.store->set_voters(next)) {
      spdlog::error("catalog: cannot store the voter set: {}", st.store->error());
    }
    st.voters = std::move(next);
    spdlog::info("catalog: {} voters", st.voters.size());
  }
}

// Sends `msg` to the catalog of each of `names` and calls `answer` with each reply, or
// with nullptr for a peer that did not answer by `deadline` (at least retry_pause).
template <class Reply, class Msg, class Answer>
void ask_each(catalog_actor* self, const std::vector<std::string>& names, const Msg& msg,
              std::chrono::steady_clock::time_point deadline, Answer answer) {
  auto now = std::chrono::steady_clock::now();
  auto wait = std::max<std::chrono::steady_clock::duration>(retry_pause, deadline - now);
  auto timeout = caf::duration{std::chrono::duration_cast<std::chrono::milliseconds>(wait)};
  for (auto& n : names) {
    with_peer_catalog(
        self, n,
        [=](const caf::actor& cat) {
          self->request(cat, timeout, msg)
              .then([=](const Reply& r) { answer(&r); },
                    [=](caf::error&) { answer(static_cast<const Reply*>(nullptr)); });
        },
        [=](const caf::error&) { answer(static_cast<const Reply*>(nullptr)); }, now + wait);
  }
}

void attempt(catalog_actor* self, const std::string& id);

// Answers the update at the front of `id`'s queue and starts the next one.
void finish(catalog_actor* self, const std::string& id, caf::expected<uint64_t> result) {
  auto& queued = self->state.queued;
  auto q = queued.find(id);
  if (q == queued.end() || q->second.empty()) {
    return;
  }
  auto rp = std::move(q->second.front().rp);
  q->second.pop_front();
  if (result) {
    rp.deliver(*result);
  } else {
    rp.deliver(result.error());
  }
  if (q->second.empty()) {
    queued.erase(q);
  } else {
    attempt(self, id);
  }
}

void refuse(catalog_actor* self, const std::string& id, caf::error err) {
  auto& st = self->state;
  ++st.stats.updates_refused;
  st.refused->inc();
  finish(self, id, std::move(err));
}

// One phase of one attempt, as the owner sees it.
struct phase_state {
  consensus::proposal proposal;
  std::vector<std::string> peers;
  size_t answered = 0;
  bool decided = false; // moved on: to the next phase, a retry or the answer
  bool grace = false;
  bool continuing = false; // phase 1 skipped (see catalog_state::leading)

  phase_state(ballot b, size_t voters, std::vector<std::string> to)
      : proposal(std::move(b), voters), peers(std::move(to)) {}
  phase_state(consensus::proposal p, std::vector<std::string> to)
      : proposal(std::move(p)), peers(std::move(to)) {}
  bool all_answered() const {
    return answered == peers.size() + 1; // the peers and this node
  }
};

// Gives up on a phase that is still undecided at `deadline` (a peer whose connection is
// gone but not yet noticed may take longer than that to fail).
void expire_at(catalog_actor* self, const std::string& id, std::shared_ptr<phase_state> ph,
               std::chrono::steady_clock::time_point deadline);

// An attempt was interrupted (a higher ballot) or did not reach a majority: again after a
// short random pause while the update's deadline allows, else unavailable.
void retry_or_fail(catalog_actor* self, const std::string& id, const ballot& refusal,
                   const std::string& why) {
  auto& st = self->state;
  auto& round = st.rounds[id];
  round = std::max(round, refusal.round);
  auto& p = st.queued[id].front();
  auto pause = retry_pause + std::chrono::milliseconds{st.jitter() % 50};
  if (std::chrono::steady_clock::now() + pause < p.deadline) {
    later(self, pause, [self, id] { attempt(self, id); });
    return;
  }
  st.no_majority->inc();
  refuse(self, id, make_error(errc::unavailable, id + ": " + why));
}

// Phase 2: the update applied to the highest version a majority reported, accepted under
// the attempt's ballot by every reachable voter; answered once a majority stored it.
void propose(catalog_actor* self, const std::string& id, const phase_state& prepared) {
  auto& st = self->state;
  auto& p = st.queued[id].front();
  auto& base = prepared.proposal.highest();
  auto& b = prepared.proposal.number();
  metadata next;
  if (p.attempted && base && base->value.version() == p.attempted->value.version()
      && base->accepted == p.attempted->accepted) {
    next = p.attempted->value; // this update's own earlier attempt: maybe chosen already
  } else {
    auto current = base ? base->value.version() : 0;
    auto expected = p.update.expected_version();
    if (expected != 0 && expected != current && prepared.continuing) {
      // The cached base may be behind (another owner meanwhile): ask a majority first.
      st.leading.erase(id);
      attempt(self, id);
      return;
    }
    if (expected != 0 && expected != current) {
      refuse(self, id,
             make_error(errc::version_conflict, id + " is at version " + std::to_string(current)
                                                    + ", not " + std::to_string(expected)));
      return;
    }
    next = p.update.metadata();
    next.set_version(current + 1);
    next.set_updated_at_ms(wall_ms());
  }
  p.attempted = stored_version{next, b};
  auto ph = std::make_shared<phase_state>(b, st.voters.size(), prepared.peers);
  auto version = next.version();
  auto answer = [self, id, ph, version](const accepted_msg* r) {
    ++ph->answered;
    if (r != nullptr) {
      consensus::accept_reply reply;
      reply.ok = r->ok();
      reply.promised = from_msg(r->promised());
      ph->proposal.on_accepted(reply);
    }
    if (ph->decided) {
      return;
    }
    auto acknowledge = [self, id, ph, version] {
      ph->decided = true;
      self->state.leading[id] = *self->state.queued[id].front().attempted;
      ++self->state.stats.updates_accepted;
      self->state.accepted->inc();
      finish(self, id, version);
    };
    if (ph->proposal.chosen()) {
      if (ph->all_answered()) {
        acknowledge();
      } else if (!ph->grace) {
        ph->grace = true;
        later(self, ack_grace, [ph, acknowledge] {
          if (!ph->decided) {
            acknowledge();
          }
        });
      }
    } else if (ph->all_answered()) {
      ph->decided = true;
      self->state.leading.erase(id);
      retry_or_fail(self, id, ph->proposal.highest_refusal(),
                    "no majority stored the version (a member is unreachable or another "
                    "owner is proposing)");
    }
  };
  accept_msg msg;
  *msg.mutable_change() = to_changed(p.attempted.value(), st.router.self_name());
  auto local = consensus::accept(*st.store, next, b);
  if (local.stored) {
    stored(self, {next, b});
  }
  ask_each<accepted_msg>(self, ph->peers, msg, p.deadline, answer);
  expire_at(self, id, ph, p.deadline);
  accepted_msg mine;
  mine.set_ok(local.ok);
  to_msg(local.promised, mine.mutable_promised());
  answer(&mine);
}

void expire_at(catalog_actor* self, const std::string& id, std::shared_ptr<phase_state> ph,
               std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  later(self, std::max(left, std::chrono::milliseconds{1}), [self, id, ph] {
    if (!ph->decided && !ph->proposal.chosen()) { // chosen: answered after the grace
      ph->decided = true;
      self->state.leading.erase(id);
      retry_or_fail(self, id, ph->proposal.highest_refusal(),
                    "no majority answered in time (a member is unreachable)");
    }
  });
}

// Phase 1 of the update at the front of `id`'s queue: a ballot above every one seen for the
// title, promised by a majority of the voters.
void attempt(catalog_actor* self, const std::string& id) {
  auto& st = self->state;
  auto q = st.queued.find(id);
  if (q == st.queued.end() || q->second.empty()) {
    return;
  }
  refresh_voters(self);
  std::set<std::string> reachable;
  for (auto& m : st.router.members()) {
    if (m.state == cluster::member_state::up || m.state == cluster::member_state::joining
        || m.state == cluster::member_state::suspect) {
      reachable.insert(m.name);
    }
  }
  std::vector<std::string> peers;
  for (auto& v : st.voters) {
    if (v != st.router.self_name() && reachable.count(v) > 0) {
      peers.push_back(v);
    }
  }
  auto needed = consensus::quorum(st.voters.size());
  if (peers.size() + 1 < needed) {
    retry_or_fail(self, id, {},
                  "no majority: " + std::to_string(peers.size() + 1) + " of "
                      + std::to_string(st.voters.size()) + " voters reachable, "
                      + std::to_string(needed) + " needed");
    return;
  }
  // The title's last proposal here was chosen: phase 2 straight away, same ballot.
  if (auto l = st.leading.find(id); l != st.leading.end() && !q->second.front().attempted) {
    phase_state fast{consensus::proposal::continuing(l->second, st.voters.size()), peers};
    fast.continuing = true;
    propose(self, id, fast);
    return;
  }
  st.leading.erase(id);
  auto round = std::max(st.rounds[id], st.store->promised(id).round);
  if (auto i = st.replica.find(id); i != st.replica.end()) {
    round = std::max(round, i->second.accepted.round);
  }
  ballot b{round + 1, st.router.self_name()};
  st.rounds[id] = b.round;
  auto ph = std::make_shared<phase_state>(b, st.voters.size(), std::move(peers));
  auto answer = [self, id, ph](const consensus::promise_reply* r) {
    ++ph->answered;
    if (r != nullptr) {
      ph->proposal.on_promise(*r);
    }
    if (ph->decided) {
      return;
    }
    if (ph->proposal.prepared()) {
      ph->decided = true;
      propose(self, id, *ph);
    } else if (ph->all_answered()) {
      ph->decided = true;
      retry_or_fail(self, id, ph->proposal.highest_refusal(),
                    "no majority promised (a member is unreachable or another owner is "
                    "proposing)");
    }
  };
  prepare_msg msg;
  msg.set_id(id);
  to_msg(b, msg.mutable_ballot());
  ask_each<promise_msg>(self, ph->peers, msg, q->second.front().deadline,
                        [answer](const promise_msg* m) {
                          if (m == nullptr) {
                            answer(nullptr);
                            return;
                          }
                          consensus::promise_reply r;
                          r.ok = m->ok();
                          r.promised = from_msg(m->promised());
                          if (m->has_accepted()) {
                            r.accepted = from_msg(m->accepted());
                          }
                          answer(&r);
                        });
  expire_at(self, id, ph, q->second.front().deadline);
  auto local = consensus::prepare(*st.store, id, b);
  answer(&local);
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
  auto differs = [](const stored_version& m, std::pair<uint64_t, uint64_t> theirs) {
    return m.value.version() != theirs.first || fingerprint(m) != theirs.second;
  };
  for (auto& [id, v] : remote) {
    auto mine = st.replica.find(id);
    if (mine == st.replica.end() || mine->second.value.version() < v.first
        || (mine->second.value.version() == v.first && differs(mine->second, v))) {
      self->request(peer, caf::duration{st.timeout}, fetch_atom::value, id)
          .then(
              [self](const changed_msg& c) {
                if (apply(self, from_msg(c))) {
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
    if (theirs_v == remote.end() || theirs_v->second.first < m.value.version()
        || (theirs_v->second.first == m.value.version() && differs(m, theirs_v->second))) {
      self->send(peer, to_changed(m, st.router.self_name()));
    }
  }
}

void repair_round(catalog_actor* self) {
  auto& st = self->state;
  refresh_voters(self);
  digest_msg d;
  d.set_from(st.router.self_name());
  for (auto x : st.digest) {
    d.add_buckets(x);
  }
  self->request(st.router.endpoint(), caf::duration{st.timeout}, cluster::peers_atom::value)
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

// Handles an update here when this node owns the title, else forwards it to the owner.
// While the owner cannot be reached (it just died and the view has not caught up, or it
// joined and is not connected yet), tries again every retry_pause with a fresh view until
// `deadline`: a caller sees a bounded delay, not an error, when ownership moves.
void route_update(catalog_actor* self, const update_msg& u, caf::response_promise rp,
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
      [=](const caf::actor& cat, const std::string& owner) mutable {
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

caf::behavior catalog_behavior(catalog_actor* self, std::string node_name,
                               std::shared_ptr<catalog_store> store, caf::actor endpoint,
                               std::function<std::vector<cluster::member>()> members,
                               std::chrono::milliseconds timeout, metrics::registry* reg) {
  auto& st = self->state;
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
  spdlog::info("catalog: {} titles loaded", st.replica.size());
  self->delayed_send(self, st.repair_interval, repair_atom::value);
  return {
      [self](const update_msg& u) -> caf::result<uint64_t> {
        auto rp = self->make_response_promise<uint64_t>();
        route_update(self, u, rp, std::chrono::steady_clock::now() + self->state.timeout / 2);
        return rp;
      },
      [self](const changed_msg& c) {
        apply(self, from_msg(c));
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
        auto& r = self->state.replica;
        auto i = r.find(id);
        if (i == r.end()) {
          return make_error(errc::not_found, "no content " + id);
        }
        return i->second.value;
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
  auto members = [np] {
    return np->members();
  };
  actor_ =
      sys_.spawn(catalog_behavior, n.settings().name, store, n.cluster_endpoint(),
                 std::function<std::vector<cluster::member>()>{members}, timeout, &n.metrics());
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
