#include "actors/analytics/analytics.hpp"
#include "actors/analytics/analytics_settings.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
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
#include "runtime/util/clock.hpp"
#include "runtime/wire/errc.hpp"
#include "runtime/wire/protobuf.hpp"

namespace sv::analytics {

// Counters shared by the host API, the batcher and the partitions of one node.
struct analytics_shared {
  std::atomic<uint64_t> emitted{0}, overloaded{0}, batches_sent{0}, resends{0}, acked_events{0},
      pending{0}, stored{0}, refused{0}, duplicate_batches{0}, handed_off{0}, adopted{0};
  uint64_t max_pending = 0;
  // Batches each partition on this node holds (-1: not known yet), published by the
  // partition after every change; the service sums those it does not own.
  std::unique_ptr<std::atomic<int64_t>[]> held;
  std::atomic<int64_t> unowned{0};
};

namespace {

using ack_msg = streamverse::v1::BatchAck;
using query_msg = streamverse::v1::AnalyticsQuery;
using window_msg = streamverse::v1::AnalyticsWindow;
using handoff_page = streamverse::v1::HandoffPage;

using partition_atom = caf::atom_constant<caf::atom("sv_apart")>;
using linger_atom = caf::atom_constant<caf::atom("sv_alinger")>;
using resend_atom = caf::atom_constant<caf::atom("sv_aresend")>;
using flush_atom = caf::atom_constant<caf::atom("sv_aflush")>;
using tick_atom = caf::atom_constant<caf::atom("sv_atick")>;
using route_atom = caf::atom_constant<caf::atom("sv_aroute")>;
using handoff_atom = caf::atom_constant<caf::atom("sv_ahand")>;
using adopt_atom = caf::atom_constant<caf::atom("sv_aadopt")>;
using release_atom = caf::atom_constant<caf::atom("sv_arel")>;
using ingest_atom = caf::atom_constant<caf::atom("sv_aingest")>;

// A handoff page carries at most this many batches and stops after this many bytes.
constexpr size_t handoff_batches = 256;
constexpr size_t handoff_bytes = size_t{1} << 20;

constexpr auto service_name = caf::atom("sv_analyt");

using sv::clock::wall_ms;

using sv::clock::steady_ms;

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

// -- analytics_partition ---------------------------------------------------------------

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

  uint32_t sample_rate() const {
    return flow != nullptr && static_cast<int>(flow->current_level()) >= 2 ? cfg.sample_rate : 1;
  }

  static inline const char* name = "sv.analytics.partition";
};

using partition_actor = caf::stateful_actor<partition_state>;

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
  if (!r) {
    return make_error(errc::unavailable, "analytics history: " + st.history->error());
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
  st.live.add_block(b, st.sample_rate(), now, r->refused_at);
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
  st.index = index;
  st.shared = std::move(shared);
  st.flow = flow;
  st.freshness = freshness;
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
        return static_cast<uint64_t>(*n);
      },
      [self](tick_atom) {
        auto& st = self->state;
        st.history->flush_rollups();
        if (++st.ticks % 600 == 0) {
          st.history->purge(wall_ms());
          st.shared->held[st.index] = static_cast<int64_t>(st.history->batch_count());
        }
        self->delayed_send(self, std::chrono::seconds{1}, tick_atom::value);
      },
  };
}

// -- the node's analytics service: batcher and host of its partitions -------------------

struct service_state {
  config::analytics_node_settings cfg;
  std::shared_ptr<analytics_shared> shared;
  flow::flow_context* flow = nullptr;
  std::string data_dir;
  metrics::histogram* freshness = nullptr;
  // Partition owners and the other nodes' analytics services.
  cluster::owner_router<caf::stateful_actor<service_state>> router{service_name};
  std::map<uint32_t, caf::actor> partitions; // on this node
  // Partitions this node does not own and holds no batches of (nothing to hand over).
  empty_marks empty_here;
  // Handoffs under way: (partition, giver).
  std::set<std::pair<uint32_t, std::string>> pulling;

  static inline const char* name = "sv.analytics.service";
};

using service_actor = caf::stateful_actor<service_state>;

uint32_t partition_of(const config::analytics_node_settings& cfg, const std::string& content) {
  return static_cast<uint32_t>(cluster::stable_hash(content) % cfg.partitions);
}

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

std::string partition_key(uint32_t p) {
  return "analytics-partition-" + std::to_string(p);
}

std::string owner_of_partition(service_actor* self, uint32_t p) {
  return self->state.router.owner(partition_key(p));
}

caf::actor local_partition(service_actor* self, uint32_t p) {
  auto& st = self->state;
  if (auto i = st.partitions.find(p); i != st.partitions.end()) {
    return i->second;
  }
  auto dir = std::filesystem::path{st.data_dir} / "analytics";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  auto path = (dir / ("partition-" + std::to_string(p) + ".db")).string();
  auto a = self->spawn<caf::linked + caf::detached>(partition_behavior, p, path, st.cfg, st.shared,
                                                    st.flow, st.freshness);
  st.partitions.emplace(p, a);
  return a;
}

// Sends `msg` to partition `p` on its owner; `done` with the answer, `fail` on an error.
template <class Msg, class Reply>
void to_partition(service_actor* self, uint32_t p, const Msg& msg,
                  std::function<void(const Reply&)> done,
                  std::function<void(const caf::error&)> fail) {
  auto& st = self->state;
  auto wait = std::chrono::milliseconds{st.cfg.resend_ms};
  auto timeout = caf::duration{wait};
  st.router.route(
      self, partition_key(p), wait,
      [=] {
        self->request(local_partition(self, p), timeout, msg)
            .then([=](const Reply& r) { done(r); }, [=](caf::error& err) { fail(err); });
      },
      [=](const caf::actor& svc, const std::string&) {
        self->request(svc, timeout, partition_atom::value, p, msg)
            .then([=](const Reply& r) { done(r); }, [=](caf::error& err) { fail(err); });
      },
      [=](const caf::error& err, const std::string&) { fail(err); });
}

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

// At the service: `batch` (the message `(partition_atom, p, event_block)`) to partition `p`
// on its owner; `done` with the acknowledgement, `fail` on an error. The message itself
// travels, to the local partition or to the owner's service: the block is never copied.
void route(service_actor* self, uint32_t p, const caf::message& batch,
           std::function<void(const ack_msg&)> done, std::function<void(const caf::error&)> fail) {
  auto& st = self->state;
  auto wait = std::chrono::milliseconds{st.cfg.resend_ms};
  auto timeout = caf::duration{wait};
  st.router.route(
      self, partition_key(p), wait,
      [=] {
        self->state.empty_here.stored(p);
        self->request(local_partition(self, p), timeout, batch)
            .then([done](const ack_msg& a) { done(a); }, [fail](caf::error& err) { fail(err); });
      },
      [=](const caf::actor& svc, const std::string&) {
        self->request(svc, timeout, batch)
            .then([=](const ack_msg& a) { done(a); }, [=](caf::error& err) { fail(err); });
      },
      [=](const caf::error& err, const std::string&) { fail(err); });
}

// Partition p's history moves to its owner (this node): `giver` hands over the batches of p
// it holds, a page at a time; this node stores those it lacks (by producer and sequence:
// a batch whose acknowledgement was lost may be in both places), and only then does the
// giver delete them. A crash in between repeats a page, which changes nothing the second
// time. So every batch ends up once, at the owner.
void pull(service_actor* self, uint32_t p, const std::string& giver) {
  auto& st = self->state;
  auto key = std::make_pair(p, giver);
  if (!st.pulling.insert(key).second) {
    return;
  }
  auto timeout = caf::duration{std::chrono::seconds{10}};
  auto stop = [self, key](const caf::error&) {
    self->state.pulling.erase(key);
  };
  st.router.with_peer(
      self, giver, std::chrono::seconds{2},
      [=](const caf::actor& svc) {
        self->request(svc, timeout, handoff_atom::value, p)
            .then(
                [=](const handoff_page& page) {
                  if ((page.blocks_size() == 0 && page.batches_size() == 0)
                      || owner_of_partition(self, p) != self->state.router.self_name()) {
                    self->state.pulling.erase(key);
                    return;
                  }
                  self->state.empty_here.stored(p);
                  self->request(local_partition(self, p), timeout, adopt_atom::value, page)
                      .then(
                          [=](uint64_t) {
                            self->request(svc, timeout, release_atom::value, p, page.up_to())
                                .then(
                                    [=](uint64_t) {
                                      self->state.pulling.erase(key);
                                      pull(self, p, giver); // the next page
                                    },
                                    [=](caf::error& err) { stop(err); });
                          },
                          [=](caf::error& err) { stop(err); });
                },
                [=](caf::error& err) { stop(err); });
      },
      stop);
}

// A batch from a producer outside the cluster: split by partition into sub-batches
// numbered (producer + "/" + partition, sequence), so that a resend of the whole batch is
// recognised part by part; answered once every part is durable at its partition's owner
// (or with the first error: the producer sends it again).
void ingest(service_actor* self, const event_batch& b, caf::typed_response_promise<ack_msg> rp) {
  auto& st = self->state;
  std::map<uint32_t, block_builder> builders;
  for (auto& e : b.events()) {
    builders[partition_of(st.cfg, e.content_id())].add(e);
  }
  std::map<uint32_t, event_block> parts;
  for (auto& [p, builder] : builders) {
    auto& part = parts[p];
    part = builder.take();
    part.set_producer_id(b.producer_id() + "/" + std::to_string(p));
    part.set_sequence(b.sequence());
    part.set_partition(p);
  }
  struct join {
    ack_msg total;
    size_t left = 0;
    bool answered = false;
    caf::typed_response_promise<ack_msg> rp;
  };
  auto j = std::make_shared<join>();
  j->total.set_producer_id(b.producer_id());
  j->total.set_sequence(b.sequence());
  j->total.set_duplicate(true);
  j->left = parts.size();
  j->rp = std::move(rp);
  if (parts.empty()) {
    j->total.set_duplicate(false);
    j->rp.deliver(j->total);
    return;
  }
  for (auto& [p, part] : parts) {
    route(
        self, p, caf::make_message(partition_atom::value, p, std::move(part)),
        [j](const ack_msg& a) {
          if (j->answered) {
            return;
          }
          j->total.set_stored(j->total.stored() + a.stored());
          j->total.set_refused(j->total.refused() + a.refused());
          j->total.set_duplicate(j->total.duplicate() && a.duplicate());
          if (--j->left == 0) {
            j->answered = true;
            j->rp.deliver(j->total);
          }
        },
        [j](const caf::error& err) {
          if (!j->answered) {
            j->answered = true;
            j->rp.deliver(err);
          }
        });
  }
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
  lower_this_threads_priority(true); // bulk work: only on an idle core
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

caf::behavior service_behavior(service_actor* self, std::string node_name,
                               config::analytics_node_settings cfg,
                               std::shared_ptr<analytics_shared> shared, caf::actor endpoint,
                               std::function<std::vector<cluster::member>()> members,
                               flow::flow_context* flow, std::string data_dir,
                               metrics::histogram* freshness) {
  auto& st = self->state;
  st.router.bind(std::move(node_name), std::move(endpoint), std::move(members));
  st.cfg = cfg;
  st.shared = std::move(shared);
  st.flow = flow;
  st.data_dir = std::move(data_dir);
  st.freshness = freshness;
  self->set_down_handler([self](caf::down_msg& dm) { self->state.router.forget(dm.source); });
  self->delayed_send(self, std::chrono::seconds{1}, tick_atom::value);
  return {
      // From the batcher on this node.
      [self](route_atom, uint32_t p, const caf::message& batch) -> caf::result<ack_msg> {
        auto rp = self->make_response_promise<ack_msg>();
        route(
            self, p, batch, [rp](const ack_msg& a) mutable { rp.deliver(a); },
            [rp](const caf::error& err) mutable { rp.deliver(err); });
        return rp;
      },
      [self](tick_atom) {
        auto& st = self->state;
        // Partitions this node no longer owns stop once they handed their batches over.
        for (auto i = st.partitions.begin(); i != st.partitions.end();) {
          auto owner = owner_of_partition(self, i->first);
          if (!st.router.is_local(owner) && st.empty_here.empty(i->first)) {
            self->send_exit(i->second, caf::exit_reason::user_shutdown);
            i = st.partitions.erase(i);
          } else {
            ++i;
          }
        }
        // Batches held here of partitions owned elsewhere (0 once every handoff is done).
        int64_t unowned = 0;
        for (uint32_t p = 0; p < st.cfg.partitions; ++p) {
          auto owner = owner_of_partition(self, p);
          if (st.router.is_local(owner)) {
            continue;
          }
          if (st.partitions.count(p) != 0) {
            auto held = st.shared->held[p].load();
            unowned += held < 0 ? 1 : held;
          } else if (!st.empty_here.empty(p)) {
            auto file = std::filesystem::path{st.data_dir} / "analytics"
                        / ("partition-" + std::to_string(p) + ".db");
            std::error_code ec;
            unowned += std::filesystem::exists(file, ec) ? 1 : 0; // not known to be empty
          }
        }
        st.shared->unowned = unowned;
        // The partitions this node owns take over what other nodes stored of them.
        std::vector<std::string> others;
        for (auto& m : st.router.members()) {
          if (m.state == cluster::member_state::up && m.name != st.router.self_name()) {
            others.push_back(m.name);
          }
        }
        for (uint32_t p = 0; p < st.cfg.partitions && !others.empty(); ++p) {
          if (owner_of_partition(self, p) == st.router.self_name()) {
            for (auto& giver : others) {
              pull(self, p, giver);
            }
          }
        }
        self->delayed_send(self, std::chrono::seconds{1}, tick_atom::value);
      },
      // From the owner of p: this node's batches of p, when it holds any and does not own p.
      [self](handoff_atom, uint32_t p) -> caf::result<handoff_page> {
        auto& st = self->state;
        auto owner = owner_of_partition(self, p);
        if (st.router.is_local(owner)) {
          return handoff_page{}; // this node sees itself as the owner: nothing moves
        }
        auto file = std::filesystem::path{st.data_dir} / "analytics"
                    / ("partition-" + std::to_string(p) + ".db");
        std::error_code ec;
        if (st.empty_here.empty(p)) {
          return handoff_page{};
        }
        if (st.partitions.count(p) == 0 && !std::filesystem::exists(file, ec)) {
          st.empty_here.answered_empty(p, st.empty_here.ask(p));
          return handoff_page{};
        }
        auto rp = self->make_response_promise<handoff_page>();
        auto generation = st.empty_here.ask(p);
        self->request(local_partition(self, p), caf::infinite, handoff_atom::value)
            .then(
                [self, rp, p, generation](handoff_page& page) mutable {
                  if (page.blocks_size() == 0 && page.batches_size() == 0) {
                    self->state.empty_here.answered_empty(p, generation);
                  }
                  page.set_partition(p);
                  rp.deliver(std::move(page));
                },
                [rp](caf::error& err) mutable { rp.deliver(err); });
        return rp;
      },
      [self](release_atom, uint32_t p, int64_t up_to) -> caf::result<uint64_t> {
        auto rp = self->make_response_promise<uint64_t>();
        self->request(local_partition(self, p), caf::infinite, release_atom::value, up_to)
            .then([rp](uint64_t n) mutable { rp.deliver(n); },
                  [rp](caf::error& err) mutable { rp.deliver(err); });
        return rp;
      },
      // From a producer outside the cluster (ingest_request).
      [self](ingest_atom, const event_batch& b) -> caf::result<ack_msg> {
        auto rp = self->make_response_promise<ack_msg>();
        ingest(self, b, rp);
        return rp;
      },
      [self](const query_msg& q) -> caf::result<window_msg> {
        auto rp = self->make_response_promise<window_msg>();
        to_partition<query_msg, window_msg>(
            self, partition_of(self->state.cfg, q.content_id()), q,
            [rp](const window_msg& w) mutable { rp.deliver(w); },
            [rp](const caf::error& err) mutable { rp.deliver(err); });
        return rp;
      },
      // From another node's service: this node's partition answers, through this service
      // (the partition's handle never leaves the node; see lower_this_threads_priority).
      [self](partition_atom, uint32_t p, const event_block&) -> caf::result<ack_msg> {
        auto rp = self->make_response_promise<ack_msg>();
        self->state.empty_here.stored(p);
        // The message as it came (the block is not copied).
        self->request(local_partition(self, p), caf::infinite,
                      self->current_mailbox_element()->move_content_to_message())
            .then([rp](const ack_msg& a) mutable { rp.deliver(a); },
                  [rp](caf::error& err) mutable { rp.deliver(err); });
        return rp;
      },
      // From a node before issue #14.
      [self](partition_atom, uint32_t p, const event_batch& b) -> caf::result<ack_msg> {
        auto rp = self->make_response_promise<ack_msg>();
        self->state.empty_here.stored(p);
        self->request(local_partition(self, p), caf::infinite, to_block(b))
            .then([rp](const ack_msg& a) mutable { rp.deliver(a); },
                  [rp](caf::error& err) mutable { rp.deliver(err); });
        return rp;
      },
      [self](partition_atom, uint32_t p, const query_msg& q) -> caf::result<window_msg> {
        auto rp = self->make_response_promise<window_msg>();
        self->request(local_partition(self, p), caf::infinite, q)
            .then([rp](const window_msg& w) mutable { rp.deliver(w); },
                  [rp](caf::error& err) mutable { rp.deliver(err); });
        return rp;
      },
  };
}

} // namespace

void register_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<viewer_event>(viewer_event::descriptor()->full_name());
  cfg.add_message_type<std::vector<viewer_event>>("std::vector<streamverse.v1.ViewerEvent>");
  cfg.add_message_type<event_batch>(event_batch::descriptor()->full_name());
  cfg.add_message_type<event_block>(event_block::descriptor()->full_name());
  cfg.add_message_type<ack_msg>(ack_msg::descriptor()->full_name());
  cfg.add_message_type<query_msg>(query_msg::descriptor()->full_name());
  cfg.add_message_type<window_msg>(window_msg::descriptor()->full_name());
  cfg.add_message_type<handoff_page>(handoff_page::descriptor()->full_name());
}

analytics::analytics(node& n) : sys_(n.system()), shared_(std::make_shared<analytics_shared>()) {
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
  counter("sv_analytics_duplicate_batches_total", "Resent batches stored before",
          &analytics_shared::duplicate_batches);
  counter("sv_analytics_handed_off_total",
          "Batches of partitions this node does not own, handed to their owner",
          &analytics_shared::handed_off);
  counter("sv_analytics_adopted_total", "Batches taken over from other nodes (new to this node)",
          &analytics_shared::adopted);
  reg.gauge_callback("sv_analytics_pending", "Events accepted, not yet acknowledged",
                     [s] { return static_cast<double>(s->pending.load()); });
  reg.gauge_callback("sv_analytics_unowned_batches",
                     "Batches this node holds of partitions another node owns (not handed over "
                     "yet; a file not known to be empty counts 1)",
                     [s] { return static_cast<double>(s->unowned.load()); });
  auto* np = &n;
  auto producer = n.settings().name + "#" + std::to_string(wall_ms());
  service_ = sys_.spawn(service_behavior, n.settings().name, cfg, shared_, n.cluster_endpoint(),
                        std::function<std::vector<cluster::member>()>{[np] {
                          return np->members();
                        }},
                        &n.flow(), n.settings().data_dir, freshness);
  batcher_ =
      sys_.spawn<caf::detached>(batcher_behavior, producer, cfg, shared_, &n.flow(), ack, service_);
  cluster::register_service(sys_, service_name, service_);
}

analytics::~analytics() {
  sys_.registry().erase(service_name);
  caf::scoped_actor self{sys_};
  // The batcher first (a detached actor must end before its actor system), then the
  // service and its partitions.
  self->send_exit(batcher_, caf::exit_reason::user_shutdown);
  self->wait_for(batcher_);
  self->send_exit(service_, caf::exit_reason::user_shutdown);
  self->wait_for(service_);
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

} // namespace

caf::expected<caf::actor> connect_service(caf::actor_system& sys, const std::string& host,
                                          uint16_t port, std::chrono::milliseconds timeout) {
  return cluster::lookup_service(sys, host, port, service_name, timeout);
}

caf::message ingest_request(event_batch b) {
  return caf::make_message(ingest_atom::value, std::move(b));
}

caf::expected<window_stats> remote_window(caf::actor_system& sys, const std::string& host,
                                          uint16_t port, const std::string& content,
                                          const std::string& region, std::chrono::seconds w,
                                          std::chrono::milliseconds timeout) {
  auto svc = cluster::lookup_service(sys, host, port, service_name, timeout);
  if (!svc) {
    return svc.error();
  }
  return from_msg(sv::ask<window_msg>(sys, *svc, timeout, make_query(content, region, w)));
}

caf::expected<window_stats> analytics::window(const std::string& content, const std::string& region,
                                              std::chrono::seconds w) {
  return from_msg(
      sv::ask<window_msg>(sys_, service_, std::chrono::seconds{5}, make_query(content, region, w)));
}

bool analytics::drain(std::chrono::milliseconds timeout) {
  caf::anon_send(batcher_, flush_atom::value);
  auto end = std::chrono::steady_clock::now() + timeout;
  while (shared_->pending.load() != 0 && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  }
  return shared_->pending.load() == 0;
}

analytics_stats analytics::stats() {
  auto& s = *shared_;
  return {s.emitted, s.overloaded, s.batches_sent,      s.resends,    s.acked_events, s.pending,
          s.stored,  s.refused,    s.duplicate_batches, s.handed_off, s.adopted};
}

} // namespace sv::analytics
