#include "actors/services/scale_signal.hpp"

#include <chrono>
#include <mutex>
#include <string>

#include "actors/session/session_service.hpp"
#include "runtime/cluster/membership.hpp"
#include "runtime/config/section.hpp"
#include "runtime/flow/flow_context.hpp"
#include "runtime/flow/scale_advisor.hpp"
#include "runtime/metrics/registry.hpp"
#include "runtime/node/node.hpp"

namespace sv {

namespace {

struct signal_state {
  std::mutex mtx;
  flow::scale_advisor advisor;
  node* n = nullptr;
  const session::service* sessions = nullptr; // null once the handle is gone
  double last = 0;

  explicit signal_state(flow::scale_settings s) : advisor(s) {}
};

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
        flow::scale_input in;
        in.nodes = static_cast<uint32_t>(cluster::up_names_in(st->n->members(), region).size());
        in.utilization = st->n->flow().utilization();
        in.held = st->sessions->open_sessions_now();
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
  // The handle: once gone, the callbacks stop reading the sessions service.
  return std::shared_ptr<void>{nullptr, [st](void*) {
                                 std::lock_guard<std::mutex> guard{st->mtx};
                                 st->sessions = nullptr;
                               }};
}

} // namespace sv
