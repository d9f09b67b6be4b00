// The node's analytics batcher: events from emit() and the session hosts into one open
// block per partition, sent when full or after the linger (both grow with the degrader
// level), kept until acknowledged and resent.

#include "actors/analytics/analytics_actors.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <vector>

#include <spdlog/spdlog.h>

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

// The node's batcher: a detached actor of its own at a lower OS priority (see
// lower_this_threads_priority), known only on this node; batches go to their partition
// through the service.
struct batcher_state {
  std::string producer_id;
  config::analytics_node_settings cfg;
  std::shared_ptr<analytics_shared> shared;
  flow::flow_context* flow = nullptr;
  metrics::histogram* ack_latency = nullptr;
  caf::actor service;
  // Open blocks per partition and when their first event came.
  std::map<uint32_t, block_builder> open;
  std::map<uint32_t, int64_t> opened_at;
  bool linger_scheduled = false;
  uint64_t next_sequence = 1;
  struct unacked {
    caf::message batch; // holds one event_batch
    uint32_t partition = 0;
    uint64_t events = 0;
    int64_t sent_ms = 0;
    int64_t first_sent_ms = 0;
  };
  std::map<uint64_t, unacked> inflight;

  int level() const {
    return flow != nullptr ? static_cast<int>(flow->current_level()) : 0;
  }
  size_t max_batch() const {
    return static_cast<size_t>(cfg.max_batch) << std::min(level(), 4);
  }
  int64_t linger_ms() const {
    return static_cast<int64_t>(cfg.linger_ms) << std::min(level(), 4);
  }

  static inline const char* name = "sv.analytics.batcher";
};

using batcher_actor = caf::stateful_actor<batcher_state>;

void deliver(batcher_actor* self, uint64_t seq) {
  auto& st = self->state;
  auto i = st.inflight.find(seq);
  if (i == st.inflight.end()) {
    return;
  }
  auto& u = i->second;
  u.sent_ms = steady_ms();
  // The batch message itself travels (shared with `inflight`, not copied).
  self->request(st.service, caf::duration{std::chrono::milliseconds{st.cfg.resend_ms}},
                route_atom::value, u.partition, u.batch)
      .then(
          [self, seq](const ack_msg&) {
            auto& st = self->state;
            auto j = st.inflight.find(seq);
            if (j == st.inflight.end()) {
              return; // acknowledged before (a resend crossed the first answer)
            }
            st.ack_latency->observe(static_cast<double>(steady_ms() - j->second.first_sent_ms)
                                    / 1000.0);
            st.shared->acked_events += j->second.events;
            st.shared->pending -= j->second.events;
            st.inflight.erase(j);
          },
          [](caf::error&) {
            // Kept in `inflight`: the resend tick sends it again.
          });
}

void send_batch(batcher_actor* self, uint32_t p) {
  auto& st = self->state;
  auto i = st.open.find(p);
  if (i == st.open.end() || i->second.empty()) {
    return;
  }
  auto seq = st.next_sequence++;
  auto b = i->second.take();
  b.set_producer_id(st.producer_id);
  b.set_sequence(seq);
  b.set_partition(p);
  auto& u = st.inflight[seq];
  u.partition = p;
  u.events = static_cast<uint64_t>(event_count(b));
  u.batch = caf::make_message(partition_atom::value, p, std::move(b));
  u.first_sent_ms = steady_ms();
  st.open.erase(i);
  st.opened_at.erase(p);
  ++st.shared->batches_sent;
  deliver(self, seq);
}

void schedule_linger(batcher_actor* self) {
  auto& st = self->state;
  if (!st.linger_scheduled && !st.open.empty()) {
    st.linger_scheduled = true;
    self->delayed_send(self, std::chrono::milliseconds{std::max<int64_t>(1, st.linger_ms())},
                       linger_atom::value);
  }
}

// The builder of partition `p`'s open block (its linger starts with its first event).
block_builder& open_block(batcher_actor* self, uint32_t p) {
  auto& st = self->state;
  auto& b = st.open[p];
  if (b.empty()) {
    st.opened_at[p] = steady_ms();
  }
  return b;
}

void added(batcher_actor* self, uint32_t p, block_builder& b) {
  if (static_cast<size_t>(b.size()) >= self->state.max_batch()) {
    send_batch(self, p);
  } else {
    schedule_linger(self);
  }
}

void add_event(batcher_actor* self, const viewer_event& e) {
  auto p = partition_of(self->state.cfg, e.content_id());
  auto& b = open_block(self, p);
  b.add(e);
  added(self, p, b);
}

// A session host's block: each event into its partition's block, its strings copied once
// per block there.
void add_host_events(batcher_actor* self, const session::session_event_block& block) {
  auto& st = self->state;
  for (auto& s : block.events) {
    event_fields f;
    f.source = block.source;
    f.seq = s.seq;
    f.session_number = s.session_id;
    switch (s.kind) {
    case session::session_event::opened:
      f.type = streamverse::v1::EVENT_START;
      break;
    case session::session_event::heartbeat:
      f.type = streamverse::v1::EVENT_HEARTBEAT;
      break;
    case session::session_event::quality_change:
      f.type = streamverse::v1::EVENT_QUALITY_CHANGE;
      break;
    case session::session_event::closed:
      f.type = streamverse::v1::EVENT_STOP;
      break;
    }
    f.user = block.text.get(s.user);
    f.content = block.text.get(s.content);
    f.region = block.text.get(s.region);
    f.device = block.text.get(s.device);
    f.timestamp_ms = s.at_ms;
    f.bitrate_kbps = s.bitrate_kbps;
    f.buffer_ms = s.buffer_ms;
    f.watched_ms = s.watched_ms;
    f.position_ms = s.position_ms;
    auto p = static_cast<uint32_t>(cluster::stable_hash(f.content) % st.cfg.partitions);
    auto& b = open_block(self, p);
    b.add(f, true);
    added(self, p, b);
  }
}

caf::behavior batcher_behavior(batcher_actor* self, std::string producer_id,
                               config::analytics_node_settings cfg,
                               std::shared_ptr<analytics_shared> shared, flow::flow_context* flow,
                               metrics::histogram* ack_latency, caf::actor service) {
  lower_this_threads_priority(true);                   // bulk work: only on an idle core
  wire::answer_undecodable(self, "analytics batcher"); // never renders what it does not know
  auto& st = self->state;
  st.producer_id = std::move(producer_id);
  st.cfg = cfg;
  st.shared = std::move(shared);
  st.flow = flow;
  st.ack_latency = ack_latency;
  st.service = std::move(service);
  self->delayed_send(self, std::chrono::milliseconds{cfg.resend_ms}, resend_atom::value);
  return {
      // From emit() on this node.
      [self](const viewer_event& e) { add_event(self, e); },
      // From emit_many() on this node.
      [self](const std::vector<viewer_event>& es) {
        for (auto& e : es) {
          add_event(self, e);
        }
      },
      // From the session hosts on this node (session_events()).
      [self](const session::session_event_block& b) { add_host_events(self, b); },
      [self](linger_atom) {
        auto& st = self->state;
        st.linger_scheduled = false;
        auto now = steady_ms();
        std::vector<uint32_t> due;
        for (auto& [p, at] : st.opened_at) {
          if (now - at >= st.linger_ms()) {
            due.push_back(p);
          }
        }
        for (auto p : due) {
          send_batch(self, p);
        }
        schedule_linger(self);
      },
      [self](flush_atom) {
        std::vector<uint32_t> all;
        for (auto& [p, builder] : self->state.open) {
          all.push_back(p);
        }
        for (auto p : all) {
          send_batch(self, p);
        }
      },
      [self](resend_atom) {
        auto& st = self->state;
        auto now = steady_ms();
        std::vector<uint64_t> due;
        for (auto& [seq, u] : st.inflight) {
          if (now - u.sent_ms >= st.cfg.resend_ms) {
            due.push_back(seq);
          }
        }
        for (auto seq : due) {
          ++st.shared->resends;
          deliver(self, seq);
        }
        self->delayed_send(self,
                           std::chrono::milliseconds{std::max<uint32_t>(10, st.cfg.resend_ms / 2)},
                           resend_atom::value);
      },
  };
}

} // namespace

caf::actor spawn_batcher(caf::actor_system& sys, std::string producer_id,
                         config::analytics_node_settings cfg,
                         std::shared_ptr<analytics_shared> shared, flow::flow_context* flow,
                         metrics::histogram* ack_latency, caf::actor service) {
  return sys.spawn<caf::detached>(batcher_behavior, std::move(producer_id), cfg, std::move(shared),
                                  flow, ack_latency, std::move(service));
}

} // namespace sv::analytics::detail
