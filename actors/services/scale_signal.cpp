#include "actors/services/scale_signal.hpp"
#include "actors/services/scale_protocol.hpp"

#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "actors/session/session_service.hpp"
#include "caf/actor_system.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"
#include "caf/typed_event_based_actor.hpp"
#include "runtime/cluster/client.hpp"
#include "runtime/cluster/endpoint.hpp"
#include "runtime/cluster/membership.hpp"
#include "runtime/cluster/owner_router.hpp"
#include "runtime/config/section.hpp"
#include "runtime/flow/flow_context.hpp"
#include "runtime/flow/scale_advisor.hpp"
#include "runtime/metrics/registry.hpp"
#include "runtime/node/node.hpp"
#include "runtime/node/stop.hpp"
#include "runtime/wire/errc.hpp"
#include "runtime/wire/undecodable.hpp"

namespace sv {

namespace {

// What a region peer's signal service answered last.
struct peer_figures {
  uint64_t held = 0;
  double utilization = 0;
  std::chrono::steady_clock::time_point at;
};

// How often a node asks its region's peers for their figures, and how long an answer
// counts (a peer that stopped answering is left out of the mean, not counted as idle).
constexpr std::chrono::seconds share_interval{1};
constexpr auto fresh_for = 3 * share_interval;

// Shared by the metrics callbacks (scrapes) and the signal service (answers, peers).
struct signal_state {
  std::mutex mtx;
  flow::scale_advisor advisor;
  node* n = nullptr;
  const session::service* sessions = nullptr; // null once the handle is gone
  double last = 0;
  std::map<std::string, peer_figures> peers; // the region's other up members

  explicit signal_state(flow::scale_settings s) : advisor(s) {}

  // This node's figures (mtx held).
  peer_figures own() const {
    if (sessions == nullptr) {
      return {};
    }
    return {sessions->open_sessions_now(), n->flow().utilization(), {}};
  }
};

constexpr auto service_name = caf::atom("sv_scale");

using tick_atom = caf::atom_constant<caf::atom("sv_stick")>;
using scale_private = scale_actor::extend<caf::reacts_to<tick_atom>>;

struct scale_service_state {
  std::shared_ptr<signal_state> shared;
  std::string region;
  cluster::owner_router<caf::stateful_actor<scale_service_state, scale_private::base>> router{
      service_name};

  static inline const char* name = "sv.scale_signal";
};

using scale_self = caf::stateful_actor<scale_service_state, scale_private::base>;

// Answers this node's figures; once per share_interval, asks the region's other up members
// for theirs.
scale_private::behavior_type scale_behavior(scale_self* self, std::string node_name,
                                            caf::actor endpoint,
                                            std::function<std::vector<cluster::member>()> members,
                                            std::string region,
                                            std::shared_ptr<signal_state> shared) {
  auto& st = self->state;
  st.router.bind(std::move(node_name), std::move(endpoint), std::move(members));
  st.region = std::move(region);
  st.shared = std::move(shared);
  self->set_down_handler([self](caf::down_msg& dm) { self->state.router.forget(dm.source); });
  wire::answer_undecodable(self, "scale signal");
  self->send(self, tick_atom::value);
  return {
      [self](scale_figures_atom) -> caf::result<uint64_t, double> {
        auto& sh = *self->state.shared;
        std::lock_guard<std::mutex> guard{sh.mtx};
        if (sh.sessions == nullptr) { // stopping: not an idle node to count
          return make_error(errc::unavailable, "the scaling signal is stopping");
        }
        auto f = sh.own();
        return {f.held, f.utilization};
      },
      [self](tick_atom) {
        auto& st = self->state;
        auto up = cluster::up_names_in(st.router.members(), st.region);
        {
          std::lock_guard<std::mutex> guard{st.shared->mtx};
          auto& peers = st.shared->peers;
          for (auto i = peers.begin(); i != peers.end();) {
            i = std::binary_search(up.begin(), up.end(), i->first) ? std::next(i) : peers.erase(i);
          }
        }
        for (auto& name : up) {
          if (name == st.router.self_name()) {
            continue;
          }
          st.router.with_peer(
              self, name, share_interval,
              [self, name](const caf::actor& svc) {
                self->request(caf::actor_cast<scale_actor>(svc), caf::duration{share_interval},
                              scale_figures_atom::value)
                    .then(
                        [self, name](uint64_t held, double utilization) {
                          auto& sh = *self->state.shared;
                          std::lock_guard<std::mutex> guard{sh.mtx};
                          sh.peers[name] = {held, utilization, std::chrono::steady_clock::now()};
                        },
                        [](caf::error&) {}); // left out once its last answer is stale
              },
              [](const caf::error&) {});
        }
        self->delayed_send(self, share_interval, tick_atom::value);
      },
  };
}

flow::scale_settings from(const config::scale_node_settings& c) {
  flow::scale_settings s;
  s.target_utilization = c.target_utilization_pct / 100.0;
  s.held_per_node = c.sessions_per_node; // the entities held: open sessions
  s.min_nodes = c.min_nodes;
  s.max_nodes = c.max_nodes;
  s.tolerance = c.tolerance_pct / 100.0;
  s.down_stabilization = std::chrono::seconds{c.down_stabilization_s};
  return s;
}

} // namespace

void register_scale_config() {
  using config::scale_node_settings;
  config::section<scale_node_settings>{"scale"}
      .integer("target_utilization_pct", 0, 100, &scale_node_settings::target_utilization_pct)
      .integer("sessions_per_node", 0, 100'000'000, &scale_node_settings::sessions_per_node)
      .integer("min_nodes", 1, 10'000, &scale_node_settings::min_nodes)
      .integer("max_nodes", 1, 10'000, &scale_node_settings::max_nodes)
      .integer("tolerance_pct", 0, 100, &scale_node_settings::tolerance_pct)
      .integer("down_stabilization_s", 0, 86'400, &scale_node_settings::down_stabilization_s, " s")
      .add();
}

std::shared_ptr<void> export_scale_signal(node& n, const session::service& sessions) {
  auto st =
      std::make_shared<signal_state>(from(n.settings().section<config::scale_node_settings>()));
  st->n = &n;
  st->sessions = &sessions;
  const auto& region = n.settings().region;
  n.metrics().gauge_callback(
      "sv_cluster_desired_nodes",
      "Nodes this node's region should have, by [scale]'s rule (up at once, down after "
      "down_stabilization_s): the scaling signal for an orchestrator",
      [st, region] {
        std::lock_guard<std::mutex> guard{st->mtx};
        if (st->sessions == nullptr) {
          return st->last;
        }
        // The region's mean: this node's figures and the fresh answers of its up peers.
        auto up = cluster::up_names_in(st->n->members(), region);
        auto own = st->own();
        double held = static_cast<double>(own.held);
        double utilization = own.utilization;
        double known = 1;
        auto fresh = std::chrono::steady_clock::now() - fresh_for;
        for (auto& name : up) {
          auto i = st->peers.find(name);
          if (name != st->n->settings().name && i != st->peers.end() && i->second.at >= fresh) {
            held += static_cast<double>(i->second.held);
            utilization += i->second.utilization;
            known += 1;
          }
        }
        flow::scale_input in;
        in.nodes = static_cast<uint32_t>(up.size());
        in.utilization = utilization / known;
        in.held = static_cast<uint64_t>(std::ceil(held / known));
        in.level = static_cast<int>(st->n->flow().current_level());
        st->last = static_cast<double>(
            st->advisor.desired(in, std::chrono::steady_clock::now().time_since_epoch()));
        return st->last;
      },
      {{"region", region}});
  n.metrics().gauge_callback("sv_sessions_open", "Viewer sessions open on this node", [st] {
    std::lock_guard<std::mutex> guard{st->mtx};
    return st->sessions == nullptr ? 0.0 : static_cast<double>(st->sessions->open_sessions_now());
  });
  auto& sys = n.system();
  auto svc = sys.spawn(scale_behavior, n.settings().name, n.cluster_endpoint(),
                       std::function<std::vector<cluster::member>()>{[np = &n] {
                         return np->members();
                       }},
                       region, st);
  cluster::register_service(sys, service_name, caf::actor_cast<caf::actor>(svc));
  // The handle: once gone, the callbacks stop reading the sessions service, and the
  // service stops answering its peers.
  return std::shared_ptr<void>{nullptr, [st, svc, &sys](void*) {
                                 sys.registry().erase(service_name);
                                 {
                                   std::lock_guard<std::mutex> guard{st->mtx};
                                   st->sessions = nullptr;
                                 }
                                 stop_and_wait(sys, svc);
                               }};
}

caf::expected<scale_actor> connect_scale_signal(caf::actor_system& sys, const std::string& host,
                                                uint16_t port, std::chrono::milliseconds timeout) {
  return cluster::lookup_service_as<scale_actor>(sys, host, port, service_name, timeout);
}

} // namespace sv
