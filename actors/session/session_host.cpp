#include "actors/session/session_host.hpp"

#include <spdlog/spdlog.h>

#include <deque>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/stateful_actor.hpp"
#include "runtime/flow/flow_context.hpp"
#include "runtime/flow/load_cell.hpp"
#include "runtime/wire/errc.hpp"

namespace sv::session {

namespace {

using sweep_atom = caf::atom_constant<caf::atom("sv_sweep")>;
using sessions_atom = caf::atom_constant<caf::atom("sv_count")>;

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

private:
  std::deque<std::string> names_; // stable addresses for the views below
  std::unordered_map<std::string_view, uint32_t> ids_;
};

// One session's state (96 bytes; the user name is inline up to 15 bytes).
struct record {
  std::string user;
  int64_t last_seen_ns = 0;
  int64_t last_event_ns = 0; // for the play time of the next event
  int64_t position_ms = 0;
  uint32_t content = 0;
  uint32_t bitrate_kbps = 0;
  uint32_t buffer_ms = 0;
  uint32_t dropped_frames = 0;
  uint32_t heartbeats = 0;
  uint32_t device = 0;
  uint32_t region = 0;
  uint16_t seeks = 0;
  uint16_t quality_changes = 0;
  uint8_t subscription = 0;
  bool paused = false;
};

struct host_state {
  host_settings cfg;
  std::shared_ptr<flow::load_cell> cell;
  flow::flow_context* flow = nullptr;
  std::unordered_map<uint64_t, record> sessions;
  interner contents;
  interner devices;
  interner regions;
  std::deque<uint64_t> closed_order;
  std::unordered_set<uint64_t> closed;

  static inline const char* name = "sv.session.host";
};

using host_actor = caf::stateful_actor<host_state>;

int64_t now_ns(host_actor* self) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             self->clock().now().time_since_epoch())
      .count();
}

// Tells the event hook (if any) what happened to session `id`.
void report(host_actor* self, session_event::kind_t kind, uint64_t id, record& s) {
  auto& st = self->state;
  if (!st.cfg.events) {
    return;
  }
  auto now = now_ns(self);
  session_event e;
  e.kind = kind;
  e.session_id = id;
  e.user = &s.user;
  e.content = &st.contents.name(s.content);
  e.device = &st.devices.name(s.device);
  e.region = &st.regions.name(s.region);
  e.bitrate_kbps = s.bitrate_kbps;
  e.buffer_ms = s.buffer_ms;
  e.position_ms = s.position_ms;
  e.watched_ms =
      kind == session_event::opened || s.paused
          ? 0
          : static_cast<uint32_t>(std::max<int64_t>(0, now - s.last_event_ns) / 1'000'000);
  s.last_event_ns = now;
  e.at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  st.cfg.events(e);
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

// The session `id`, or the error for a request to it.
caf::expected<record*> find(host_state& st, uint64_t id) {
  auto i = st.sessions.find(id);
  if (i != st.sessions.end()) {
    return &i->second;
  }
  if (st.closed.count(id) != 0) {
    return make_error(errc::session_closed, "session " + std::to_string(id) + " is closed");
  }
  return make_error(errc::unknown_session, "no open session " + std::to_string(id));
}

void schedule_sweep(host_actor* self) {
  auto every = std::max(self->state.cfg.idle_timeout / 10, std::chrono::milliseconds{10});
  self->delayed_send(self, every, sweep_atom::value);
}

caf::behavior session_host(host_actor* self, host_settings cfg,
                           std::shared_ptr<flow::load_cell> cell, flow::flow_context* flow) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.cell = std::move(cell);
  st.flow = flow;
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
  schedule_sweep(self);
  return {
      [self](const open_request& r) -> caf::result<uint64_t> {
        auto& st = self->state;
        flow::serving served{*st.cell, self};
        record_latency(st, r.sent_at_ns, served);
        if (auto why = validate(r, st.cfg.limits); !why.empty()) {
          return make_error(errc::invalid_argument, why);
        }
        if (st.sessions.count(r.session_id) != 0) {
          return make_error(errc::session_exists,
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
        rec.last_seen_ns = now_ns(self);
        rec.last_event_ns = rec.last_seen_ns;
        auto& stored = st.sessions.emplace(r.session_id, std::move(rec)).first->second;
        st.closed.erase(r.session_id); // an id may be reused after close
        report(self, session_event::opened, r.session_id, stored);
        return r.session_id;
      },
      [self](const heartbeat_report& h) -> caf::result<caf::ok_atom> {
        auto& st = self->state;
        flow::serving served{*st.cell, self};
        record_latency(st, h.sent_at_ns, served);
        auto rec = find(st, h.session_id);
        if (!rec) {
          return std::move(rec.error());
        }
        if (auto why = validate(h, st.cfg.limits); !why.empty()) {
          return make_error(errc::invalid_argument, why);
        }
        auto& s = **rec;
        s.position_ms = h.position_ms;
        s.bitrate_kbps = static_cast<uint32_t>(h.bitrate_kbps);
        s.buffer_ms = static_cast<uint32_t>(h.buffer_ms);
        s.dropped_frames = static_cast<uint32_t>(h.dropped_frames);
        ++s.heartbeats;
        s.last_seen_ns = now_ns(self);
        report(self, session_event::heartbeat, h.session_id, s);
        return caf::ok_atom::value;
      },
      [self](const command& c) -> caf::result<caf::ok_atom> {
        auto& st = self->state;
        flow::serving served{*st.cell, self};
        auto rec = find(st, c.session_id);
        if (!rec) {
          return std::move(rec.error());
        }
        if (auto why = validate(c, st.cfg.limits); !why.empty()) {
          return make_error(errc::invalid_argument, why);
        }
        auto& s = **rec;
        s.last_seen_ns = now_ns(self);
        switch (c.kind) {
        case command_kind::pause:
          s.paused = true;
          break;
        case command_kind::resume:
          s.paused = false;
          break;
        case command_kind::seek:
          s.position_ms = c.value;
          ++s.seeks;
          break;
        case command_kind::quality:
          s.bitrate_kbps = static_cast<uint32_t>(c.value);
          ++s.quality_changes;
          report(self, session_event::quality_change, c.session_id, s);
          break;
        case command_kind::close:
          report(self, session_event::closed, c.session_id, s);
          st.sessions.erase(c.session_id);
          remember_closed(st, c.session_id);
          break;
        }
        return caf::ok_atom::value;
      },
      [self](caf::get_atom, uint64_t id) -> caf::result<session_info> {
        auto& st = self->state;
        flow::serving served{*st.cell, self};
        auto rec = find(st, id);
        if (!rec) {
          return std::move(rec.error());
        }
        auto& s = **rec;
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
      [self](sessions_atom) {
        flow::serving served{*self->state.cell, self};
        return static_cast<uint64_t>(self->state.sessions.size());
      },
      [self](sweep_atom) {
        auto& st = self->state;
        auto cutoff =
            now_ns(self)
            - std::chrono::duration_cast<std::chrono::nanoseconds>(st.cfg.idle_timeout).count();
        for (auto i = st.sessions.begin(); i != st.sessions.end();) {
          if (i->second.last_seen_ns <= cutoff) {
            remember_closed(st, i->first);
            i = st.sessions.erase(i);
          } else {
            ++i;
          }
        }
        schedule_sweep(self);
      },
  };
}

} // namespace

caf::actor spawn_session_host(caf::actor_system& sys, host_settings settings,
                              std::shared_ptr<flow::load_cell> cell, flow::flow_context* flow) {
  return sys.spawn(session_host, std::move(settings), std::move(cell), flow);
}

caf::message sessions_query() {
  return caf::make_message(sessions_atom::value);
}

} // namespace sv::session
