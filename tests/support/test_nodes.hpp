#pragma once

// Settings for nodes that tests start in one process on loopback: an ephemeral port, one
// scheduler thread, fast gossip and heartbeats, quiet logs.

#include <string>

#include "runtime/config/node_settings.hpp"

namespace sv::test {

inline sv::config::node_settings fast_node_settings(const std::string& name,
                                                    const std::string& data_dir) {
  sv::config::node_settings s;
  s.name = name;
  s.cluster_port = 0;
  s.data_dir = data_dir;
  s.scheduler_threads = 1;
  s.heartbeat_interval_ms = 100;
  s.connection_timeout_ms = 1000;
  s.seed_retry_ms = 50;
  s.gossip_interval_ms = 50;
  s.log_level = "warn";
  return s;
}

} // namespace sv::test
