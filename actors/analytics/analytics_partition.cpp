// The analytics partition actor: one partition's history store (exactly once by producer
// and sequence) and its real-time windows, on the node that owns the partition.

#include "actors/analytics/analytics_actors.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <vector>

#include <spdlog/spdlog.h>

#include "actors/analytics/handoff.hpp"
#include "actors/analytics/history_store.hpp"
#include "actors/analytics/realtime.hpp"
#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/local_actor.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"
#include "caf/typed_response_promise.hpp"
#include "runtime/flow/flow_context.hpp"
#include "runtime/metrics/registry.hpp"
#include "runtime/node/background.hpp"
#include "runtime/wire/errc.hpp"
#include "runtime/wire/protobuf.hpp"
#include "runtime/wire/undecodable.hpp"

namespace sv::analytics::detail {

namespace {

// Partitions run detached (a thread each, not a scheduler worker, so storing a batch never
// holds up the actors that serve playback) and at a lower OS priority: when the cores are
// busy, the scheduler's workers, which run the critical work, go first. Their handles never
// leave the node (remote requests go through the service): a remote reference that CAF
// 0.17's BASP fails to release on shutdown would keep a detached actor's thread, and with
// it the actor system's destructor, waiting forever.

window_msg to_msg(const window_stats& w, uint32_t rate) {
  window_msg m;
  m.set_concurrent_viewers(w.concurrent_viewers);
  m.set_events(w.events);
  m.set_starts(w.starts);
  m.set_startup_p50_ms(w.startup_p50_ms);
  m.set_startup_p95_ms(w.startup_p95_ms);
  m.set_rebuffer_ratio(w.rebuffer_ratio);
  m.set_error_rate(w.error_rate);
  for (auto x : w.bitrate_mix) {
    m.add_bitrate_mix(x);
  }
  m.set_sample_rate(rate);
  return m;
}

struct partition_state {
  std::unique_ptr<history_store> history;
  event_limits limits;
  realtime live;
  config::analytics_node_settings cfg;
  std::shared_ptr<analytics_shared> shared;
  flow::flow_context* flow = nullptr;
  metrics::histogram* freshness = nullptr;
  uint64_t ticks = 0;
  uint32_t index = 0;
  bool has_away = false; // holds batches for another region (as last published)

  uint32_t sample_rate() const {
    return flow != nullptr && static_cast<int>(flow->current_level()) >= 2 ? cfg.sample_rate : 1;
  }

  static inline const char* name = "sv.analytics.partition";
};

using partition_actor = caf::stateful_actor<partition_state>;

// Publishes what the partition holds for other regions (after a change that may touch it).
void publish_away(partition_actor* self) {
  auto& st = self->state;
  auto away = st.history->away();
  st.has_away = !away.empty();
  auto& shared = *st.shared;
  std::lock_guard<std::mutex> guard{shared.away_mutex};
  if (away.empty()) {
    shared.away.erase(st.index);
  } else {
    shared.away[st.index] = std::move(away);
  }
  int64_t total = 0;
  for (auto& [p, homes] : shared.away) {
    for (auto& [home, n] : homes) {
      total += static_cast<int64_t>(n);
    }
  }
  shared.held_away = total;
}

history_msg to_history(const std::vector<rollup_row>& rows, const std::string& content) {
  history_msg out;
  out.set_content_id(content);
  for (auto& r : rows) {
    auto& m = *out.add_minutes();
    m.set_minute_ms(r.minute_ms);
    m.set_region(r.region);
    m.set_views(r.views);
    m.set_watch_ms(r.watch_ms);
    m.set_rebuffer_ms(r.rebuffer_ms);
    m.set_errors(r.errors);
    m.set_events(r.events);
    for (auto n : r.startup) {
      m.add_startup_hist(n);
    }
  }
  return out;
}

// Stores block `b` (the partition's history, then its real-time windows); the answer
// once it is durable.
caf::result<ack_msg> store_block(partition_actor* self, const event_block& b) {
  auto& st = self->state;
  auto now = wall_ms();
  if (!well_formed(b)) {
    return make_error(errc::invalid_argument,
                      "analytics: malformed event block from " + b.producer_id());
  }
  auto r = st.history->append(b, now);
  auto service = [&] {
    return "analytics partition " + std::to_string(st.index);
  };
  if (!r) {
    // Not stored, not acknowledged: the batcher keeps the block and sends it again.
    if (st.shared->health) {
      st.shared->health->mark_unready(service(), st.history->error());
    }
    return make_error(errc::unavailable, "analytics history: " + st.history->error());
  }
  if (st.shared->health && st.shared->health->any_unready()) {
    st.shared->health->mark_ready(service());
  }
  ack_msg ack;
  ack.set_producer_id(b.producer_id());
  ack.set_sequence(b.sequence());
  ack.set_duplicate(r->duplicate);
  ack.set_stored(r->stored);
  ack.set_refused(r->refused);
  if (r->duplicate) {
    ++st.shared->duplicate_batches;
    return ack;
  }
  st.shared->stored += r->stored;
  st.shared->refused += r->refused;
  ++st.shared->held[st.index];
  if (!b.home_region().empty()) {
    publish_away(self);
  }
  auto dropped_before = st.live.dropped_events();
  st.live.add_block(b, st.sample_rate(), now, r->refused_at);
  st.shared->window_events_dropped += st.live.dropped_events() - dropped_before;
  // Freshness of the real-time path: a sample per block (its newest event).
  int64_t newest = 0;
  for (auto t : b.timestamp_ms()) {
    newest = std::max(newest, t);
  }
  if (newest > 0) {
    st.freshness->observe(static_cast<double>(std::max<int64_t>(0, now - newest)) / 1000.0);
  }
  return ack;
}

caf::behavior partition_behavior(partition_actor* self, uint32_t index, std::string path,
                                 config::analytics_node_settings cfg,
                                 std::shared_ptr<analytics_shared> shared, flow::flow_context* flow,
                                 metrics::histogram* freshness) {
  lower_this_threads_priority(true); // SQLite and the windows: only on an idle core
  wire::answer_undecodable(self, "analytics partition"); // never renders what it does not know
  auto& st = self->state;
  history_settings hs;
  hs.limits.max_skew_ms = cfg.max_skew_ms;
  hs.retention_ms = static_cast<int64_t>(cfg.retention_hours) * 3'600'000;
  st.history = std::make_unique<history_store>(path, hs);
  shared->held[index] = static_cast<int64_t>(st.history->batch_count());
  if (!st.history->error().empty()) {
    spdlog::error("analytics: partition {}: {}", index, st.history->error());
  }
  st.limits = hs.limits;
  st.cfg = cfg;
  st.live.set_max_series(cfg.max_windows);
  st.index = index;
  st.shared = std::move(shared);
  st.flow = flow;
  st.freshness = freshness;
  publish_away(self);
  self->delayed_send(self, std::chrono::seconds{1}, tick_atom::value);
  return {
      [self](partition_atom, uint32_t, const event_block& b) -> caf::result<ack_msg> {
        return store_block(self, b);
      },
      [self](const event_block& b) -> caf::result<ack_msg> { return store_block(self, b); },
      [self](const query_msg& q) {
        auto& st = self->state;
        auto w = st.live.query(q.content_id(), q.region(), std::chrono::seconds{q.window_s()},
                               wall_ms());
        return to_msg(w, st.sample_rate());
      },
      [self](const history_query_msg& q) {
        auto& st = *self->state.history;
        st.flush_rollups(); // what came in the last second too
        return to_history(st.rollups(q.content_id(), q.from_ms(), q.to_ms()), q.content_id());
      },
      // Handing the batches held for region `home` to its partition owner.
      [self](away_atom, const std::string& home) {
        handoff_page page;
        page.set_partition(self->state.index);
        for (auto& [id, b] :
             self->state.history->batches_of_home(home, handoff_batches, handoff_bytes)) {
          page.set_up_to(id);
          *page.add_blocks() = std::move(b);
        }
        return page;
      },
      [self](release_atom, const std::string& home, int64_t up_to) -> caf::result<uint64_t> {
        auto& st = self->state;
        auto n = st.history->release_home(home, up_to);
        if (!n) {
          return make_error(errc::unavailable, "analytics history: " + st.history->error());
        }
        st.shared->held[st.index] -= static_cast<int64_t>(*n);
        st.shared->sent_home += *n;
        publish_away(self);
        return static_cast<uint64_t>(*n);
      },
      // Handing this partition's history to its owner (this node does not own it).
      [self](handoff_atom) {
        handoff_page page;
        for (auto& [id, b] :
             self->state.history->batches_after(0, handoff_batches, handoff_bytes)) {
          page.set_up_to(id);
          *page.add_blocks() = std::move(b);
        }
        return page;
      },
      [self](release_atom, int64_t up_to) -> caf::result<uint64_t> {
        auto& st = self->state;
        auto n = st.history->release(up_to);
        if (!n) {
          return make_error(errc::unavailable, "analytics history: " + st.history->error());
        }
        st.shared->held[st.index] -= static_cast<int64_t>(*n);
        st.shared->handed_off += *n;
        if (st.has_away) {
          publish_away(self);
        }
        return static_cast<uint64_t>(*n);
      },
      // The owner taking over batches another node stored.
      [self](adopt_atom, const handoff_page& page) -> caf::result<uint64_t> {
        auto& st = self->state;
        std::vector<event_block> batches{page.blocks().begin(), page.blocks().end()};
        for (auto& old : page.batches()) { // from a node before issue #14
          batches.push_back(to_block(old));
        }
        auto n = st.history->adopt(batches, wall_ms());
        if (!n) {
          return make_error(errc::unavailable, "analytics history: " + st.history->error());
        }
        st.shared->held[st.index] += static_cast<int64_t>(*n);
        st.shared->adopted += *n;
        auto away = std::any_of(batches.begin(), batches.end(),
                                [](const event_block& b) { return !b.home_region().empty(); });
        if (away || st.has_away) {
          publish_away(self);
        }
        return static_cast<uint64_t>(*n);
      },
      [self](tick_atom) {
        auto& st = self->state;
        st.history->flush_rollups();
        if (++st.ticks % 600 == 0) {
          st.history->purge(wall_ms());
          st.shared->held[st.index] = static_cast<int64_t>(st.history->batch_count());
          if (st.has_away) {
            publish_away(self);
          }
        }
        self->delayed_send(self, std::chrono::seconds{1}, tick_atom::value);
      },
  };
}

} // namespace

caf::actor spawn_partition(caf::local_actor* service, uint32_t p, std::string path,
                           config::analytics_node_settings cfg,
                           std::shared_ptr<analytics_shared> shared, flow::flow_context* flow,
                           metrics::histogram* freshness) {
  auto* children = &shared->partitions;
  auto a = service->spawn<caf::linked + caf::detached>(partition_behavior, p, std::move(path), cfg,
                                                       std::move(shared), flow, freshness);
  children->add(a);
  return a;
}

} // namespace sv::analytics::detail
