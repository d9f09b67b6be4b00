#pragma once

// Internal to actors/analytics (not an interface): what the analytics actors share with each
// other and with the host API in analytics.cpp. analytics_partition.cpp holds the partition
// actor (history store and real-time windows of one partition), analytics_batcher.cpp the
// node's batcher (events into per-partition blocks, sent and resent until acknowledged), and
// analytics_service.cpp the node's service (routing to partition owners, handoff of
// partitions, ingest from producers outside the cluster).

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "actors/analytics/analytics.hpp"
#include "actors/analytics/analytics.pb.h"
#include "actors/analytics/analytics_settings.hpp"
#include "caf/actor.hpp"
#include "caf/atom.hpp"
#include "caf/fwd.hpp"
#include "runtime/cluster/membership.hpp"
#include "runtime/cluster/placement.hpp"
#include "runtime/node/detached_children.hpp"
#include "runtime/node/readiness.hpp"
#include "runtime/util/clock.hpp"

namespace sv::flow {
class flow_context;
} // namespace sv::flow

namespace sv::metrics {
class histogram;
} // namespace sv::metrics

namespace sv::analytics {

// Counters shared by the host API, the batcher and the partitions of one node.
struct analytics_shared {
  std::atomic<uint64_t> emitted{0}, overloaded{0}, batches_sent{0}, resends{0}, acked_events{0},
      pending{0}, stored{0}, refused{0}, duplicate_batches{0}, handed_off{0}, adopted{0},
      sent_home{0}, window_events_dropped{0};
  uint64_t max_pending = 0;
  // Batches each partition on this node holds (-1: not known yet), published by the
  // partition after every change; the service sums those it does not own.
  std::unique_ptr<std::atomic<int64_t>[]> held;
  std::atomic<int64_t> unowned{0};
  std::atomic<uint64_t> ticks{0}; // service ticks so far (unowned is fresh after one)
  std::atomic<int64_t> heirs{0};  // other members of this node's region that are up
  // Batches each partition on this node holds for another region (history_store::away()),
  // by home region, published by the partition after every change that may touch them.
  std::mutex away_mutex;
  std::map<uint32_t, std::map<std::string, uint64_t>> away;
  std::atomic<int64_t> held_away{0}; // their total
  // The partitions (detached, each with its store open): stopping waits for them.
  detached_children partitions;
  // Where a partition whose store fails to write says so (the node's /readyz).
  std::shared_ptr<readiness> health;
};

namespace detail {

using linger_atom = caf::atom_constant<caf::atom("sv_alinger")>;
using resend_atom = caf::atom_constant<caf::atom("sv_aresend")>;
using flush_atom = caf::atom_constant<caf::atom("sv_aflush")>;
using tick_atom = caf::atom_constant<caf::atom("sv_atick")>;
using route_atom = caf::atom_constant<caf::atom("sv_aroute")>;
// `(away_atom, home)` to a partition: a page of the batches it holds for region `home`.
using away_atom = caf::atom_constant<caf::atom("sv_aaway")>;

// The interface plus what the service is sent on its own node: batches from the batcher
// (the message `(partition_atom, p, event_block)` travels whole, never copied) and ticks.
using analytics_private =
    analytics_actor::extend<caf::replies_to<route_atom, uint32_t, caf::message>::with<ack_msg>,
                            caf::reacts_to<tick_atom>>;

// A handoff page carries at most this many batches and stops after this many bytes.
inline constexpr size_t handoff_batches = 256;
inline constexpr size_t handoff_bytes = size_t{1} << 20;

inline constexpr auto service_name = caf::atom("sv_analyt");

using sv::clock::wall_ms;

using sv::clock::steady_ms;

/// The partition of `content`'s events.
inline uint32_t partition_of(const config::analytics_node_settings& cfg,
                             const std::string& content) {
  return static_cast<uint32_t>(cluster::stable_hash(content) % cfg.partitions);
}

/// Spawns partition `p` (its store at `path`), detached and linked to `service`.
caf::actor spawn_partition(caf::local_actor* service, uint32_t p, std::string path,
                           config::analytics_node_settings cfg,
                           std::shared_ptr<analytics_shared> shared, flow::flow_context* flow,
                           metrics::histogram* freshness);

/// Spawns the node's analytics service.
analytics_actor spawn_service(caf::actor_system& sys, std::string node_name,
                              config::analytics_node_settings cfg,
                              std::shared_ptr<analytics_shared> shared, caf::actor endpoint,
                              std::function<std::vector<cluster::member>()> members,
                              flow::flow_context* flow, std::string data_dir,
                              metrics::histogram* freshness);

/// Spawns the node's batcher (detached, at a lower OS priority), sending to `service`.
caf::actor spawn_batcher(caf::actor_system& sys, std::string producer_id,
                         config::analytics_node_settings cfg,
                         std::shared_ptr<analytics_shared> shared, flow::flow_context* flow,
                         metrics::histogram* ack_latency, caf::actor service);

} // namespace detail

} // namespace sv::analytics
