#include "actors/session/session_host.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <limits>
#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "actors/session/session_errc.hpp"
#include "caf/actor_system.hpp"
#include "caf/stateful_actor.hpp"
#include "caf/typed_event_based_actor.hpp"
#include "runtime/entity/activation_table.hpp"
#include "runtime/flow/flow_context.hpp"
#include "runtime/flow/load_cell.hpp"
#include "runtime/util/clock.hpp"
#include "runtime/wire/errc.hpp"
#include "runtime/wire/undecodable.hpp"

namespace sv::session {

// -- text_arena, batch_join, results --------------------------------------------------------

text_ref text_arena::add(std::string_view s) {
  text_ref r{static_cast<uint32_t>(bytes_.size()), static_cast<uint32_t>(s.size())};
  bytes_.append(s.data(), s.size());
  return r;
}

batch_join::batch_join(size_t items, int64_t deadline_ns, size_t max_parts,
                       std::function<void(batch_join&)> complete)
    : results_(items), deadline_ns_(deadline_ns), complete_(std::move(complete)),
      states_(new std::atomic<uint8_t>[std::max<size_t>(1, max_parts)]),
      max_parts_(static_cast<uint32_t>(std::max<size_t>(1, max_parts))) {
  for (uint32_t i = 0; i < max_parts_; ++i) {
    states_[i].store(waiting, std::memory_order_relaxed);
  }
}

uint32_t batch_join::add_part() {
  if (parts_ == max_parts_) {
    throw std::logic_error("batch_join: more parts than announced");
  }
  left_.fetch_add(1, std::memory_order_relaxed);
  return parts_++;
}

void batch_join::hold() noexcept {
  left_.fetch_add(1, std::memory_order_relaxed);
}

bool batch_join::take(uint32_t p) noexcept {
  uint8_t expected = waiting;
  return states_[p].compare_exchange_strong(expected, taken, std::memory_order_acq_rel);
}

bool batch_join::expire(uint32_t p) noexcept {
  uint8_t expected = waiting;
  return states_[p].compare_exchange_strong(expected, expired, std::memory_order_acq_rel);
}

void batch_join::finish() noexcept {
  if (left_.fetch_sub(1, std::memory_order_acq_rel) == 1 && complete_) {
    complete_(*this);
  }
}

item_result to_result(const caf::error& err) {
  item_result r;
  if (!err) {
    return r;
  }
  if (!is_refusal(err)) {
    r.code = static_cast<uint8_t>(errc::unavailable);
    r.detail = caf::to_string(err);
    return r;
  }
  r.code = err.code();
  r.category = err.category();
  if (auto hint = retry_after(err)) {
    r.retry_after_ms = static_cast<uint32_t>(hint->count());
  }
  // StreamVerse errors carry a text ("no open session 5"), or for overloaded the class
  // and the hint.
  auto& ctx = err.context();
  if (ctx.match_elements<std::string>() || ctx.match_elements<std::string, int64_t>()) {
    r.detail = ctx.get_as<std::string>(0);
  } else if (!ctx.empty()) {
    r.detail = caf::to_string(ctx);
  }
  return r;
}

caf::error to_error(const item_result& r) {
  if (r.ok()) {
    return caf::none;
  }
  if (r.category == runtime_error_category() && r.code == static_cast<uint8_t>(errc::overloaded)) {
    return make_overloaded(r.detail, std::chrono::milliseconds{r.retry_after_ms});
  }
  return make_domain_error(r.category, r.code, r.detail);
}

namespace {

// Content, device and region repeat across many sessions: keep each name once per host.
class interner {
public:
  uint32_t id(const std::string& name) {
    auto i = ids_.find(name);
    if (i != ids_.end()) {
      return i->second;
    }
    names_.push_back(name);
    auto id = static_cast<uint32_t>(names_.size() - 1);
    ids_.emplace(names_.back(), id);
    return id;
  }
  const std::string& name(uint32_t id) const {
    return names_[id];
  }
  size_t size() const noexcept {
    return names_.size();
  }

private:
  std::deque<std::string> names_; // stable addresses for the views below
  std::unordered_map<std::string_view, uint32_t> ids_;
};

// One session's state (96 bytes, 104 with its slot's last-use time; the user name is
// inline up to 15 bytes).
struct record {
  std::string user;
  int64_t last_event_ns = 0; // for the play time of the next event
  int64_t checkpoint_ns = 0; // when its position was last recorded
  int64_t position_ms = 0;
  uint32_t content = 0;
  uint32_t bitrate_kbps = 0;
  uint32_t buffer_ms = 0;
  uint32_t dropped_frames = 0;
  uint32_t heartbeats = 0;
  uint32_t events = 0; // events reported so far (the next one's seq is events + 1)
  uint32_t device = 0;
  uint32_t region = 0;
  uint16_t seeks = 0;
  uint16_t quality_changes = 0;
  uint8_t subscription = 0;
  bool paused = false;
};

constexpr uint32_t no_ref = std::numeric_limits<uint32_t>::max();

// A block being filled: each interned name is copied into its text once per block.
template <class Block>
struct filling {
  Block block;
  std::vector<text_ref> contents, devices, regions;
  std::vector<bool> has_content, has_device, has_region;

  text_ref name(std::vector<text_ref>& refs, std::vector<bool>& has, const interner& names,
                uint32_t id) {
    if (id >= refs.size()) {
      refs.resize(names.size());
      has.resize(names.size(), false);
    }
    if (!has[id]) {
      refs[id] = block.text.add(names.name(id));
      has[id] = true;
    }
    return refs[id];
  }

  void reset() {
    contents.clear();
    devices.clear();
    regions.clear();
    has_content.clear();
    has_device.clear();
    has_region.clear();
  }
};

struct host_state {
  host_settings cfg;
  int64_t published = 0; // what this host added to cfg.outputs.open_count
  std::shared_ptr<flow::load_cell> cell;
  flow::flow_context* flow = nullptr;
  // The open sessions: virtual actors activated by their open, passivated (closed) when
  // idle, on the runtime's entity table.
  entity::activation_table<record> sessions;
  interner contents;
  interner devices;
  interner regions;
  std::deque<uint64_t> closed_order;
  std::unordered_set<uint64_t> closed;
  std::string source;
  filling<session_event_block> events;
  filling<position_block> positions;
  bool flush_due = false; // a flush timer is pending

  static inline const char* name = "sv.session.host";
};

using host_pointer = host_actor::stateful_pointer<host_state>;

int64_t now_ns(host_pointer self) {
  return sv::clock::actor_ns(self);
}

using sv::clock::wall_ms;

// Hands on what is buffered (at a flush, when a block is full, and on exit).
void flush_events(host_state& st) {
  if (!st.events.block.events.empty() && st.cfg.outputs.events) {
    st.events.block.source = st.source;
    st.cfg.outputs.events(std::move(st.events.block));
  }
  st.events.block = session_event_block{};
  st.events.reset();
}

void flush_positions(host_state& st) {
  if (!st.positions.block.positions.empty() && st.cfg.outputs.positions) {
    st.cfg.outputs.positions(std::move(st.positions.block));
  }
  st.positions.block = position_block{};
  st.positions.reset();
}

void schedule_flush(host_pointer self) {
  auto& st = self->state;
  if (!st.flush_due) {
    st.flush_due = true;
    self->delayed_send(self, st.cfg.outputs.flush_interval, flush_atom::value);
  }
}

// Records where session `s` is (resume on any device). A session that has reported no
// position yet (no heartbeat, no seek) records nothing: a player reopening after its node
// failed, then closing before its first heartbeat, would otherwise store 0 over the
// user's real progress (found by the soak's resume-position check).
//
// `closing` (a close's position, when the host confirms closes: durable_positions) takes
// the record instead of the block the host flushes on its own.
void checkpoint(host_pointer self, record& s, int64_t now,
                filling<position_block>* closing = nullptr) {
  auto& st = self->state;
  s.checkpoint_ns = now;
  if ((!st.cfg.outputs.positions && closing == nullptr) || (s.heartbeats == 0 && s.seeks == 0)) {
    return;
  }
  auto& f = closing != nullptr ? *closing : st.positions;
  position_record p;
  p.position_ms = s.position_ms;
  p.at_ms = wall_ms();
  p.user = f.block.text.add(s.user);
  p.content = f.name(f.contents, f.has_content, st.contents, s.content);
  p.device = f.name(f.devices, f.has_device, st.devices, s.device);
  p.region = f.name(f.regions, f.has_region, st.regions, s.region);
  f.block.positions.push_back(p);
  if (closing != nullptr) {
    return;
  }
  if (f.block.positions.size() >= st.cfg.outputs.block_items) {
    flush_positions(st);
  } else {
    schedule_flush(self);
  }
}

// Records what happened to session `id`.
void report(host_pointer self, session_event::kind_t kind, uint64_t id, record& s, int64_t now) {
  auto& st = self->state;
  if (!st.cfg.outputs.events) {
    return;
  }
  auto& f = st.events;
  session_event e;
  e.kind = kind;
  e.session_id = id;
  e.seq = ++s.events;
  e.user = f.block.text.add(s.user);
  e.content = f.name(f.contents, f.has_content, st.contents, s.content);
  e.device = f.name(f.devices, f.has_device, st.devices, s.device);
  e.region = f.name(f.regions, f.has_region, st.regions, s.region);
  e.bitrate_kbps = s.bitrate_kbps;
  e.buffer_ms = s.buffer_ms;
  e.position_ms = s.position_ms;
  e.watched_ms =
      kind == session_event::opened || s.paused
          ? 0
          : static_cast<uint32_t>(std::max<int64_t>(0, now - s.last_event_ns) / 1'000'000);
  s.last_event_ns = now;
  e.at_ms = wall_ms();
  f.block.events.push_back(e);
  if (f.block.events.size() >= st.cfg.outputs.block_items) {
    flush_events(st);
  } else {
    schedule_flush(self);
  }
}

void remember_closed(host_state& st, uint64_t id) {
  if (st.cfg.closed_memory == 0) {
    return;
  }
  if (st.closed.insert(id).second) {
    st.closed_order.push_back(id);
  }
  if (st.closed_order.size() > st.cfg.closed_memory) {
    st.closed.erase(st.closed_order.front());
    st.closed_order.pop_front();
  }
}

// The latency from send to the start of handling (`served` holds that moment).
void record_latency(host_state& st, int64_t sent_at_ns, const flow::serving& served) {
  if (st.flow != nullptr && sent_at_ns > 0) {
    st.flow->record_critical_latency(served.waited_since(sent_at_ns));
  }
}

using session_slot = entity::activation_table<record>::slot;

// The session `id`, or the error for a request to it.
caf::expected<session_slot*> find(host_state& st, uint64_t id) {
  if (auto* slot = st.sessions.find(id)) {
    return slot;
  }
  if (st.closed.count(id) != 0) {
    return make_error(sv::session::session_errc::session_closed,
                      "session " + std::to_string(id) + " is closed");
  }
  return make_error(sv::session::session_errc::unknown_session,
                    "no open session " + std::to_string(id));
}

// -- the requests, shared by single messages and batches ---------------------------------

// The host's open sessions into the node's count (outputs.open_count).
void publish_count(host_state& st) {
  if (st.cfg.outputs.open_count) {
    auto now = static_cast<int64_t>(st.sessions.size());
    st.cfg.outputs.open_count->fetch_add(now - st.published, std::memory_order_relaxed);
    st.published = now;
  }
}

caf::expected<uint64_t> do_open(host_pointer self, const open_request& r, int64_t now) {
  auto& st = self->state;
  if (auto why = validate(r, st.cfg.limits); !why.empty()) {
    return make_error(errc::invalid_argument, why);
  }
  if (st.sessions.contains(r.session_id)) {
    return make_error(sv::session::session_errc::session_exists,
                      "session " + std::to_string(r.session_id) + " is already open");
  }
  if (st.cfg.entitlement) {
    if (auto err = st.cfg.entitlement(r)) {
      return err;
    }
  }
  record rec;
  rec.user = r.user;
  rec.content = st.contents.id(r.content);
  rec.device = st.devices.id(r.device);
  rec.region = st.regions.id(r.region);
  rec.subscription = r.subscription;
  rec.last_event_ns = now;
  // The first checkpoint comes at a point of the interval that depends on the session, so
  // that sessions opened together (a viral release) do not all checkpoint together later.
  auto interval = std::chrono::nanoseconds{st.cfg.outputs.checkpoint_interval}.count();
  auto spread = interval > 0 ? static_cast<int64_t>((r.session_id * 0x9e3779b97f4a7c15ULL)
                                                    % static_cast<uint64_t>(interval))
                             : 0;
  rec.checkpoint_ns = now - spread;
  auto& stored = st.sessions.insert(r.session_id, std::move(rec), now).entity;
  publish_count(st);
  st.closed.erase(r.session_id); // an id may be reused after close
  report(self, session_event::opened, r.session_id, stored, now);
  return r.session_id;
}

caf::error do_heartbeat(host_pointer self, const heartbeat_report& h, int64_t now) {
  auto& st = self->state;
  auto rec = find(st, h.session_id);
  if (!rec) {
    return std::move(rec.error());
  }
  if (auto why = validate(h, st.cfg.limits); !why.empty()) {
    return make_error(errc::invalid_argument, why);
  }
  (*rec)->last_used_ns = now;
  auto& s = (*rec)->entity;
  s.position_ms = h.position_ms;
  s.bitrate_kbps = static_cast<uint32_t>(h.bitrate_kbps);
  s.buffer_ms = static_cast<uint32_t>(h.buffer_ms);
  s.dropped_frames = static_cast<uint32_t>(h.dropped_frames);
  ++s.heartbeats;
  report(self, session_event::heartbeat, h.session_id, s, now);
  auto interval = std::chrono::nanoseconds{st.cfg.outputs.checkpoint_interval}.count();
  if (now - s.checkpoint_ns >= interval) {
    checkpoint(self, s, now);
  }
  return caf::none;
}

// Sends the positions of closes to their holders (durable_positions), then calls `done`
// with none or why they were not confirmed within `timeout`; then the positions also go
// the usual way (outputs.positions), in case the service never got them.
void confirm_closes(host_pointer self, position_block&& b, std::chrono::milliseconds timeout,
                    std::function<void(const caf::error&)> done) {
  auto& st = self->state;
  auto copy = std::make_shared<position_block>(b);
  self->request(st.cfg.outputs.durable_positions, caf::duration{timeout},
                positions_durable_atom::value, std::move(b))
      .then([done](caf::ok_atom) { done(caf::none); },
            [self, done, copy](caf::error& err) {
              if (self->state.cfg.outputs.positions) {
                self->state.cfg.outputs.positions(std::move(*copy));
              }
              done(make_error(errc::unavailable,
                              "the session closed, but its last position was not confirmed "
                              "held by its holders: "
                                  + self->system().render(err)));
            });
}

// The results of a part's closes that wait for their positions: written and the join's
// hold released once, by the answer, or (the host stopped first and dropped the answer's
// handler) when the last copy of the handler goes.
struct closes_waiting {
  std::shared_ptr<batch_join> join;
  std::vector<uint32_t> at;
  bool done = false;

  void finish(const caf::error& err) {
    if (done) {
      return;
    }
    done = true;
    if (err) {
      auto refused = to_result(err);
      for (auto i : at) {
        join->results()[i] = refused;
      }
    }
    join->finish();
  }

  ~closes_waiting() {
    finish(make_error(errc::unavailable, "the session host stopped before the session's last "
                                         "position was confirmed held"));
  }
};

// Applies a command. A close's position goes into `closing` when closes are confirmed
// (durable_positions), else the usual way.
caf::error do_command(host_pointer self, const command& c, int64_t now,
                      filling<position_block>* closing) {
  auto& st = self->state;
  auto rec = find(st, c.session_id);
  if (!rec) {
    return std::move(rec.error());
  }
  if (auto why = validate(c, st.cfg.limits); !why.empty()) {
    return make_error(errc::invalid_argument, why);
  }
  (*rec)->last_used_ns = now;
  auto& s = (*rec)->entity;
  switch (c.kind) {
  case command_kind::pause:
    s.paused = true;
    checkpoint(self, s, now);
    break;
  case command_kind::resume:
    s.paused = false;
    break;
  case command_kind::seek:
    s.position_ms = c.value;
    ++s.seeks;
    checkpoint(self, s, now);
    break;
  case command_kind::quality:
    s.bitrate_kbps = static_cast<uint32_t>(c.value);
    ++s.quality_changes;
    report(self, session_event::quality_change, c.session_id, s, now);
    break;
  case command_kind::close:
    report(self, session_event::closed, c.session_id, s, now);
    checkpoint(self, s, now, st.cfg.outputs.durable_positions ? closing : nullptr);
    st.sessions.erase(c.session_id);
    publish_count(st);
    remember_closed(st, c.session_id);
    break;
  }
  return caf::none;
}

// A part of a batch: all of it, or (past its deadline) none of it.
void do_work(host_pointer self, host_work& w) {
  auto& st = self->state;
  auto items = static_cast<int64_t>(w.size());
  flow::serving served{*st.cell, self, items};
  if (!w.join->take(w.part)) {
    return; // its gateway answered it already (deadline)
  }
  auto& results = w.join->results();
  auto now = now_ns(self);
  if (now > w.join->deadline_ns()) {
    // Nobody waits for it any more: doing it would only delay the work behind it. The
    // hint: how late it is, and at least 50 ms.
    auto late_ms = (now - w.join->deadline_ns()) / 1'000'000;
    item_result refused;
    refused.code = static_cast<uint8_t>(errc::overloaded);
    refused.retry_after_ms = static_cast<uint32_t>(std::clamp<int64_t>(late_ms, 50, 5000));
    refused.detail = "critical: deadline passed in the host's queue";
    for (auto at : w.slots()) {
      results[at] = refused;
    }
    w.join->finish();
    return;
  }
  for (size_t i = 0; i < w.opens.size(); ++i) {
    record_latency(st, w.opens[i].sent_at_ns, served);
    auto r = do_open(self, w.opens[i], now);
    if (!r) {
      results[w.opens_at[i]] = to_result(r.error());
    }
  }
  for (size_t i = 0; i < w.heartbeats.size(); ++i) {
    record_latency(st, w.heartbeats[i].sent_at_ns, served);
    if (auto err = do_heartbeat(self, w.heartbeats[i], now)) {
      results[w.heartbeats_at[i]] = to_result(err);
    }
  }
  filling<position_block> closing;
  std::vector<uint32_t> closing_at; // the results of the closes that wait for it
  for (size_t i = 0; i < w.commands.size(); ++i) {
    auto before = closing.block.positions.size();
    if (auto err = do_command(self, w.commands[i], now, &closing)) {
      results[w.commands_at[i]] = to_result(err);
    } else if (closing.block.positions.size() > before) {
      closing_at.push_back(w.commands_at[i]);
    }
  }
  if (!closing_at.empty()) {
    // At most until the batch's deadline (at least 50 ms, at most durable_timeout): the
    // batch is answered in time, its closes refused unavailable if need be.
    auto left = std::chrono::milliseconds{(w.join->deadline_ns() - now_ns(self)) / 1'000'000};
    auto timeout = std::clamp(left, std::chrono::milliseconds{50}, st.cfg.outputs.durable_timeout);
    w.join->hold();
    auto waiting = std::make_shared<closes_waiting>();
    waiting->join = w.join;
    waiting->at = std::move(closing_at);
    confirm_closes(self, std::move(closing.block), timeout,
                   [waiting](const caf::error& err) { waiting->finish(err); });
  }
  w.join->finish();
}

void schedule_sweep(host_pointer self) {
  auto every = entity::activation_table<record>::sweep_interval(self->state.cfg.idle_timeout);
  self->delayed_send(self, every, sweep_atom::value);
}

void sweep(host_pointer self) {
  auto& st = self->state;
  auto now = now_ns(self);
  auto cutoff = now - std::chrono::nanoseconds{st.cfg.idle_timeout}.count();
  st.sessions.sweep(cutoff, [self, &st, now](uint64_t id, record& r) {
    report(self, session_event::closed, id, r, now);
    remember_closed(st, id);
  });
  publish_count(st);
}

host_actor::behavior_type session_host(host_pointer self, host_settings cfg,
                                       std::shared_ptr<flow::load_cell> cell,
                                       flow::flow_context* flow, uint32_t index) {
  wire::answer_undecodable(self, "session host"); // never renders what it does not know
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.cell = std::move(cell);
  st.flow = flow;
  st.source = st.cfg.source_prefix + "/host-" + std::to_string(index);
  self->set_exception_handler([](caf::scheduled_actor*, std::exception_ptr& ep) -> caf::error {
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      spdlog::error("session host: {}", e.what());
    } catch (...) {
      spdlog::error("session host: unknown exception");
    }
    return caf::sec::runtime_error;
  });
  // What is buffered leaves before the host stops (the node stops its consumers later).
  self->set_exit_handler([self](caf::exit_msg& msg) {
    flush_events(self->state);
    flush_positions(self->state);
    self->quit(msg.reason);
  });
  schedule_sweep(self);
  return {
      [self](host_work& w) { do_work(self, w); },
      [self](const open_request& r) -> caf::result<uint64_t> {
        auto& st = self->state;
        flow::serving served{*st.cell, self};
        record_latency(st, r.sent_at_ns, served);
        auto x = do_open(self, r, now_ns(self));
        if (!x) {
          return std::move(x.error());
        }
        return *x;
      },
      [self](const heartbeat_report& h) -> caf::result<caf::ok_atom> {
        auto& st = self->state;
        flow::serving served{*st.cell, self};
        record_latency(st, h.sent_at_ns, served);
        if (auto err = do_heartbeat(self, h, now_ns(self))) {
          return err;
        }
        return caf::ok_atom::value;
      },
      [self](const command& c) -> caf::result<caf::ok_atom> {
        flow::serving served{*self->state.cell, self};
        filling<position_block> closing;
        if (auto err = do_command(self, c, now_ns(self), &closing)) {
          return err;
        }
        if (closing.block.positions.empty()) {
          return caf::ok_atom::value;
        }
        auto rp = self->make_response_promise<caf::ok_atom>();
        auto timeout = self->state.cfg.outputs.durable_timeout;
        confirm_closes(self, std::move(closing.block), timeout,
                       [rp](const caf::error& err) mutable {
                         if (err) {
                           rp.deliver(err);
                         } else {
                           rp.deliver(caf::ok_atom::value);
                         }
                       });
        return rp;
      },
      [self](caf::get_atom, uint64_t id) -> caf::result<session_info> {
        auto& st = self->state;
        flow::serving served{*st.cell, self};
        auto rec = find(st, id);
        if (!rec) {
          return std::move(rec.error());
        }
        auto& s = (*rec)->entity;
        session_info info;
        info.session_id = id;
        info.user = s.user;
        info.content = st.contents.name(s.content);
        info.device = st.devices.name(s.device);
        info.region = st.regions.name(s.region);
        info.subscription = s.subscription;
        info.paused = s.paused;
        info.position_ms = s.position_ms;
        info.bitrate_kbps = s.bitrate_kbps;
        info.buffer_ms = s.buffer_ms;
        info.dropped_frames = s.dropped_frames;
        info.heartbeats = s.heartbeats;
        info.seeks = s.seeks;
        info.quality_changes = s.quality_changes;
        return info;
      },
      [self](sessions_atom) -> caf::result<uint64_t> {
        flow::serving served{*self->state.cell, self};
        return static_cast<uint64_t>(self->state.sessions.size());
      },
      [self](flush_atom) {
        auto& st = self->state;
        st.flush_due = false;
        flush_events(st);
        flush_positions(st);
      },
      [self](sweep_atom) {
        sweep(self);
        schedule_sweep(self);
      },
  };
}

} // namespace

host_actor spawn_session_host(caf::actor_system& sys, host_settings settings,
                              std::shared_ptr<flow::load_cell> cell, flow::flow_context* flow,
                              uint32_t index) {
  return sys.spawn(session_host, std::move(settings), std::move(cell), flow, index);
}

caf::message sessions_query() {
  return caf::make_message(sessions_atom::value);
}

} // namespace sv::session
