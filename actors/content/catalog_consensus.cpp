// The catalog's updates: the owner of a title proposes each update to the voters
// (single-decree consensus per version, ballots and phases in consensus.hpp), answers the
// caller once a majority accepted it, and keeps the voter set in step with the membership.

#include "actors/content/catalog_actor.hpp"

#include <algorithm>
#include <set>
#include <vector>

#include <spdlog/spdlog.h>

#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/send.hpp"
#include "runtime/wire/protobuf.hpp"

namespace sv::content::detail {

namespace {

// Sends `msg` to the catalog of each of `names` and calls `answer` with each reply, or
// with nullptr for a peer that did not answer by `deadline` (at least retry_pause).
template <class Reply, class Msg, class Answer>
void ask_each(catalog_self* self, const std::vector<std::string>& names, const Msg& msg,
              std::chrono::steady_clock::time_point deadline, Answer answer) {
  auto now = std::chrono::steady_clock::now();
  auto wait = std::max<std::chrono::steady_clock::duration>(retry_pause, deadline - now);
  auto timeout = caf::duration{std::chrono::duration_cast<std::chrono::milliseconds>(wait)};
  for (auto& n : names) {
    with_peer_catalog(
        self, n,
        [=](const catalog_actor& cat) {
          self->request(cat, timeout, msg)
              .then([=](const Reply& r) { answer(&r); },
                    [=](caf::error&) { answer(static_cast<const Reply*>(nullptr)); });
        },
        [=](const caf::error&) { answer(static_cast<const Reply*>(nullptr)); }, now + wait);
  }
}

// Answers the update at the front of `id`'s queue and starts the next one.
void finish(catalog_self* self, const std::string& id, caf::expected<uint64_t> result) {
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

void refuse(catalog_self* self, const std::string& id, caf::error err) {
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
void expire_at(catalog_self* self, const std::string& id, std::shared_ptr<phase_state> ph,
               std::chrono::steady_clock::time_point deadline);

// An attempt was interrupted (a higher ballot) or did not reach a majority: again after a
// short random pause while the update's deadline allows, else unavailable.
void retry_or_fail(catalog_self* self, const std::string& id, const ballot& refusal,
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
void propose(catalog_self* self, const std::string& id, const phase_state& prepared) {
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

void expire_at(catalog_self* self, const std::string& id, std::shared_ptr<phase_state> ph,
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

} // namespace

// Keeps the voter set (the members whose majority an update needs) in step with the
// membership, persisted so that a node restarted alone does not believe it is the cluster:
// a member is added once seen up and removed when it leaves gracefully; a member that
// crashed stays a voter while it is listed down, and is dropped once the membership forgot
// it only by a node that sees a majority of the voters up. So the minority side of a
// partition never shrinks the set into a majority of its own.
void refresh_voters(catalog_self* self) {
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

// Phase 1 of the update at the front of `id`'s queue: a ballot above every one seen for the
// title, promised by a majority of the voters.
void attempt(catalog_self* self, const std::string& id) {
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

} // namespace sv::content::detail
