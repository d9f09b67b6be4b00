#include "runtime/cluster/endpoint.hpp"

#include <algorithm>
#include <set>

#include <spdlog/spdlog.h>

#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/io/middleman.hpp"
#include "caf/io/middleman_actor.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"
#include "runtime/cluster/cluster.pb.h"
#include "runtime/metrics/registry.hpp"
#include "runtime/wire/message_types.hpp"
#include "runtime/wire/protobuf.hpp"

namespace sv::cluster {

namespace {

using dial_atom = caf::atom_constant<caf::atom("sv_dial")>;
using start_atom = caf::atom_constant<caf::atom("sv_start")>;
using hello_msg = streamverse::v1::Hello;

// Retries of an unreachable seed back off exponentially up to this pause (or the
// configured retry interval, if that is longer).
constexpr auto max_backoff = std::chrono::milliseconds{5'000};

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
};

struct endpoint_state {
  endpoint_settings cfg;
  std::string advertised_address; // set by start_endpoint
  std::shared_ptr<peer_table> peers;
  std::vector<live_peer> live;
  std::vector<seed_slot> seeds;
  metrics::counter* hellos_in = nullptr;
  metrics::counter* hellos_out = nullptr;
  metrics::counter* dial_failures = nullptr;
  metrics::counter* refusals = nullptr;

  static inline const char* name = "sv.cluster.endpoint";
};

using endpoint_actor = caf::stateful_actor<endpoint_state>;

hello_msg make_hello(const endpoint_state& st) {
  hello_msg h;
  h.set_node_name(st.cfg.node_name);
  h.set_version(st.cfg.version);
  h.set_protocol(protocol_version);
  h.set_cluster_address(st.advertised_address);
  h.set_incarnation(st.cfg.incarnation);
  return h;
}

// Records `h` as a live peer reached through `handle`, or says why not.
caf::error accept_peer(endpoint_actor* self, const hello_msg& h, const caf::actor& handle) {
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
  spdlog::info("peer {} connected (address {}, version {})", h.node_name(), h.cluster_address(),
               h.version());
  return caf::none;
}

void schedule_dial(endpoint_actor* self, size_t i) {
  auto& slot = self->state.seeds[i];
  auto& retry = self->state.cfg.retry_interval;
  slot.backoff =
      slot.backoff.count() == 0 ? retry : std::min(slot.backoff * 2, std::max(max_backoff, retry));
  self->delayed_send(self, slot.backoff, dial_atom::value, static_cast<uint64_t>(i));
}

void dial_failed(endpoint_actor* self, size_t i, const std::string& why) {
  auto& slot = self->state.seeds[i];
  slot.dialing = false;
  self->state.dial_failures->inc();
  spdlog::debug("seed {}:{} not reached: {}", slot.where.host, slot.where.port, why);
  schedule_dial(self, i);
}

void dial(endpoint_actor* self, size_t i) {
  auto& slot = self->state.seeds[i];
  if (slot.dialing || slot.is_self || !slot.peer_name.empty()) {
    return;
  }
  slot.dialing = true;
  auto timeout = self->state.cfg.connect_timeout;
  auto mm = self->system().middleman().actor_handle();
  self->request(mm, timeout, caf::connect_atom::value, slot.where.host, slot.where.port)
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

caf::behavior endpoint(endpoint_actor* self, endpoint_settings cfg,
                       std::shared_ptr<peer_table> peers, metrics::registry* reg) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.peers = std::move(peers);
  st.hellos_in = &reg->counter_metric("sv_cluster_hellos_total", "Hello messages by direction",
                                      {{"direction", "in"}});
  st.hellos_out = &reg->counter_metric("sv_cluster_hellos_total", "Hello messages by direction",
                                       {{"direction", "out"}});
  st.dial_failures = &reg->counter_metric("sv_cluster_dial_failures_total",
                                          "Failed attempts to reach a seed node");
  st.refusals = &reg->counter_metric("sv_cluster_peer_refusals_total",
                                     "Peers refused (protocol or name conflict)");
  for (auto& s : st.cfg.seeds) {
    st.seeds.push_back(seed_slot{s, {}, false, false, std::chrono::milliseconds{0}});
  }
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
    spdlog::info("peer {} disconnected: {}", name, self->system().render(dm.reason));
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
        for (size_t i = 0; i < st.seeds.size(); ++i) {
          // A seed that names our own published address is skipped without dialing.
          if (st.seeds[i].where.host + ":" + std::to_string(st.seeds[i].where.port) == address) {
            st.seeds[i].is_self = true;
            continue;
          }
          dial(self, i);
        }
      },
      [self](dial_atom, uint64_t i) {
        if (i < self->state.seeds.size()) {
          dial(self, static_cast<size_t>(i));
        }
      },
      []() -> caf::error { return wire::undecodable("cluster endpoint"); },
  };
}

} // namespace

caf::actor spawn_endpoint(caf::actor_system& sys, endpoint_settings settings,
                          std::shared_ptr<peer_table> peers, metrics::registry& metrics) {
  return sys.spawn(endpoint, std::move(settings), std::move(peers), &metrics);
}

void start_endpoint(const caf::actor& endpoint, std::string advertised_address) {
  caf::anon_send(endpoint, start_atom::value, std::move(advertised_address));
}

} // namespace sv::cluster
