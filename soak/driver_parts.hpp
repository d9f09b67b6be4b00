#pragma once

// Internal to soak/ (not an interface): what the soak driver's parts share. driver.cpp runs
// the driver process (connections, the controller's commands on stdin, the final files),
// viewer_load.cpp the actor that plays the viewers (sessions through the edge client,
// analytics batches), metadata_load.cpp the metadata workload (titles, traced updates,
// storms, the final convergence check) on threads of its own.

#include <algorithm>
#include <atomic>
#include <cmath>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "actors/analytics/analytics.hpp"
#include "actors/analytics/analytics.pb.h"
#include "actors/cache/cache.hpp"
#include "actors/content/catalog_client.hpp"
#include "actors/content/content_types.hpp"
#include "actors/media/watch_protocol.hpp"
#include "actors/media/watch_state.hpp"
#include "actors/session/edge_client.hpp"
#include "actors/session/session_errc.hpp"
#include "actors/session/session_gateway.hpp"
#include "actors/session/session_types.hpp"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/io/middleman.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"
#include "runtime/cluster/client.hpp"
#include "runtime/util/clock.hpp"
#include "runtime/wire/errc.hpp"
#include "runtime/wire/protobuf.hpp"
#include "soak/session_port.hpp"

#include "soak/report.hpp"
#include "soak/scenario.hpp"

namespace sv::soak {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

inline int64_t now_ns() {
  return sv::clock::steady_ns();
}

using sv::clock::wall_ms;

struct driver_config : caf::actor_system_config {
  driver_config() {
    cluster::configure_client(*this); // its links to the nodes may idle between phases
    content::register_message_types(*this);
    cache::register_message_types(*this);
    analytics::register_message_types(*this);
    session::register_message_types(*this);
    media::register_watch_types(*this);
    set("scheduler.max-threads", size_t{2});
    set("work-stealing.moderate-poll-attempts", size_t{10}); // little idle polling
    set("logger.console-verbosity", caf::atom("quiet"));
  }
};

// Node states the stdin reader, the metadata threads and the actor share.
struct node_flags {
  std::string name;
  std::string host;
  uint16_t port = 0;
  std::atomic<bool> down{false};
  std::atomic<bool> stalled{false};
  std::atomic<uint64_t> generation{0}; ///< raised by every down and up command
  bool usable() const {
    return !down.load() && !stalled.load();
  }
};

// What the metadata threads measured, read by the actor once a second.
struct meta_shared {
  std::mutex mtx;
  std::vector<double> second_meta_ms, second_inval_ms; // completed this second
  std::vector<double> all_meta_ms, all_inval_ms;
  // Traced updates: the write (send to acknowledgement), and visible everywhere after the
  // acknowledgement (catalog, cache).
  std::vector<double> all_write_ms, all_meta_ack_ms, all_inval_ack_ms;
  // The phase each traced update was written in (set by the load actor), and the catalog's
  // visibility after the acknowledgement by that phase.
  std::string phase;
  std::map<std::string, std::vector<double>> meta_ack_ms_by_phase, inval_ack_ms_by_phase;
  // Traced updates seen everywhere 200 ms or more after their acknowledgement (the first
  // 64): which node saw it last, and when it was written (s since the tracer started).
  struct slow_trace {
    std::string phase, node;
    double ack_ms = 0, at_s = 0;
    bool changing = false;
  };
  std::vector<slow_trace> slow;
  // A node joined, left, came back or stopped, or a partition healed, at this steady time
  // (ns); updates written within `settle` of it count apart (changing_ack_ms): the bound
  // by round trips holds for a stable membership.
  static constexpr auto settle = std::chrono::seconds{3};
  std::atomic<int64_t> changed_ns{std::numeric_limits<int64_t>::min() / 2};
  std::vector<double> changing_ack_ms; // catalog or cache, the later
  // Traced updates written during a partition: visible everywhere this long after the heal
  // (catalog and cache), or not within 10 s of it.
  std::vector<double> after_heal_ms;
  uint64_t not_visible_after_heal = 0;
  uint64_t updates = 0, traced = 0, refused = 0, not_propagated = 0, stale_reads = 0;
  std::map<std::string, uint64_t> refusals; // by reason
  std::set<std::string> titles;             // updated at least once
  std::atomic<double> storm_rate{0};
  std::atomic<bool> stop{false};
};

// Resume positions the cluster acknowledged: a viewer's close answered ok makes its node
// record where it stopped (the last heartbeat applied), which must then read back from any
// node. Written by the actor, read by the driver's main thread at the end.
struct closed_position {
  int64_t acked_ms = 0; // the position of the last heartbeat answered ok
  int64_t sent_ms = 0;  // of the last one sent (applied but its answer lost: at most this)
  std::string region;   // the viewer's (the user's home region)
};

struct positions_shared {
  std::mutex mtx;
  // (user, title) -> what its last acknowledged close stopped at; a viewer that plays
  // again is taken out (its position moves on).
  std::map<std::pair<std::string, std::string>, closed_position> closed;
};

struct node_link {
  bool reachable = false; // connected at start (the edge client keeps the sessions' links)
  caf::actor analytics;
  uint64_t epoch = 0; // raised on every fault: answers across a fault are not latency samples
};

// What the edge client answered, drained by the driver actor every tick.
struct result_queue {
  std::mutex mtx;
  std::vector<session::edge_result> items;
};

using command_atom = caf::atom_constant<caf::atom("command")>;
using link_atom = caf::atom_constant<caf::atom("link")>;
using finish_atom = caf::atom_constant<caf::atom("finish")>;

inline std::string json_num(double x) {
  if (!std::isfinite(x)) {
    return "0";
  }
  std::ostringstream os;
  os.precision(6);
  os << x;
  return os.str();
}

// `text` made safe inside a JSON string: quotes and backslashes become ', control
// characters spaces.
inline std::string json_clean(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    out += ch == '"' || ch == '\\' ? '\'' : static_cast<unsigned char>(ch) < 0x20 ? ' ' : ch;
  }
  return out;
}

/// Spawns the viewer actor: it plays `sc`'s viewers through `client` on the nodes in
/// `flags`, and sends analytics batches to each node's `links`.
caf::actor spawn_viewer_load(caf::actor_system& sys, const scenario* sc,
                             std::vector<node_flags>* flags, meta_shared* meta,
                             positions_shared* positions, std::vector<node_link> links,
                             std::string report_dir, session_port* client, result_queue* results);

struct convergence {
  uint64_t titles = 0, diverged = 0;
  std::vector<std::string> samples;
};

/// Every title updated: the same version on every node (retried until that holds or 30 s).
convergence check_convergence(caf::actor_system& sys, std::vector<node_flags>& flags,
                              const std::set<std::string>& titles);

/// Stores the scenario's titles in the catalog; false when one could not be stored.
bool seed_titles(caf::actor_system& sys, const scenario& sc, std::vector<node_flags>& flags);

/// Traced updates, each read back through every node, until `meta.stop`.
void trace_loop(caf::actor_system& sys, const scenario& sc, std::vector<node_flags>& flags,
                meta_shared& meta);

/// Updates at `meta.storm_rate` per second, until `meta.stop`.
void storm_loop(caf::actor_system& sys, const scenario& sc, std::vector<node_flags>& flags,
                meta_shared& meta);

} // namespace sv::soak
