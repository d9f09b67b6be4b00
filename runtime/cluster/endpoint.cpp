#include "runtime/cluster/endpoint.hpp"

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <set>

#include <spdlog/spdlog.h>

#include "caf/actor_registry.hpp"
#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/io/middleman.hpp"
#include "caf/io/middleman_actor.hpp"
#include "caf/openssl/manager.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"
#include "caf/typed_event_based_actor.hpp"
#include "caf/typed_response_promise.hpp"
#include "runtime/cluster/cluster.pb.h"
#include "runtime/cluster/member_codec.hpp"
#include "runtime/metrics/registry.hpp"
#include "runtime/util/clock.hpp"
#include "runtime/wire/protobuf.hpp"
#include "runtime/wire/undecodable.hpp"

namespace sv::cluster {

namespace {

using dial_atom = caf::atom_constant<caf::atom("sv_dial")>;
using gossip_atom = caf::atom_constant<caf::atom("sv_gossip")>;
using wait_over_atom = caf::atom_constant<caf::atom("sv_waitov")>;

// The interface plus what the endpoint sends itself (gossip rounds, seed dials, the end of
// a wait for a peer).
using endpoint_private =
    endpoint_actor::extend<caf::reacts_to<gossip_atom>, caf::reacts_to<dial_atom, uint64_t>,
                           caf::reacts_to<wait_over_atom, uint64_t>>;

// Retries of an unreachable seed back off exponentially up to this pause (or the
// configured retry interval, if that is longer), so a link back after a partition is
// found within about a second of the heal (a dial is cheap; at most one per seed runs).
constexpr auto max_backoff = std::chrono::milliseconds{1'000};

struct live_peer {
  std::string name;
  caf::actor handle;
  uint64_t incarnation = 0;
};

struct seed_slot {
  seed where;
  std::string peer_name; // non-empty while connected through this seed
  bool dialing = false;
  bool is_self = false;
  std::chrono::milliseconds backoff{0};
  bool learned = false; // from gossip, not the config: given up when the member is down
  bool retired = false;
};

// A caller waiting for this node to connect to a member (peer_atom).
struct peer_wait {
  uint64_t id = 0;
  std::string name;
  caf::typed_response_promise<caf::actor> rp;
};

// The longest wait a peer_atom may ask for (a caller's own bounds are far below it).
constexpr uint64_t max_peer_wait_ms = 60'000;

// States in which a member not connected yet may still connect: worth waiting for.
bool may_connect(member_state s) {
  return s == member_state::up || s == member_state::joining;
}

// The answer to a peer_atom for a member this node is not connected to, and why.
caf::error not_connected(const std::string& name, const std::string& why) {
  return make_error(errc::unavailable, "not connected to " + name + " (" + why + ")");
}

std::string state_of(const std::optional<member>& m) {
  return m ? std::string{to_string(m->state)} : std::string{"not a member"};
}

struct endpoint_state {
  endpoint_settings cfg;
  std::string advertised_address; // set by start_endpoint
  std::shared_ptr<peer_table> peers;
  std::vector<live_peer> live;
  std::vector<seed_slot> seeds;
  std::unique_ptr<membership> members;
  std::vector<peer_wait> peer_waits;
  uint64_t next_wait = 0;
  metrics::counter* gossip_in = nullptr;
  metrics::counter* member_changes = nullptr;
  metrics::counter* hellos_in = nullptr;
  metrics::counter* hellos_out = nullptr;
  metrics::counter* dial_failures = nullptr;
  metrics::counter* disconnects = nullptr;
  metrics::counter* refusals = nullptr;

  static inline const char* name = "sv.cluster.endpoint";
};

using endpoint_self = caf::stateful_actor<endpoint_state, endpoint_private::base>;

std::chrono::nanoseconds now(endpoint_self* self) {
  return std::chrono::nanoseconds{sv::clock::actor_ns(self)};
}

gossip_msg make_gossip(const endpoint_state& st) {
  gossip_msg g;
  g.set_from(st.cfg.node_name);
  for (auto& m : st.members->snapshot()) {
    to_proto(m, *g.add_members());
  }
  return g;
}

// Makes the member list visible to other threads (status, metrics, tests).
// Callers waiting for a member that can no longer connect (it is suspect, down, leaving
// or forgotten now) are answered at once.
void publish_members(endpoint_state& st) {
  st.peers->set_members(st.members->snapshot());
  auto& ws = st.peer_waits;
  for (auto w = ws.begin(); w != ws.end();) {
    auto m = st.members->find(w->name);
    if (m && may_connect(m->state)) {
      ++w;
      continue;
    }
    w->rp.deliver(not_connected(w->name, state_of(m)));
    w = ws.erase(w);
  }
}

void log_change(endpoint_state& st, const member& m, const char* why) {
  st.member_changes->inc();
  auto lvl = m.state == member_state::suspect || m.state == member_state::down
                 ? spdlog::level::warn
                 : spdlog::level::info;
  spdlog::log(lvl, "member {} is {} ({}, incarnation {})", m.name, to_string(m.state), why,
              m.incarnation);
}

hello_msg make_hello(const endpoint_state& st) {
  hello_msg h;
  h.set_node_name(st.cfg.node_name);
  h.set_version(st.cfg.version);
  h.set_protocol(protocol_version);
  h.set_cluster_address(st.advertised_address);
  h.set_incarnation(st.cfg.incarnation);
  h.set_region(st.cfg.region);
  h.set_zone(st.cfg.zone);
  return h;
}

// Records `h` as a live peer reached through `handle`, or says why not.
caf::error accept_peer(endpoint_self* self, const hello_msg& h, const caf::actor& handle) {
  auto& st = self->state;
  if (h.protocol() != protocol_version) {
    st.refusals->inc();
    return make_error(errc::protocol_mismatch, h.node_name() + " speaks protocol "
                                                   + std::to_string(h.protocol()) + ", this node "
                                                   + std::to_string(protocol_version));
  }
  if (h.node_name().empty()) {
    st.refusals->inc();
    return make_error(errc::invalid_argument, "hello without a node name");
  }
  if (h.node_name() == st.cfg.node_name) {
    st.refusals->inc();
    return make_error(errc::duplicate_node_name, h.node_name() + " is this node's name");
  }
  auto i = std::find_if(st.live.begin(), st.live.end(),
                        [&](const live_peer& p) { return p.name == h.node_name(); });
  if (i != st.live.end()) {
    if (i->handle == handle) {
      return caf::none; // the same peer, reached from both sides
    }
    if (h.incarnation() <= i->incarnation) {
      st.refusals->inc();
      return make_error(errc::duplicate_node_name,
                        h.node_name() + " is already connected from another process");
    }
    // A newer incarnation: the old process is gone even if its down message is late.
    self->demonitor(i->handle);
    st.live.erase(i);
  }
  self->monitor(handle);
  st.live.push_back(live_peer{h.node_name(), handle, h.incarnation()});
  st.peers->upsert(peer_info{h.node_name(), h.version(), h.cluster_address(), h.incarnation()});
  member m{h.node_name(),    h.cluster_address(), h.version(), h.incarnation(),
           member_state::up, h.region(),          h.zone()};
  if (st.members->hello(m, now(self))) {
    log_change(st, m, "hello");
  }
  publish_members(st);
  spdlog::info("peer {} connected (address {}, version {}, region {})", h.node_name(),
               h.cluster_address(), h.version(), h.region().empty() ? "-" : h.region());
  auto& ws = st.peer_waits;
  for (auto w = ws.begin(); w != ws.end();) {
    if (w->name == h.node_name()) {
      w->rp.deliver(handle);
      w = ws.erase(w);
    } else {
      ++w;
    }
  }
  return caf::none;
}

void schedule_dial(endpoint_self* self, size_t i) {
  auto& slot = self->state.seeds[i];
  auto& retry = self->state.cfg.retry_interval;
  slot.backoff =
      slot.backoff.count() == 0 ? retry : std::min(slot.backoff * 2, std::max(max_backoff, retry));
  self->delayed_send(self, slot.backoff, dial_atom::value, static_cast<uint64_t>(i));
}

void dial_failed(endpoint_self* self, size_t i, const std::string& why) {
  auto& slot = self->state.seeds[i];
  slot.dialing = false;
  self->state.dial_failures->inc();
  spdlog::debug("seed {}:{} not reached: {}", slot.where.host, slot.where.port, why);
  schedule_dial(self, i);
}

void dial(endpoint_self* self, size_t i) {
  auto& slot = self->state.seeds[i];
  if (slot.dialing || slot.is_self || slot.retired || !slot.peer_name.empty()) {
    return;
  }
  slot.dialing = true;
  auto timeout = self->state.cfg.connect_timeout;
  auto mm = self->state.cfg.dialer
                ? caf::actor_cast<caf::io::middleman_actor>(self->state.cfg.dialer)
            : self->state.cfg.tls ? self->system().openssl_manager().actor_handle()
                                  : self->system().middleman().actor_handle();
  auto target = slot.where;
  auto via = self->state.cfg.dial_via.find(slot.where.host + ":" + std::to_string(slot.where.port));
  if (via != self->state.cfg.dial_via.end()) {
    target = via->second;
  }
  self->request(mm, timeout, caf::connect_atom::value, target.host, target.port)
      .then(
          [=](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>&) {
            if (!ptr) {
              dial_failed(self, i, "nothing published on that port");
              return;
            }
            auto peer = caf::actor_cast<caf::actor>(std::move(ptr));
            if (peer.node() == self->node()) {
              auto& s = self->state.seeds[i];
              s.dialing = false;
              s.is_self = true;
              spdlog::warn("seed {}:{} is this node; ignoring it", s.where.host, s.where.port);
              return;
            }
            self->state.hellos_out->inc();
            self->request(peer, timeout, make_hello(self->state))
                .then(
                    [=](const hello_msg& h) {
                      if (auto err = accept_peer(self, h, peer)) {
                        dial_failed(self, i, self->system().render(err));
                        return;
                      }
                      auto& s = self->state.seeds[i];
                      s.dialing = false;
                      s.backoff = std::chrono::milliseconds{0};
                      s.peer_name = h.node_name();
                    },
                    [=](caf::error& err) { dial_failed(self, i, self->system().render(err)); });
          },
          [=](caf::error& err) { dial_failed(self, i, self->system().render(err)); });
}

// "host:port" -> seed; nothing for a malformed address.
std::optional<seed> parse_address(const std::string& address) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    return std::nullopt;
  }
  auto port = std::strtoul(address.c_str() + colon + 1, nullptr, 10);
  if (port == 0 || port > 65535) {
    return std::nullopt;
  }
  return seed{address.substr(0, colon), static_cast<uint16_t>(port)};
}

// Dials members that gossip reports alive and this node is not connected to (at most one
// dial per member at a time), and gives up on learned addresses whose member is down or
// forgotten.
void dial_learned(endpoint_self* self) {
  auto& st = self->state;
  if (st.advertised_address.empty()) {
    return; // not started yet
  }
  auto list = st.members->snapshot();
  auto address_of = [](const seed_slot& s) {
    return s.where.host + ":" + std::to_string(s.where.port);
  };
  for (auto& slot : st.seeds) {
    if (!slot.learned) {
      continue;
    }
    auto alive = std::any_of(list.begin() + 1, list.end(), [&](const member& m) {
      return m.address == address_of(slot) && m.state != member_state::down;
    });
    slot.retired = !alive;
  }
  for (size_t i = 1; i < list.size(); ++i) {
    auto& m = list[i];
    auto connected = std::any_of(st.live.begin(), st.live.end(),
                                 [&](const live_peer& p) { return p.name == m.name; });
    if (connected || m.state == member_state::down || m.state == member_state::leaving) {
      continue;
    }
    auto where = parse_address(m.address);
    if (!where) {
      continue;
    }
    auto known = std::find_if(st.seeds.begin(), st.seeds.end(),
                              [&](const seed_slot& s) { return address_of(s) == m.address; });
    if (known == st.seeds.end()) {
      st.seeds.push_back(
          seed_slot{*where, {}, false, false, std::chrono::milliseconds{0}, true, false});
      dial(self, st.seeds.size() - 1);
    } else {
      // Gossip says the member is alive but this node is not connected to it: dial now,
      // even when a backoff is running (after a stall the backoff may have grown to
      // seconds, while the other members still relay its state; without a direct
      // connection the two would lose each other as soon as the relay goes).
      known->retired = false;
      dial(self, static_cast<size_t>(known - st.seeds.begin()));
    }
  }
}

// Sends the member list to every connected peer.
void spread(endpoint_self* self) {
  auto& st = self->state;
  if (st.live.empty()) {
    return;
  }
  auto g = make_gossip(st);
  for (auto& p : st.live) {
    // Urgent: the member list is the failure detector's heartbeat; a peer busy with a
    // spike must not take it for silence.
    self->send<caf::message_priority::high>(caf::actor_cast<endpoint_actor>(p.handle), g);
  }
}

// One gossip round: the failure detector's timeouts, the list to every peer, new dials.
void gossip_round(endpoint_self* self) {
  auto& st = self->state;
  for (auto& m : st.members->tick(now(self))) {
    log_change(st, m, "failure detector");
  }
  publish_members(st);
  spread(self);
  dial_learned(self);
  self->delayed_send(self, st.cfg.gossip_interval, gossip_atom::value);
}

void on_gossip(endpoint_self* self, const gossip_msg& g) {
  auto& st = self->state;
  st.gossip_in->inc();
  auto t = now(self);
  st.members->heard_from(g.from(), t);
  for (auto& x : g.members()) {
    auto m = from_proto(x);
    if (m.name.empty()) {
      continue;
    }
    auto before = st.members->find(m.name);
    if (st.members->merge(m, t)) {
      if (m.name == st.cfg.node_name) {
        spdlog::warn("refuted a rumour that this node is {} (now incarnation {})",
                     to_string(m.state), st.members->self().incarnation);
        st.member_changes->inc();
      } else if (!before || before->state != m.state) {
        log_change(st, m, ("gossip from " + g.from()).c_str());
      }
    }
  }
  publish_members(st);
  dial_learned(self);
}

endpoint_private::behavior_type endpoint(endpoint_self* self, endpoint_settings cfg,
                                         std::shared_ptr<peer_table> peers,
                                         metrics::registry* reg) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.peers = std::move(peers);
  st.hellos_in = &reg->counter_metric("sv_cluster_hellos_total", "Hello messages by direction",
                                      {{"direction", "in"}});
  st.hellos_out = &reg->counter_metric("sv_cluster_hellos_total", "Hello messages by direction",
                                       {{"direction", "out"}});
  st.dial_failures = &reg->counter_metric("sv_cluster_dial_failures_total",
                                          "Failed attempts to reach a seed node");
  st.disconnects =
      &reg->counter_metric("sv_cluster_peer_disconnects_total",
                           "Connections to peers that ended (a peer left or the link broke)");
  st.refusals = &reg->counter_metric("sv_cluster_peer_refusals_total",
                                     "Peers refused (protocol or name conflict)");
  st.gossip_in =
      &reg->counter_metric("sv_cluster_gossip_received_total", "Member lists received from peers");
  st.member_changes = &reg->counter_metric("sv_cluster_member_changes_total",
                                           "Member state changes this node saw or refuted");
  auto table = st.peers;
  for (auto s : {member_state::joining, member_state::up, member_state::suspect,
                 member_state::leaving, member_state::down}) {
    reg->gauge_callback("sv_cluster_members",
                        "Members of the cluster by state, as this node sees them",
                        [table, s] { return static_cast<double>(table->count(s)); },
                        {{"state", std::string{to_string(s)}}});
  }
  st.members =
      std::make_unique<membership>(member{st.cfg.node_name, "", st.cfg.version, st.cfg.incarnation,
                                          member_state::up, st.cfg.region, st.cfg.zone},
                                   st.cfg.membership);
  publish_members(st);
  for (auto& s : st.cfg.seeds) {
    st.seeds.push_back(seed_slot{s, {}, false, false, std::chrono::milliseconds{0}, false, false});
  }
  wire::answer_undecodable(self, "cluster endpoint");
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    auto i = std::find_if(st.live.begin(), st.live.end(),
                          [&](const live_peer& p) { return p.handle.address() == dm.source; });
    if (i == st.live.end()) {
      return;
    }
    auto name = i->name;
    st.live.erase(i);
    st.peers->erase(name);
    st.disconnects->inc();
    spdlog::info("peer {} disconnected: {}", name, self->system().render(dm.reason));
    st.members->connection_lost(name, now(self));
    publish_members(st);
    for (size_t k = 0; k < st.seeds.size(); ++k) {
      if (st.seeds[k].peer_name == name) {
        st.seeds[k].peer_name.clear();
        dial(self, k);
      }
    }
  });
  return {
      [self](const hello_msg& h) -> caf::result<hello_msg> {
        self->state.hellos_in->inc();
        auto sender = caf::actor_cast<caf::actor>(self->current_sender());
        if (!sender) {
          return make_error(errc::invalid_argument, "hello without a sender");
        }
        if (auto err = accept_peer(self, h, sender)) {
          spdlog::warn("refused peer {}: {}", h.node_name(), self->system().render(err));
          return err;
        }
        return make_hello(self->state);
      },
      [self](start_atom, const std::string& address) {
        auto& st = self->state;
        if (!st.advertised_address.empty()) {
          return; // already started
        }
        st.advertised_address = address;
        st.members->set_self_address(address);
        publish_members(st);
        self->delayed_send(self, st.cfg.gossip_interval, gossip_atom::value);
        for (size_t i = 0; i < st.seeds.size(); ++i) {
          // A seed that names our own published address is skipped without dialing.
          if (st.seeds[i].where.host + ":" + std::to_string(st.seeds[i].where.port) == address) {
            st.seeds[i].is_self = true;
            continue;
          }
          dial(self, i);
        }
      },
      [self](const gossip_msg& g) { on_gossip(self, g); },
      [self](gossip_atom) { gossip_round(self); },
      [self](const members_request& r) {
        spdlog::debug("member list requested by {}", r.requester());
        return make_gossip(self->state);
      },
      [self](leave_atom) {
        auto& st = self->state;
        st.members->leave();
        publish_members(st);
        spdlog::info("leaving the cluster: telling {} peers", st.live.size());
        spread(self);
        return caf::ok_atom::value;
      },
      [self](lookup_atom, caf::atom_value service) -> caf::result<caf::actor> {
        auto found = self->system().registry().get(service);
        if (!found) {
          return make_error(errc::not_found, "no service " + caf::to_string(service) + " on "
                                                 + self->state.cfg.node_name);
        }
        return caf::actor_cast<caf::actor>(found);
      },
      [self](peers_atom) -> caf::result<std::vector<std::string>, std::vector<caf::actor>> {
        std::vector<std::string> names;
        std::vector<caf::actor> handles;
        for (auto& p : self->state.live) {
          names.push_back(p.name);
          handles.push_back(p.handle);
        }
        return {std::move(names), std::move(handles)};
      },
      [self](peer_atom, const std::string& name, uint64_t wait_ms) -> caf::result<caf::actor> {
        auto& st = self->state;
        auto sender = self->current_sender();
        if (sender && sender->node() != self->node()) {
          return make_error(errc::invalid_argument, "peer_atom is for this node's own services");
        }
        wait_ms = std::min(wait_ms, max_peer_wait_ms);
        for (auto& p : st.live) {
          if (p.name == name) {
            return p.handle;
          }
        }
        auto m = st.members->find(name);
        auto coming = m && name != st.cfg.node_name && may_connect(m->state);
        if (!coming || wait_ms == 0) {
          return not_connected(name, state_of(m));
        }
        auto id = ++st.next_wait;
        auto rp = self->make_response_promise<caf::actor>();
        st.peer_waits.push_back(peer_wait{id, name, rp});
        self->delayed_send(self, std::chrono::milliseconds{wait_ms}, wait_over_atom::value, id);
        return rp;
      },
      [self](wait_over_atom, uint64_t id) {
        auto& ws = self->state.peer_waits;
        auto w =
            std::find_if(ws.begin(), ws.end(), [id](const peer_wait& x) { return x.id == id; });
        if (w != ws.end()) {
          w->rp.deliver(not_connected(w->name, "waited for its connection in vain"));
          ws.erase(w);
        }
      },
      [self](dial_atom, uint64_t i) {
        if (i < self->state.seeds.size()) {
          dial(self, static_cast<size_t>(i));
        }
      },
  };
}

} // namespace

endpoint_actor spawn_endpoint(caf::actor_system& sys, endpoint_settings settings,
                              std::shared_ptr<peer_table> peers, metrics::registry& metrics) {
  return sys.spawn(endpoint, std::move(settings), std::move(peers), &metrics);
}

void start_endpoint(const endpoint_actor& endpoint, std::string advertised_address) {
  caf::anon_send(endpoint, start_atom::value, std::move(advertised_address));
}

void register_service(caf::actor_system& sys, caf::atom_value service, const caf::actor& a) {
  sys.registry().put(service, caf::actor_cast<caf::strong_actor_ptr>(a));
}

bool leave_cluster(caf::actor_system& sys, const endpoint_actor& endpoint,
                   std::chrono::milliseconds timeout) {
  caf::scoped_actor self{sys};
  bool done = false;
  self->request(endpoint, caf::duration{timeout}, leave_atom::value)
      .receive([&](caf::ok_atom) { done = true; }, [](caf::error&) {});
  return done;
}

} // namespace sv::cluster
