#include "actors/session/session_settings.hpp"

#include "runtime/config/section.hpp"

namespace sv::session {

void register_config() {
  using config::session_node_settings;
  using config::watch_node_settings;
  config::section<session_node_settings>{"sessions"}
      .integer("idle_timeout_ms", 1'000, 86'400'000, &session_node_settings::idle_timeout_ms, " ms")
      .integer("hosts", 1, 4096, &session_node_settings::hosts)
      .integer("gateways", 1, 64, &session_node_settings::gateways)
      .add();
  config::section<watch_node_settings>{"watch"}
      .integer("checkpoint_ms", 100, 3'600'000, &watch_node_settings::checkpoint_ms, " ms")
      .integer("sync_interval_ms", 10, 60'000, &watch_node_settings::sync_interval_ms, " ms")
      .integer("read_settle_ms", 0, 3'600'000, &watch_node_settings::read_settle_ms, " ms")
      .add();
}

} // namespace sv::session
