// The analytics host API of a node (emit, queries, drain) and its metrics; the actors are
// in analytics_partition.cpp, analytics_batcher.cpp and analytics_service.cpp.

#include "actors/analytics/analytics.hpp"
#include "actors/analytics/analytics_actors.hpp"
#include "actors/analytics/analytics_settings.hpp"

#include <algorithm>
#include <filesystem>
#include <future>
#include <map>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "actors/analytics/analytics.pb.h"
#include "actors/analytics/handoff.hpp"
#include "actors/analytics/history_store.hpp"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"
#include "caf/typed_response_promise.hpp"
#include "runtime/cluster/client.hpp"
#include "runtime/cluster/endpoint.hpp"
#include "runtime/cluster/membership.hpp"
#include "runtime/cluster/owner_router.hpp"
#include "runtime/cluster/placement.hpp"
#include "runtime/flow/flow_context.hpp"
#include "runtime/metrics/registry.hpp"
#include "runtime/node/ask.hpp"
#include "runtime/node/background.hpp"
#include "runtime/node/node.hpp"
#include "runtime/node/stop.hpp"
#include "runtime/util/clock.hpp"
#include "runtime/wire/errc.hpp"
#include "runtime/wire/protobuf.hpp"

namespace sv::analytics {

using namespace detail;

void register_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<viewer_event>(viewer_event::descriptor()->full_name());
  cfg.add_message_type<std::vector<viewer_event>>("std::vector<streamverse.v1.ViewerEvent>");
  cfg.add_message_type<event_batch>(event_batch::descriptor()->full_name());
  cfg.add_message_type<event_block>(event_block::descriptor()->full_name());
  cfg.add_message_type<ack_msg>(ack_msg::descriptor()->full_name());
  cfg.add_message_type<query_msg>(query_msg::descriptor()->full_name());
  cfg.add_message_type<window_msg>(window_msg::descriptor()->full_name());
  cfg.add_message_type<handoff_page>(handoff_page::descriptor()->full_name());
  cfg.add_message_type<history_query_msg>(history_query_msg::descriptor()->full_name());
  cfg.add_message_type<history_msg>(history_msg::descriptor()->full_name());
}

analytics::analytics(node& n)
    : sys_(n.system()), regions_([np = &n] { return cluster::up_regions(np->members()); }),
      shared_(std::make_shared<analytics_shared>()) {
  shared_->health = n.service_readiness();
  auto& cfg = n.settings().section<config::analytics_node_settings>();
  shared_->max_pending = cfg.max_pending;
  shared_->held = std::make_unique<std::atomic<int64_t>[]>(cfg.partitions);
  for (uint32_t p = 0; p < cfg.partitions; ++p) {
    shared_->held[p] = -1;
  }
  auto& reg = n.metrics();
  auto* freshness = &reg.histogram_metric("sv_analytics_freshness_seconds",
                                          "From an event's timestamp to its real-time window",
                                          metrics::latency_buckets());
  auto* ack = &reg.histogram_metric("sv_analytics_ack_seconds",
                                    "From a batch's first send to its acknowledgement",
                                    metrics::latency_buckets());
  auto s = shared_;
  auto counter = [&reg, s](const char* name, const char* help,
                           std::atomic<uint64_t> analytics_shared::*field) {
    reg.counter_callback(name, help,
                         [s, field] { return static_cast<double>((*s.*field).load()); });
  };
  counter("sv_analytics_emitted_total", "Events accepted by emit()", &analytics_shared::emitted);
  counter("sv_analytics_overloaded_total", "Events refused by emit(): too many unacknowledged",
          &analytics_shared::overloaded);
  counter("sv_analytics_batches_total", "Batches sent to partitions",
          &analytics_shared::batches_sent);
  counter("sv_analytics_resends_total", "Batches sent again", &analytics_shared::resends);
  counter("sv_analytics_stored_total", "Events stored by this node's partitions",
          &analytics_shared::stored);
  counter("sv_analytics_refused_total", "Bad events refused by this node's partitions",
          &analytics_shared::refused);
  counter("sv_analytics_window_events_dropped_total",
          "Events stored but not counted in the real-time windows: their partition had "
          "analytics.max_windows (title, region) windows with events in the last minute",
          &analytics_shared::window_events_dropped);
  counter("sv_analytics_duplicate_batches_total", "Resent batches stored before",
          &analytics_shared::duplicate_batches);
  counter("sv_analytics_handed_off_total",
          "Batches of partitions this node does not own, handed to their owner",
          &analytics_shared::handed_off);
  counter("sv_analytics_sent_home_total",
          "Batches held for another region (its nodes out of a producer's reach), handed to "
          "their partition's owner there",
          &analytics_shared::sent_home);
  counter("sv_analytics_adopted_total", "Batches taken over from other nodes (new to this node)",
          &analytics_shared::adopted);
  reg.gauge_callback("sv_analytics_pending", "Events accepted, not yet acknowledged",
                     [s] { return static_cast<double>(s->pending.load()); });
  reg.gauge_callback("sv_analytics_held_away_batches",
                     "Batches this node holds for another region (sent home once it has a node up)",
                     [s] { return static_cast<double>(s->held_away.load()); });
  reg.gauge_callback("sv_analytics_unowned_batches",
                     "Batches this node holds of partitions another node owns, or for another "
                     "region that has a node up (not handed over yet; a file not known to be "
                     "empty counts 1)",
                     [s] { return static_cast<double>(s->unowned.load()); });
  auto* np = &n;
  auto producer = n.settings().name + "#" + std::to_string(wall_ms());
  service_ = spawn_service(sys_, n.settings().name, cfg, shared_, n.cluster_endpoint(),
                           std::function<std::vector<cluster::member>()>{[np] {
                             return np->members();
                           }},
                           &n.flow(), n.settings().data_dir, freshness);
  batcher_ = spawn_batcher(sys_, producer, cfg, shared_, &n.flow(), ack,
                           caf::actor_cast<caf::actor>(service_));
  cluster::register_service(sys_, service_name, caf::actor_cast<caf::actor>(service_));
}

analytics::~analytics() {
  sys_.registry().erase(service_name);
  // The batcher first (a detached actor must end before its actor system), then the
  // service and its partitions (their stores closed when this returns).
  stop_and_wait(sys_, batcher_);
  stop_and_wait(sys_, service_, &shared_->partitions);
}

caf::expected<void> analytics::emit(viewer_event e) {
  if (shared_->pending.load(std::memory_order_relaxed) >= shared_->max_pending) {
    ++shared_->overloaded;
    return make_error(errc::overloaded, "analytics: " + std::to_string(shared_->max_pending)
                                            + " events await acknowledgement");
  }
  ++shared_->pending;
  ++shared_->emitted;
  caf::anon_send(batcher_, std::move(e));
  return caf::unit;
}

caf::expected<void> analytics::emit_block(session::session_event_block&& block) {
  auto n = static_cast<uint64_t>(block.events.size());
  if (shared_->pending.load(std::memory_order_relaxed) + n > shared_->max_pending) {
    shared_->overloaded += n; // bulk work shed under load, counted
    return make_error(errc::overloaded, "analytics: " + std::to_string(shared_->max_pending)
                                            + " events await acknowledgement");
  }
  shared_->pending += n;
  shared_->emitted += n;
  caf::anon_send(batcher_, std::move(block));
  return caf::unit;
}

std::function<void(session::session_event_block&&)> analytics::session_events() {
  // A refusal is counted there; the session request itself is not affected.
  return [this](session::session_event_block&& block) {
    (void)emit_block(std::move(block));
  };
}

caf::expected<void> analytics::emit_many(std::vector<viewer_event> es) {
  auto n = static_cast<uint64_t>(es.size());
  if (shared_->pending.load(std::memory_order_relaxed) + n > shared_->max_pending) {
    shared_->overloaded += n;
    return make_error(errc::overloaded, "analytics: " + std::to_string(shared_->max_pending)
                                            + " events await acknowledgement");
  }
  shared_->pending += n;
  shared_->emitted += n;
  caf::anon_send(batcher_, std::move(es));
  return caf::unit;
}

namespace {

query_msg make_query(const std::string& content, const std::string& region,
                     std::chrono::seconds w) {
  query_msg q;
  q.set_content_id(content);
  q.set_region(region);
  q.set_window_s(static_cast<uint32_t>(w.count()));
  return q;
}

caf::expected<window_stats> from_msg(caf::expected<window_msg> r) {
  if (!r) {
    return r.error();
  }
  window_stats out;
  out.concurrent_viewers = r->concurrent_viewers();
  out.events = r->events();
  out.starts = r->starts();
  out.startup_p50_ms = r->startup_p50_ms();
  out.startup_p95_ms = r->startup_p95_ms();
  out.rebuffer_ratio = r->rebuffer_ratio();
  out.error_rate = r->error_rate();
  for (int i = 0; i < r->bitrate_mix_size() && i < static_cast<int>(out.bitrate_mix.size()); ++i) {
    out.bitrate_mix[static_cast<size_t>(i)] = r->bitrate_mix(i);
  }
  return out;
}

history_query_msg make_history_query(const std::string& content, const std::string& region,
                                     int64_t from_ms, int64_t to_ms) {
  history_query_msg q;
  q.set_content_id(content);
  q.set_region(region);
  q.set_from_ms(from_ms);
  q.set_to_ms(to_ms);
  return q;
}

caf::expected<history_result> from_msg(caf::expected<history_msg> r) {
  if (!r) {
    return r.error();
  }
  history_result out;
  for (auto& m : r->minutes()) {
    history_minute h;
    h.minute_ms = m.minute_ms();
    h.region = m.region();
    h.views = m.views();
    h.watch_ms = m.watch_ms();
    h.rebuffer_ms = m.rebuffer_ms();
    h.errors = m.errors();
    h.events = m.events();
    startup_histogram hist{};
    for (int i = 0; i < m.startup_hist_size() && i < static_cast<int>(hist.size()); ++i) {
      hist[static_cast<size_t>(i)] = m.startup_hist(i);
    }
    h.startup_p50_ms = startup_quantile(hist, 0.5);
    h.startup_p95_ms = startup_quantile(hist, 0.95);
    out.minutes.push_back(std::move(h));
  }
  for (auto& s : r->sources()) {
    out.sources.push_back({s.region(), s.node(), s.error()});
  }
  return out;
}

} // namespace

caf::expected<analytics_actor> connect_service(caf::actor_system& sys, const std::string& host,
                                               uint16_t port, std::chrono::milliseconds timeout) {
  return cluster::lookup_service_as<analytics_actor>(sys, host, port, service_name, timeout);
}

caf::message ingest_request(event_batch b) {
  return caf::make_message(ingest_atom::value, std::move(b));
}

caf::expected<window_stats> remote_window(caf::actor_system& sys, const std::string& host,
                                          uint16_t port, const std::string& content,
                                          const std::string& region, std::chrono::seconds w,
                                          std::chrono::milliseconds timeout) {
  auto svc = connect_service(sys, host, port, timeout);
  if (!svc) {
    return svc.error();
  }
  return from_msg(sv::ask<window_msg>(sys, *svc, timeout, make_query(content, region, w)));
}

caf::expected<history_result> remote_history(caf::actor_system& sys, const std::string& host,
                                             uint16_t port, const std::string& content,
                                             const std::string& region, int64_t from_ms,
                                             int64_t to_ms, std::chrono::milliseconds timeout) {
  auto svc = connect_service(sys, host, port, timeout);
  if (!svc) {
    return svc.error();
  }
  return from_msg(sv::ask<history_msg>(sys, *svc, timeout,
                                       make_history_query(content, region, from_ms, to_ms)));
}

caf::expected<history_result> analytics::history(const std::string& content,
                                                 const std::string& region, int64_t from_ms,
                                                 int64_t to_ms) {
  return from_msg(sv::ask<history_msg>(sys_, service_, std::chrono::seconds{10},
                                       make_history_query(content, region, from_ms, to_ms)));
}

caf::expected<window_stats> analytics::window(const std::string& content, const std::string& region,
                                              std::chrono::seconds w) {
  return from_msg(
      sv::ask<window_msg>(sys_, service_, std::chrono::seconds{5}, make_query(content, region, w)));
}

std::map<std::string, caf::expected<window_stats>> analytics::windows(const std::string& content,
                                                                      std::chrono::seconds w) {
  std::vector<std::pair<std::string, std::future<caf::expected<window_stats>>>> asked;
  for (auto& r : regions_()) {
    asked.emplace_back(
        r, std::async(std::launch::async, [this, content, r, w] { return window(content, r, w); }));
  }
  std::map<std::string, caf::expected<window_stats>> out;
  for (auto& [r, f] : asked) {
    out.emplace(r, f.get());
  }
  return out;
}

bool analytics::drain(std::chrono::milliseconds timeout) {
  caf::anon_send(batcher_, flush_atom::value);
  auto end = std::chrono::steady_clock::now() + timeout;
  while (shared_->pending.load() != 0 && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  }
  return shared_->pending.load() == 0;
}

bool analytics::hand_over(std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  drain(timeout);
  // Two service ticks after the leave: the count of batches held for other owners is then
  // computed from a view that knows this node is leaving.
  auto seen = shared_->ticks.load();
  auto fresh = [&] {
    return shared_->ticks.load() >= seen + 2;
  };
  // Done when nothing is left, or when no other node of the region is up to take it (all
  // leaving at once: what is left stays in the files until a node starts on them again).
  auto over = [&] {
    return fresh() && (shared_->unowned.load() == 0 || shared_->heirs.load() == 0);
  };
  while (!over() && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
  return fresh() && shared_->unowned.load() == 0;
}

analytics_stats analytics::stats() {
  auto& s = *shared_;
  return {s.emitted, s.overloaded, s.batches_sent,      s.resends,    s.acked_events, s.pending,
          s.stored,  s.refused,    s.duplicate_batches, s.handed_off, s.adopted,      s.sent_home};
}

} // namespace sv::analytics
