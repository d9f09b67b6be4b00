#include "actors/media/watch_state.hpp"
#include "actors/media/media_errc.hpp"
#include "actors/session/session_settings.hpp"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <set>
#include <vector>

#include <spdlog/spdlog.h>

#include "actors/media/watch.pb.h"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"
#include "caf/typed_event_based_actor.hpp"
#include "caf/typed_response_promise.hpp"
#include "runtime/cluster/client.hpp"
#include "runtime/cluster/endpoint.hpp"
#include "runtime/cluster/membership.hpp"
#include "runtime/cluster/owner_router.hpp"
#include "runtime/cluster/placement.hpp"
#include "runtime/config/node_settings.hpp"
#include "runtime/metrics/registry.hpp"
#include "runtime/node/ask.hpp"
#include "runtime/node/background.hpp"
#include "runtime/node/node.hpp"
#include "runtime/node/readiness.hpp"
#include "runtime/node/stop.hpp"
#include "runtime/wire/errc.hpp"
#include "runtime/wire/protobuf.hpp"
#include "runtime/wire/undecodable.hpp"

namespace sv::media {

namespace {

using position_msg = watch_position_msg;
using batch_msg = watch_batch_msg;
using query_msg = watch_query_msg;

using sync_atom = watch_sync_atom;
using local_atom = watch_local_atom;
using more_atom = caf::atom_constant<caf::atom("sv_wmore")>;
using compact_atom = caf::atom_constant<caf::atom("sv_wcomp")>;
using handover_atom = caf::atom_constant<caf::atom("sv_whand")>;
using hand_atom = caf::atom_constant<caf::atom("sv_wdur")>;
using rebalance_atom = caf::atom_constant<caf::atom("sv_wrebal")>;

// The interface plus what the service sends itself (sync rounds, closes' positions,
// rebalance rounds).
using watch_private =
    watch_actor::extend<caf::reacts_to<sync_atom>, caf::reacts_to<more_atom>,
                        caf::reacts_to<hand_atom>, caf::replies_to<handover_atom>::with<uint64_t>,
                        caf::reacts_to<rebalance_atom>>;

constexpr auto service_name = caf::atom("sv_wstate");

watch_entry from_msg(const position_msg& m) {
  return {m.user(), m.content(), m.device(), m.position_ms(), m.event_ms(), m.region()};
}

position_msg to_msg(const watch_entry& e) {
  position_msg m;
  m.set_user(e.user);
  m.set_content(e.content);
  m.set_position_ms(e.position_ms);
  m.set_event_ms(e.event_ms);
  m.set_device(e.device);
  m.set_region(e.region);
  return m;
}

using key = std::pair<std::string, std::string>; // user, content

// The store lives in a detached actor of its own at a lower OS priority (SQLite work never
// holds up the scheduler's workers, which serve playback), known only on this node: a
// remote reference to a detached actor can keep CAF 0.17's actor system from shutting down.
struct writer_state {
  std::unique_ptr<watch_store> store;
  // Positions whose write failed (a full disk), newest per user and title: written before
  // the next batch and retried every second until they are stored.
  std::map<key, watch_entry> retry;
  bool retry_scheduled = false;
  static inline const char* name = "sv.media.watch_writer";
};

using writer_actor = caf::stateful_actor<writer_state>;

using retry_writes_atom = caf::atom_constant<caf::atom("svwretry")>;

void keep_newer(std::map<key, watch_entry>& m, const watch_entry& e);

// Writes `fresh` after what earlier failed; on a failure keeps all of it for the next try
// and marks the store unready, on success clears that. Whether it stored them.
bool write_positions(writer_actor* self, std::vector<watch_entry> fresh,
                     const std::shared_ptr<readiness>& health) {
  auto& st = self->state;
  bool stored = false;
  if (st.retry.empty()) {
    // The usual case: nothing waits, the batch goes to the store as it is.
    stored = fresh.empty() || st.store->record_all(fresh).has_value();
  } else {
    std::vector<watch_entry> es;
    es.reserve(st.retry.size() + fresh.size());
    for (auto& [k, e] : st.retry) {
      es.push_back(e);
    }
    es.insert(es.end(), fresh.begin(), fresh.end());
    stored = st.store->record_all(es).has_value();
  }
  if (!stored) {
    spdlog::error("watch_state: {}", st.store->error());
    health->mark_unready("positions", st.store->error());
    for (auto& e : fresh) {
      keep_newer(st.retry, e);
    }
    if (!st.retry_scheduled) {
      st.retry_scheduled = true;
      self->delayed_send(self, std::chrono::seconds{1}, retry_writes_atom::value);
    }
    return false;
  }
  st.retry.clear();
  health->mark_ready("positions");
  return true;
}

caf::behavior writer_behavior(writer_actor* self, std::string path,
                              std::shared_ptr<std::atomic<uint64_t>> stored,
                              std::shared_ptr<readiness> health) {
  lower_this_threads_priority();
  wire::answer_undecodable(self, "watch writer"); // never renders what it does not know
  self->state.store = std::make_unique<watch_store>(path);
  if (!self->state.store->error().empty()) {
    spdlog::error("watch_state: {}", self->state.store->error());
  }
  // The logged positions go into the keyed table once a minute (and when many are in).
  self->delayed_send(self, std::chrono::minutes{1}, compact_atom::value);
  return {
      [self, health](compact_atom) {
        if (!self->state.store->compact()) {
          spdlog::error("watch_state: {}", self->state.store->error());
          health->mark_unready("positions", self->state.store->error());
        }
        self->delayed_send(self, std::chrono::minutes{1}, compact_atom::value);
      },
      [self, stored, health](const batch_msg& b) -> caf::result<caf::ok_atom> {
        std::vector<watch_entry> es;
        es.reserve(static_cast<size_t>(b.positions_size()));
        for (auto& p : b.positions()) {
          es.push_back(from_msg(p));
        }
        if (!write_positions(self, std::move(es), health)) {
          // Not stored: the requester is told; this writer keeps the positions and writes
          // them once the disk takes them, and /readyz says why until then.
          return make_error(errc::unavailable, self->state.store->error());
        }
        if (!b.replica()) {
          stored->fetch_add(static_cast<uint64_t>(b.positions_size()), std::memory_order_relaxed);
        }
        return caf::ok_atom::value;
      },
      [self, health](retry_writes_atom) {
        self->state.retry_scheduled = false;
        write_positions(self, {}, health);
      },
      [self](const query_msg& q) {
        auto e = self->state.store->get(q.user(), q.content());
        return e ? to_msg(*e) : position_msg{};
      },
      // Every stored position: for a node that leaves, and for a rebalance.
      [self](handover_atom) -> caf::result<batch_msg> {
        auto all = self->state.store->all();
        if (!all) {
          return make_error(errc::unavailable, self->state.store->error());
        }
        batch_msg b;
        for (auto& e : *all) {
          *b.add_positions() = to_msg(e);
        }
        return b;
      },
  };
}

// Read by the metrics.
struct watch_counts {
  // Closes' positions handed to their holders (hand_round): held by both, or not confirmed
  // (the close answered unavailable).
  std::atomic<uint64_t> held{0};
  std::atomic<uint64_t> unconfirmed{0};
  // Reads that asked the home region only (settled), and those that asked every holder.
  std::atomic<uint64_t> reads_home{0};
  std::atomic<uint64_t> reads_all{0};
  // Stored positions sent to new holders after a view change.
  std::atomic<uint64_t> rebalanced{0};
};

// After a change of the up members: the stored positions whose holders changed go to the
// new ones, a round at a time (rebalance_atom).
struct rebalance_run {
  bool running = false;
  bool again = false; // the view changed again while running: one more run after this one
  bool retry = false; // the store could not be read: a run is due after a sync interval
  std::vector<cluster::member> before, after;
  std::vector<watch_entry> queue;
  size_t next = 0;
};

struct watch_service_state {
  caf::actor writer; // detached, local only
  std::shared_ptr<watch_counts> counts;
  watch_settings cfg;
  // The users' owners and replicas, and the other nodes' watch services.
  cluster::owner_router<caf::stateful_actor<watch_service_state, watch_private::base>> router{
      service_name};
  std::map<key, watch_entry> outgoing;    // recorded here, for the owners
  std::map<key, watch_entry> for_replica; // stored here as owner, for the replicas
  bool more_due = false;                  // a round of sync is under way
  // Closes' positions waiting to be handed to their holders, with the hosts' requests:
  // every request in the mailbox joins one round (hand_atom), one batch per holder.
  std::vector<watch_entry> to_hand;
  std::vector<std::pair<size_t, caf::typed_response_promise<caf::ok_atom>>> hand_waiting;
  // The up members at the last look, the member list then, and until when reads ask every
  // holder (the view changed less than cfg.read_settle ago).
  std::vector<std::string> seen_up;
  std::vector<cluster::member> seen_members;
  std::set<std::string> seen_regions; // those with a member up
  bool seen_any = false;
  std::chrono::steady_clock::time_point unsettled_until{};
  rebalance_run rebalance;

  static inline const char* name = "sv.media.watch_state";
};

using watch_self = caf::stateful_actor<watch_service_state, watch_private::base>;

watch_actor peer(const caf::actor& svc) {
  return caf::actor_cast<watch_actor>(svc);
}

// The member view placement reads, taken once per sync (not per entry), and this node's
// region in it: the home of positions recorded without one.
struct view {
  std::vector<cluster::member> members;
  std::string self_name, region;
  cluster::region_holders placement; // the up members by region, grouped once
};

view view_of(std::vector<cluster::member> members, const std::string& self_name) {
  cluster::region_holders placement{members};
  view v{std::move(members), self_name, {}, std::move(placement)};
  for (auto& m : v.members) {
    if (m.name == v.self_name) {
      v.region = m.region;
    }
  }
  return v;
}

void look_at_view(watch_self* self, const view& v);

// The view every routing decision and read uses; each one is looked at for a change
// first, so that no position is placed by a view the rebalance did not see.
view current_view(watch_self* self) {
  auto v = view_of(self->state.router.members(), self->state.router.self_name());
  look_at_view(self, v);
  return v;
}

const std::string& region_of(const view& v, const std::string& name) {
  static const std::string none;
  for (auto& m : v.members) {
    if (m.name == name) {
      return m.region;
    }
  }
  return none;
}

// The user's owner (in `home`, the user's region) and replica (in another region), best
// first; this node alone while it sees no member up. A home no member belongs to (a
// viewer's region without nodes, or none given) counts as this node's region.
const std::string& home_of(const view& v, const std::string& home) {
  auto known = v.placement.has_region(home)
               || std::any_of(v.members.begin(), v.members.end(),
                              [&home](const cluster::member& m) { return m.region == home; });
  return known ? home : v.region;
}

std::vector<std::string> holders(const view& v, const std::string& user, const std::string& home) {
  auto h = v.placement("watch-" + user, home_of(v, home));
  if (h.empty()) {
    h.push_back(v.self_name);
  }
  return h;
}

// Whom a read asks: the owner and the replica, then the next best-placed up members of the
// home region. Stored positions stay where they were written when the view changes, so
// after nodes joined the owner of a position written before may be third or fourth now;
// a read looks that far and hands what it found on to the current owner (read repair).
std::vector<std::string> readers(const view& v, const std::string& user, const std::string& home) {
  auto out = holders(v, user, home);
  auto region = home_of(v, home);
  for (auto& n : cluster::owners_of("watch-" + user, cluster::up_names_in(v.members, region), 4)) {
    if (std::find(out.begin(), out.end(), n) == out.end()) {
      out.push_back(n);
    }
  }
  return out;
}

void keep_newer(std::map<key, watch_entry>& m, const watch_entry& e) {
  auto [i, fresh] = m.try_emplace({e.user, e.content}, e);
  if (!fresh && newer(e, i->second)) {
    i->second = e;
  }
}

bool settled(const watch_self* self);

// Positions sent to this node as their owner by a node whose view differs (it has not seen
// the latest change yet, or this node has not): while this node's view is unsettled, those
// whose owner in its own view is in another region go on to that owner, as if recorded
// here. (A rebalance reads the store once, when it starts: what arrives after that would
// otherwise stay in a region whose reads no longer ask here.)
void pass_on_unowned(watch_self* self, const batch_msg& b) {
  if (b.replica() || settled(self)) {
    return;
  }
  auto& st = self->state;
  auto v = current_view(self);
  if (v.region.empty()) {
    return; // no regions: an owner of the past is found by reads (the region's best-placed)
  }
  for (auto& p : b.positions()) {
    auto e = from_msg(p);
    auto owner = holders(v, e.user, e.region).front();
    if (owner != v.self_name && region_of(v, owner) != v.region) {
      keep_newer(st.outgoing, e);
    }
  }
}

// Stores positions at this node; as the owner, keeps what changed for the replica.
// To the store (one transaction per batch); as the owner, for the replica too (it applies
// the same rule, so passing on entries that lost here is harmless).
void apply(watch_self* self, batch_msg&& b) {
  auto& st = self->state;
  pass_on_unowned(self, b);
  if (!b.replica() && !b.replicated()) {
    for (auto& p : b.positions()) {
      keep_newer(st.for_replica, from_msg(p));
    }
  }
  caf::anon_send(st.writer, std::move(b)); // a dynamically typed, local actor
}

// Sends `entries` grouped by destination (`pick` chooses it per user); this node's own
// share is applied here.
template <class Pick>
void send_grouped(watch_self* self, std::map<key, watch_entry>& entries, bool replica, Pick pick) {
  auto& st = self->state;
  // Batches of at most 256 positions: the receivers' work interleaves with playback's.
  std::vector<std::pair<std::string, batch_msg>> batches;
  std::map<std::string, size_t> open; // destination -> its batch being filled
  for (auto& [k, e] : entries) {
    auto dest = pick(e);
    if (dest.empty()) {
      continue;
    }
    auto i = open.find(dest);
    if (i == open.end() || batches[i->second].second.positions_size() >= 256) {
      batches.emplace_back(dest, batch_msg{});
      batches.back().second.set_replica(replica);
      open[dest] = batches.size() - 1;
      i = open.find(dest);
    }
    *batches[i->second].second.add_positions() = to_msg(e);
  }
  entries.clear();
  for (auto& [dest, b] : batches) {
    if (dest == st.router.self_name()) {
      apply(self, std::move(b));
      continue;
    }
    // The destination is unreachable, or did not confirm it stored them: kept for the
    // next sync (as the owner's replica data; records are re-routed to whoever owns the
    // user then). A crash of the receiver before it stored them loses nothing.
    // One copy of the batch, shared by the callbacks (copied once more, into the request):
    // a copy per callback was most of this actor's allocations while many closed at once.
    auto shared = std::make_shared<const batch_msg>(std::move(b));
    auto keep = [self, shared, replica](const caf::error&) {
      auto& st = self->state;
      for (auto& p : shared->positions()) {
        keep_newer(replica ? st.for_replica : st.outgoing, from_msg(p));
      }
    };
    st.router.with_peer(
        self, dest, std::chrono::seconds{2},
        [self, shared, keep](const caf::actor& svc) {
          self->request(peer(svc), caf::duration{std::chrono::seconds{3}}, *shared)
              .then([](caf::ok_atom) {}, [keep](caf::error& err) { keep(err); });
        },
        keep);
  }
}

// Positions are sent in rounds of at most this many per handler: a long round would hold
// up the scheduler's worker, and with it playback, for as long as it takes.
constexpr size_t sync_round = 1024;

// How long a close's position may take to reach a holder: each of the peer directory's
// two lookup requests and the batch's own, after waiting up to connect_wait for a holder
// that is up but not connected yet (it joined a moment ago): 1.75 s in all, within the
// host's 2 s.
constexpr std::chrono::milliseconds durable_wait{500};
constexpr std::chrono::milliseconds connect_wait{250};

// Takes at most `n` entries off `from` (all of them for n = 0).
std::map<key, watch_entry> take_some(std::map<key, watch_entry>& from, size_t n) {
  if (n == 0 || from.size() <= n) {
    return std::move(from);
  }
  std::map<key, watch_entry> out;
  while (out.size() < n) {
    out.insert(from.extract(from.begin()));
  }
  return out;
}

// Sends (at most `limit` of each kind; 0: all) what is coalesced here; true when some is
// left for another round.
bool sync(watch_self* self, size_t limit) {
  auto& st = self->state;
  if (st.outgoing.empty() && st.for_replica.empty()) {
    return false;
  }
  auto v = current_view(self);
  auto outgoing = take_some(st.outgoing, limit);
  auto for_replica = take_some(st.for_replica, limit);
  // A position recorded without a home region belongs to this node's.
  for (auto& [k, e] : outgoing) {
    if (e.region.empty()) {
      e.region = v.region;
    }
  }
  send_grouped(self, outgoing, false,
               [&v](const watch_entry& e) { return holders(v, e.user, e.region).front(); });
  send_grouped(self, for_replica, true, [&v](const watch_entry& e) {
    auto h = holders(v, e.user, e.region);
    return h.size() > 1 && h[1] != v.self_name ? h[1] : std::string{};
  });
  return !st.outgoing.empty() || !st.for_replica.empty();
}

// Positions a rebalance round looks at: one round's holder computations stay well under a
// millisecond of the worker's time.
constexpr size_t rebalance_round = 512;

void start_rebalance(watch_self* self);

// How long a rebalance waits for the store's positions (read whole, as at a leave).
constexpr std::chrono::seconds rebalance_read_wait{60};

// One round of the rebalance under way: each position whose owner is in another region
// after the change than before it is sent the usual way (to the new owner, which keeps the
// newer and passes it on to its replica).
void rebalance_step(watch_self* self) {
  auto& st = self->state;
  auto& rb = st.rebalance;
  if (!rb.running) { // a retry after the store could not be read
    start_rebalance(self);
    return;
  }
  auto before = view_of(rb.before, st.router.self_name());
  auto after = view_of(rb.after, st.router.self_name());
  auto end = std::min(rb.queue.size(), rb.next + rebalance_round);
  uint64_t moved = 0;
  for (; rb.next < end; ++rb.next) {
    auto& e = rb.queue[rb.next];
    if (e.region.empty() && !after.region.empty()) {
      continue; // stored before regions were kept: its home is not known (read repair)
    }
    // Only an owner in another region than before needs it: a new owner in the same
    // region is found by reads there (they ask the region's best-placed members).
    auto was = holders(before, e.user, e.region).front();
    auto now = holders(after, e.user, e.region).front();
    if (region_of(before, was) != region_of(after, now)) {
      keep_newer(st.outgoing, e);
      ++moved;
    }
  }
  st.counts->rebalanced.fetch_add(moved, std::memory_order_relaxed);
  if (rb.next < rb.queue.size()) {
    self->send(self, rebalance_atom::value);
    return;
  }
  rb.queue.clear();
  rb.queue.shrink_to_fit();
  rb.running = false;
  // What it queued leaves with the next syncs: reads keep asking every holder until then.
  st.unsettled_until =
      std::max(st.unsettled_until, std::chrono::steady_clock::now() + 2 * st.cfg.sync_interval);
  if (rb.again) {
    start_rebalance(self);
  }
}

// Rebalances from the view the last run went to (or the one before the change) to the
// latest one seen.
void start_rebalance(watch_self* self) {
  auto& st = self->state;
  auto& rb = st.rebalance;
  if (rb.running) {
    rb.again = true;
    return;
  }
  rb.running = true;
  rb.again = false;
  rb.retry = false;
  rb.before = std::move(rb.after);
  rb.after = st.seen_members;
  self->request(st.writer, caf::duration{rebalance_read_wait}, handover_atom::value)
      .then(
          [self](batch_msg& b) {
            auto& rb = self->state.rebalance;
            rb.queue.clear();
            rb.queue.reserve(static_cast<size_t>(b.positions_size()));
            for (auto& p : b.positions()) {
              rb.queue.push_back(from_msg(p));
            }
            rb.next = 0;
            rebalance_step(self);
          },
          [self](caf::error& err) {
            spdlog::error("watch_state: rebalance: {}", caf::to_string(err));
            auto& st = self->state;
            auto& rb = st.rebalance;
            rb.running = false;
            rb.again = false;
            rb.after = std::move(rb.before); // the next run covers this change too
            rb.retry = true;                 // reads ask every holder until it ran
            self->delayed_send(self, st.cfg.sync_interval, rebalance_atom::value);
          });
}

// The regions with at least one member up ("" for members without one).
std::set<std::string> regions_up(const std::vector<cluster::member>& ms) {
  std::set<std::string> out;
  for (auto& m : ms) {
    if (m.state == cluster::member_state::up) {
      out.insert(m.region);
    }
  }
  return out;
}

// Notes a change of the up members (at each sync tick and each read): reads ask every
// holder for the settle time from now, and when a region's owners moved to another region
// or back, the stored positions are rebalanced.
void look_at_view(watch_self* self, const view& v) {
  auto& st = self->state;
  auto up = cluster::up_names(v.members);
  if (st.seen_any && up == st.seen_up) {
    return;
  }
  auto first = !st.seen_any;
  st.seen_any = true;
  st.seen_up = std::move(up);
  st.seen_members = v.members;
  st.unsettled_until = std::chrono::steady_clock::now() + st.cfg.read_settle;
  // A user's owner moves to another region only when a region's last member went down or
  // its first came up: only then is the store read (whole) and rebalanced. A change within
  // regions (a node joined, left or failed) moves owners within the region, where reads
  // find the former ones.
  auto regions = regions_up(v.members);
  auto crossed = !first && regions != st.seen_regions;
  st.seen_regions = std::move(regions);
  if (crossed) {
    start_rebalance(self);
  } else if (!st.rebalance.running) {
    st.rebalance.after = v.members; // the next rebalance is measured from here
  }
}

// Whether reads may ask the home region alone.
bool settled(const watch_self* self) {
  auto& st = self->state;
  return st.cfg.read_settle.count() > 0 && st.seen_any && !st.rebalance.running
         && !st.rebalance.retry && std::chrono::steady_clock::now() >= st.unsettled_until;
}

// The positions of a session host's block.
std::vector<watch_entry> entries_of(const session::position_block& b) {
  std::vector<watch_entry> out;
  out.reserve(b.positions.size());
  for (auto& p : b.positions) {
    out.push_back(watch_entry{std::string{b.text.get(p.user)}, std::string{b.text.get(p.content)},
                              std::string{b.text.get(p.device)}, p.position_ms, p.at_ms,
                              std::string{b.text.get(p.region)}});
  }
  return out;
}

// A host's request for its closes' positions: answered once each holder took them.
struct hand_request {
  size_t left = 0; // batches not answered yet
  std::string failed;
  caf::typed_response_promise<caf::ok_atom> rp;
  size_t positions = 0;
};

// Answers a request whose batches are all done.
void answer_hand(watch_self* self, hand_request& r) {
  auto& counts = *self->state.counts;
  if (r.failed.empty()) {
    counts.held.fetch_add(r.positions, std::memory_order_relaxed);
    r.rp.deliver(caf::ok_atom::value);
  } else {
    counts.unconfirmed.fetch_add(r.positions, std::memory_order_relaxed);
    r.rp.deliver(make_error(errc::unavailable, r.failed));
  }
}

// A batch of hand_round's was taken (err null) or not by holder `name`: its positions go
// the usual way then, and each request it carried is answered once all of its are done.
void finish_hand(watch_self* self, const std::vector<std::shared_ptr<hand_request>>& rs,
                 const batch_msg* b, const std::string& name, const caf::error* err) {
  if (err != nullptr && b != nullptr) {
    for (auto& x : b->positions()) {
      keep_newer(self->state.outgoing, from_msg(x));
    }
  }
  for (auto& r : rs) {
    if (err != nullptr && r->failed.empty()) {
      r->failed = name + " did not take it: " + self->system().render(*err);
    }
    if (--r->left == 0) {
      answer_hand(self, *r);
    }
  }
}

// Hands the queued closes' positions to each user's owner and replica (the holders in the
// current view; this node alone while it sees nobody), one batch per holder for all the
// requests that queued since the last round, and answers each request once every holder
// of its positions holds them (in its store's queue; stored next), else with the first
// failure. A close is acknowledged then, so its position survives the loss of any one
// node, and the close never waits for a disk: the stores' writers run at a lower
// priority, behind playback. What a holder did not confirm also goes the usual way
// (outgoing).
void hand_round(watch_self* self) {
  auto& st = self->state;
  auto es = std::move(st.to_hand);
  auto waiting = std::move(st.hand_waiting);
  st.to_hand.clear();
  st.hand_waiting.clear();
  if (waiting.empty()) {
    return;
  }
  using request = hand_request;
  std::vector<std::shared_ptr<request>> requests;
  std::vector<size_t> request_of(es.size()); // entry -> its request (each one's are in a row)
  for (size_t r = 0; r < waiting.size(); ++r) {
    auto end = r + 1 < waiting.size() ? waiting[r + 1].first : es.size();
    requests.push_back(
        std::make_shared<request>(request{0, {}, waiting[r].second, end - waiting[r].first}));
    for (auto k = waiting[r].first; k < end; ++k) {
      request_of[k] = r;
    }
  }
  auto v = current_view(self);
  struct outgoing_batch {
    batch_msg b;
    std::vector<std::shared_ptr<request>> for_requests;
  };
  // (destination, as the replica) -> its batch
  std::map<std::pair<std::string, bool>, outgoing_batch> batches;
  for (size_t k = 0; k < es.size(); ++k) {
    auto& e = es[k];
    if (e.region.empty()) {
      e.region = v.region;
    }
    auto h = holders(v, e.user, e.region);
    for (size_t i = 0; i < h.size() && i < 2; ++i) {
      auto& ob = batches[{h[i], i == 1}];
      ob.b.set_replica(i == 1);
      ob.b.set_replicated(i == 0 && h.size() > 1);
      ob.b.set_held(true);
      *ob.b.add_positions() = to_msg(e);
      auto& r = requests[request_of[k]];
      if (ob.for_requests.empty() || ob.for_requests.back() != r) {
        ob.for_requests.push_back(r);
        ++r->left;
      }
    }
  }
  for (auto& r : requests) {
    if (r->left == 0) { // (positions without a holder: none in practice)
      answer_hand(self, *r);
    }
  }
  for (auto& [dest, ob] : batches) {
    if (dest.first == st.router.self_name()) {
      apply(self, std::move(ob.b));
      finish_hand(self, ob.for_requests, nullptr, dest.first, nullptr);
      continue;
    }
    // One copy, shared by the callbacks (a batch is copied once more, into the request).
    auto b = std::make_shared<const batch_msg>(std::move(ob.b));
    auto rs = std::make_shared<const std::vector<std::shared_ptr<hand_request>>>(
        std::move(ob.for_requests));
    auto failed = [self, b, rs, name = dest.first](const caf::error& err) {
      finish_hand(self, *rs, b.get(), name, &err);
    };
    st.router.with_peer(
        self, dest.first, durable_wait,
        [self, b, rs, failed](const caf::actor& svc) {
          self->request(peer(svc), caf::duration{durable_wait}, *b)
              .then([self, rs](caf::ok_atom) { finish_hand(self, *rs, nullptr, {}, nullptr); },
                    failed);
        },
        failed, connect_wait);
  }
}

watch_private::behavior_type
watch_behavior(watch_self* self, std::string node_name,
               std::function<std::vector<cluster::member>()> members, caf::actor endpoint,
               std::string path, watch_settings cfg, std::shared_ptr<std::atomic<uint64_t>> stored,
               std::shared_ptr<watch_counts> counts, std::shared_ptr<detached_children> children,
               std::shared_ptr<readiness> health) {
  auto& st = self->state;
  st.router.bind(std::move(node_name), std::move(endpoint), std::move(members));
  st.cfg = cfg;
  st.counts = std::move(counts);
  st.writer = self->spawn<caf::linked + caf::detached>(writer_behavior, std::move(path),
                                                       std::move(stored), std::move(health));
  children->add(st.writer);
  self->set_down_handler([self](caf::down_msg& dm) { self->state.router.forget(dm.source); });
  wire::answer_undecodable(self, "watch state");
  self->delayed_send(self, cfg.sync_interval, sync_atom::value);
  return {
      // From the host API on this node.
      [self](const position_msg& p) { keep_newer(self->state.outgoing, from_msg(p)); },
      // From the session hosts on this node.
      [self](const session::position_block& b) {
        for (auto& e : entries_of(b)) {
          keep_newer(self->state.outgoing, e);
        }
      },
      [self](session::positions_durable_atom,
             const session::position_block& b) -> caf::result<caf::ok_atom> {
        auto& st = self->state;
        auto rp = self->make_response_promise<caf::ok_atom>();
        st.hand_waiting.emplace_back(st.to_hand.size(), rp);
        for (auto& e : entries_of(b)) {
          st.to_hand.push_back(std::move(e));
        }
        if (st.hand_waiting.size() == 1) {
          self->send(self, hand_atom::value); // after what is in the mailbox now
        }
        return rp;
      },
      [self](hand_atom) { hand_round(self); },
      [self](rebalance_atom) { rebalance_step(self); },
      [self](sync_atom) {
        auto& st = self->state;
        current_view(self); // (looks at it for a change)
        if (!st.more_due && sync(self, sync_round)) {
          st.more_due = true;
          self->send(self, more_atom::value);
        }
        self->delayed_send(self, st.cfg.sync_interval, sync_atom::value);
      },
      [self](more_atom) {
        auto& st = self->state;
        st.more_due = sync(self, sync_round);
        if (st.more_due) {
          self->send(self, more_atom::value);
        }
      },
      [self](sync_atom, bool) {
        sync(self, 0);
        return caf::ok_atom::value;
      },
      // A graceful leave (after node::leave: this node is no holder any more): every
      // position stored here goes to its users' holders now, as if recorded here.
      [self](handover_atom) -> caf::result<uint64_t> {
        auto rp = self->make_response_promise<uint64_t>();
        self->request(self->state.writer, caf::infinite, handover_atom::value)
            .then(
                [self, rp](const batch_msg& b) mutable {
                  for (auto& p : b.positions()) {
                    keep_newer(self->state.outgoing, from_msg(p));
                  }
                  sync(self, 0);
                  rp.deliver(static_cast<uint64_t>(b.positions_size()));
                },
                [rp](caf::error& err) mutable { rp.deliver(err); });
        return rp;
      },
      // From other nodes: records for users this node owns, or replicas; answered once
      // stored, so that a sender keeps what a crash here would lose.
      // (A close's positions, `held`: answered at once, held here and stored next.)
      // (Mutable: the message is this handler's alone unless shared, so the batch moves on
      // to the writer without a copy.)
      [self](batch_msg& b) -> caf::result<caf::ok_atom> {
        if (b.held()) {
          apply(self, std::move(b));
          return caf::ok_atom::value;
        }
        auto rp = self->make_response_promise<caf::ok_atom>();
        pass_on_unowned(self, b);
        if (!b.replica() && !b.replicated()) {
          for (auto& p : b.positions()) {
            keep_newer(self->state.for_replica, from_msg(p));
          }
        }
        self->request(self->state.writer, caf::infinite, std::move(b))
            .then([rp](caf::ok_atom) mutable { rp.deliver(caf::ok_atom::value); },
                  [rp](caf::error& err) mutable { rp.deliver(err); });
        return rp;
      },
      // This node's stored entry only.
      [self](local_atom, const query_msg& q) -> caf::result<position_msg> {
        auto rp = self->make_response_promise<position_msg>();
        self->request(self->state.writer, caf::infinite, q)
            .then([rp](const position_msg& p) mutable { rp.deliver(p); },
                  [rp](caf::error& err) mutable { rp.deliver(err); });
        return rp;
      },
      // From the host API: the owner's and the replica's answers, the newer one (the home
      // region's members' alone once the view settled).
      [self](const query_msg& q) -> caf::result<position_msg> {
        auto& st = self->state;
        auto rp = self->make_response_promise<position_msg>();
        struct gather {
          watch_entry best;
          watch_entry owners; // what the current owner answered
          size_t left = 0;
          caf::typed_response_promise<position_msg> rp;
        };
        auto g = std::make_shared<gather>();
        g->best.user = q.user();
        g->best.content = q.content();
        g->rp = rp;
        // What this node still holds to send counts as well (a record made here and not
        // synced yet is the newest this node knows).
        if (auto i = st.outgoing.find({q.user(), q.content()}); i != st.outgoing.end()) {
          g->best = i->second;
        }
        auto v = current_view(self);
        auto hs = readers(v, q.user(), q.region());
        // Settled: the home region's members alone (when it has any up).
        auto in_home = false;
        if (settled(self)) {
          auto& home = home_of(v, q.region());
          std::vector<std::string> near;
          for (auto& h : hs) {
            if (region_of(v, h) == home) {
              near.push_back(h);
            }
          }
          if (!near.empty() && near.front() == hs.front()) {
            hs = std::move(near);
            in_home = true;
          }
        }
        (in_home ? st.counts->reads_home : st.counts->reads_all)
            .fetch_add(1, std::memory_order_relaxed);
        g->left = hs.size();
        auto done = [self, g, region = q.region()] {
          if (g->best.event_ms != 0 && newer(g->best, g->owners)) {
            // The owner lacks it: it goes there with the next sync, as if recorded here.
            auto e = g->best;
            if (e.region.empty()) {
              e.region = region;
            }
            keep_newer(self->state.outgoing, e);
          }
          g->rp.deliver(to_msg(g->best));
        };
        auto take = [g, done](const position_msg& p, bool owner) {
          auto e = from_msg(p);
          if (e.event_ms != 0 && newer(e, g->best)) {
            g->best = e;
          }
          if (owner && e.event_ms != 0) {
            g->owners = e;
          }
          if (--g->left == 0) {
            done();
          }
        };
        auto skip = [g, done](const caf::error&) {
          if (--g->left == 0) {
            done();
          }
        };
        for (size_t k = 0; k < hs.size(); ++k) {
          auto& h = hs[k];
          auto owner = k == 0;
          if (h == st.router.self_name()) {
            self->request(st.writer, caf::infinite, q)
                .then([take, owner](const position_msg& p) { take(p, owner); },
                      [skip](caf::error& err) { skip(err); });
            continue;
          }
          st.router.with_peer(
              self, h, std::chrono::seconds{1},
              [self, q, take, skip, owner](const caf::actor& svc) {
                self->request(peer(svc), caf::duration{std::chrono::seconds{1}}, local_atom::value,
                              q)
                    .then([take, owner](const position_msg& p) { take(p, owner); },
                          [skip](caf::error& err) { skip(err); });
              },
              skip);
        }
        return rp;
      },
  };
}

} // namespace

caf::expected<watch_actor> connect_watch_state(caf::actor_system& sys, const std::string& host,
                                               uint16_t port, std::chrono::milliseconds timeout) {
  return cluster::lookup_service_as<watch_actor>(sys, host, port, service_name, timeout);
}

void register_watch_types(caf::actor_system_config& cfg) {
  add_error_domain(cfg);
  cfg.add_message_type<position_msg>(position_msg::descriptor()->full_name());
  cfg.add_message_type<batch_msg>(batch_msg::descriptor()->full_name());
  cfg.add_message_type<query_msg>(query_msg::descriptor()->full_name());
}

watch_state::watch_state(node& n, watch_settings s) : sys_(n.system()) {
  std::error_code ec;
  std::filesystem::create_directories(n.settings().data_dir, ec);
  auto path = (std::filesystem::path{n.settings().data_dir} / "watch_state.db").string();
  auto* np = &n;
  auto stored = std::make_shared<std::atomic<uint64_t>>(0);
  auto counts = std::make_shared<watch_counts>();
  actor_ = sys_.spawn(
      watch_behavior, n.settings().name, std::function<std::vector<cluster::member>()>{[np] {
        return np->members();
      }},
      n.cluster_endpoint(), path, s, stored, counts, children_, n.service_readiness());
  n.metrics().counter_callback("sv_watch_positions_stored_total",
                               "Positions this node stored as their users' owner (replica copies "
                               "not counted)",
                               [stored] { return static_cast<double>(stored->load()); });
  n.metrics().counter_callback(
      "sv_watch_close_positions_held_total",
      "Closes' positions this node handed to their users' owner and replica, both confirmed "
      "(a host that gave up first, at its batch's deadline, answered the close unavailable)",
      [counts] { return static_cast<double>(counts->held.load()); });
  n.metrics().counter_callback(
      "sv_watch_close_positions_unconfirmed_total",
      "Closes' positions a holder did not confirm in time (the close answered unavailable; "
      "the position goes the usual way)",
      [counts] { return static_cast<double>(counts->unconfirmed.load()); });
  const std::string reads_help =
      "Position reads this node served: asking the user's home region alone (the member view "
      "settled), or every holder, the replica's region too";
  n.metrics().counter_callback("sv_watch_reads_total", reads_help,
                               [counts] { return static_cast<double>(counts->reads_home.load()); },
                               {{"asked", "home_region"}});
  n.metrics().counter_callback("sv_watch_reads_total", reads_help,
                               [counts] { return static_cast<double>(counts->reads_all.load()); },
                               {{"asked", "all_holders"}});
  n.metrics().counter_callback(
      "sv_watch_rebalanced_total",
      "Stored positions this node queued for their new holders after the up members changed",
      [counts] { return static_cast<double>(counts->rebalanced.load()); });
  cluster::register_service(sys_, service_name, caf::actor_cast<caf::actor>(actor_));
}

watch_state::~watch_state() {
  sys_.registry().erase(service_name);
  caf::scoped_actor self{sys_};
  // Best effort: what is coalesced here leaves before the service stops.
  self->request(actor_, std::chrono::seconds{1}, sync_atom::value, true)
      .receive([](caf::ok_atom) {}, [](caf::error&) {});
  // Returns once the store is closed: the host may remove or reopen its file right after.
  stop_and_wait(sys_, actor_, children_.get());
}

void watch_state::record(const std::string& user, const std::string& content, int64_t position_ms,
                         int64_t event_ms, const std::string& device, const std::string& region) {
  caf::anon_send(actor_, to_msg({user, content, device, position_ms, event_ms, region}));
}

caf::expected<watch_entry> watch_state::position(const std::string& user,
                                                 const std::string& content,
                                                 const std::string& region) {
  query_msg q;
  q.set_user(user);
  q.set_content(content);
  q.set_region(region);
  auto r = sv::ask<position_msg>(sys_, actor_, std::chrono::seconds{3}, q);
  if (!r) {
    return r.error();
  }
  auto e = from_msg(*r);
  e.user = user;
  e.content = content;
  return e;
}

void watch_state::sync() {
  caf::anon_send(actor_, sync_atom::value, true);
}

caf::expected<uint64_t> watch_state::hand_over(std::chrono::milliseconds timeout) {
  return sv::ask<uint64_t>(sys_, caf::actor_cast<caf::actor>(actor_), timeout,
                           handover_atom::value);
}

std::function<void(session::position_block&&)> watch_state::session_positions() {
  return [a = actor_](session::position_block&& b) {
    caf::anon_send(a, std::move(b));
  };
}

caf::actor watch_state::durable_positions() const {
  return caf::actor_cast<caf::actor>(actor_);
}

watch_settings watch_settings_from(const config::node_settings& cfg) {
  watch_settings s;
  auto& w = cfg.section<config::watch_node_settings>();
  s.sync_interval = std::chrono::milliseconds{w.sync_interval_ms};
  s.read_settle = std::chrono::milliseconds{w.read_settle_ms};
  return s;
}

} // namespace sv::media
