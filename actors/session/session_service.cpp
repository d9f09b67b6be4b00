#include "actors/session/session_service.hpp"
#include "actors/session/session_settings.hpp"

#include <atomic>
#include <limits>
#include <mutex>
#include <vector>

#include "caf/actor_system.hpp"
#include "caf/allowed_unsafe_message_type.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/exit_reason.hpp"
#include "caf/scoped_actor.hpp"
#include "runtime/flow/send.hpp"
#include "runtime/node/node.hpp"
#include "runtime/util/clock.hpp"

namespace sv::session {

using flow::service_class;

// The adaptive limit is single-owner; callers come from any thread.
class critical_slots {
public:
  explicit critical_slots(flow::adaptive_limit_settings s) : limit_(s) {}

  // A slot, or the refusal to answer with.
  caf::error acquire() {
    std::lock_guard<std::mutex> guard{mtx_};
    if (limit_.try_acquire()) {
      return caf::none;
    }
    refusals_.fetch_add(1, std::memory_order_relaxed);
    auto hint = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::nanoseconds{static_cast<int64_t>(limit_.long_rtt_ns())});
    return make_overloaded("critical", std::max(hint, std::chrono::milliseconds{1}));
  }

  void release(int64_t started_ns) {
    std::lock_guard<std::mutex> guard{mtx_};
    limit_.release(std::chrono::nanoseconds{steady_now_ns() - started_ns});
  }

  uint32_t limit() {
    std::lock_guard<std::mutex> guard{mtx_};
    return limit_.limit();
  }

  uint64_t refusals() const noexcept {
    return refusals_.load(std::memory_order_relaxed);
  }

private:
  std::mutex mtx_;
  flow::adaptive_limit limit_;
  std::atomic<uint64_t> refusals_{0};
};

struct service::impl {
  caf::actor_system& sys;
  flow::flow_context& flow;
  service_settings settings;
  std::vector<flow::target> hosts;
  critical_slots slots{settings.critical_limit};

  std::shared_ptr<std::atomic<int64_t>> open_count = std::make_shared<std::atomic<int64_t>>(0);

  impl(caf::actor_system& s, flow::flow_context& f, service_settings cfg)
      : sys(s), flow(f), settings(std::move(cfg)) {
    settings.host.outputs.open_count = open_count;
    auto n = std::max<size_t>(1, settings.hosts);
    for (size_t i = 0; i < n; ++i) {
      flow::target t;
      t.cell = flow.make_cell("session_host");
      t.handle = caf::actor_cast<caf::actor>(
          spawn_session_host(sys, settings.host, t.cell, &flow, static_cast<uint32_t>(i)));
      hosts.push_back(std::move(t));
    }
  }

  ~impl() {
    caf::scoped_actor self{sys};
    for (auto& t : hosts) {
      self->send_exit(t.handle, caf::exit_reason::user_shutdown);
      self->wait_for(t.handle);
    }
  }

  const flow::target& host_of(uint64_t session_id) const {
    return hosts[session_id % hosts.size()];
  }

  // A blocking request through the gate; T is what the host answers.
  template <class T, class... Ts>
  caf::expected<T> call(const flow::target& t, service_class c, Ts&&... xs) {
    return flow::blocking_request<T>(sys, flow, t, c, settings.request_timeout,
                                     std::forward<Ts>(xs)...);
  }

  // One item through dispatch(), its result to `done` (on the host's thread, or at once
  // on the caller's when refused).
  std::shared_ptr<batch_join> single(std::function<void(const item_result&)> done) {
    auto deadline = steady_now_ns() + std::chrono::nanoseconds{settings.request_timeout}.count();
    return std::make_shared<batch_join>(
        1, deadline, 1, [done = std::move(done)](batch_join& j) { done(j.results()[0]); });
  }
};

namespace {

caf::error to_error(caf::expected<caf::ok_atom> x) {
  return x ? caf::error{} : std::move(x.error());
}

service_class class_of(const command& c) {
  // Closing frees resources and must not be shed; the rest is interactive.
  return c.kind == command_kind::close ? service_class::critical : service_class::interactive;
}

} // namespace

service::service(caf::actor_system& sys, flow::flow_context& flow, service_settings settings)
    : impl_(std::make_unique<impl>(sys, flow, std::move(settings))) {}

service::service(node& n, service_settings settings)
    : service(n.system(), n.flow(), std::move(settings)) {}

service_settings service_settings_from(const config::node_settings& cfg) {
  service_settings s;
  s.hosts = cfg.section<config::session_node_settings>().hosts;
  s.host.idle_timeout =
      std::chrono::milliseconds{cfg.section<config::session_node_settings>().idle_timeout_ms};
  s.host.outputs.checkpoint_interval =
      std::chrono::milliseconds{cfg.section<config::watch_node_settings>().checkpoint_ms};
  // Unique per node lifetime: a restarted node's events never share ids with its past.
  s.host.source_prefix = cfg.name + "#" + std::to_string(sv::clock::wall_ms());
  return s;
}

service::service(node& n) : service(n, service_settings_from(n.settings())) {}

service::~service() = default;

caf::expected<uint64_t> service::open(open_request r) {
  if (auto err = impl_->slots.acquire()) {
    return err;
  }
  r.sent_at_ns = steady_now_ns();
  auto started = r.sent_at_ns;
  auto& t = impl_->host_of(r.session_id);
  auto result = impl_->call<uint64_t>(t, service_class::critical, std::move(r));
  impl_->slots.release(started);
  return result;
}

caf::error service::heartbeat(heartbeat_report h) {
  if (auto err = impl_->slots.acquire()) {
    return err;
  }
  h.sent_at_ns = steady_now_ns();
  auto started = h.sent_at_ns;
  auto& t = impl_->host_of(h.session_id);
  auto result = to_error(impl_->call<caf::ok_atom>(t, service_class::critical, std::move(h)));
  impl_->slots.release(started);
  return result;
}

caf::error service::apply(const command& c) {
  auto cls = class_of(c);
  if (cls == service_class::critical) {
    if (auto err = impl_->slots.acquire()) {
      return err;
    }
  }
  auto started = steady_now_ns();
  auto& t = impl_->host_of(c.session_id);
  auto result = to_error(impl_->call<caf::ok_atom>(t, cls, c));
  if (cls == service_class::critical) {
    impl_->slots.release(started);
  }
  return result;
}

caf::expected<session_info> service::info(uint64_t session_id) {
  auto& t = impl_->host_of(session_id);
  return impl_->call<session_info>(t, service_class::interactive, caf::get_atom::value, session_id);
}

caf::expected<uint64_t> service::open_sessions() {
  uint64_t total = 0;
  for (auto& t : impl_->hosts) {
    auto n = impl_->call<uint64_t>(t, service_class::interactive, sessions_query());
    if (!n) {
      return n.error();
    }
    total += *n;
  }
  return total;
}

uint64_t service::open_sessions_now() const noexcept {
  return static_cast<uint64_t>(std::max<int64_t>(0, impl_->open_count->load()));
}

caf::error service::heartbeat_async(heartbeat_report h) {
  h.sent_at_ns = steady_now_ns();
  return flow::send(impl_->flow, impl_->host_of(h.session_id), service_class::critical,
                    std::move(h));
}

void service::heartbeat_async(heartbeat_report h, std::function<void(caf::error)> done) {
  if (auto err = impl_->slots.acquire()) {
    done(std::move(err));
    return;
  }
  auto started = steady_now_ns();
  h.sent_at_ns = started;
  auto join =
      impl_->single([slots = &impl_->slots, started, done = std::move(done)](const item_result& r) {
        slots->release(started);
        done(to_error(r));
      });
  batch_items items;
  items.heartbeats.push_back(std::move(h));
  items.heartbeats_at.push_back(0);
  dispatch(join, std::move(items));
  join->finish();
}

void service::open_async(open_request r, std::function<void(caf::expected<uint64_t>)> done) {
  if (auto err = impl_->slots.acquire()) {
    done(std::move(err));
    return;
  }
  auto started = steady_now_ns();
  r.sent_at_ns = started;
  auto id = r.session_id;
  auto join = impl_->single(
      [slots = &impl_->slots, started, id, done = std::move(done)](const item_result& x) {
        slots->release(started);
        if (x.ok()) {
          done(id);
        } else {
          done(to_error(x));
        }
      });
  batch_items items;
  items.opens.push_back(std::move(r));
  items.opens_at.push_back(0);
  dispatch(join, std::move(items));
  join->finish();
}

std::vector<std::vector<uint32_t>> service::dispatch(const std::shared_ptr<batch_join>& join,
                                                     batch_items items,
                                                     std::chrono::nanoseconds max_wait) {
  auto& hosts = impl_->hosts;
  auto& ctx = impl_->flow;
  auto n_hosts = hosts.size();
  // One piece of work per host and class: slot h (critical) or n_hosts + h (interactive).
  // First every item's slot (or its refusal), then the work sized exactly, then filled.
  constexpr uint32_t refused = std::numeric_limits<uint32_t>::max();
  auto decide = [&](uint64_t session_id, service_class c, uint32_t at) -> uint32_t {
    auto h = session_id % n_hosts;
    auto& cell = *hosts[h].cell;
    if (c == service_class::critical && max_wait.count() > 0) {
      auto wait = cell.service_time() * cell.depth();
      if (wait > max_wait) {
        auto hint = std::chrono::duration_cast<std::chrono::milliseconds>(wait);
        join->results()[at] =
            to_result(make_overloaded("critical", std::max(hint, std::chrono::milliseconds{50})));
        ctx.admission().count_refusal(c);
        return refused;
      }
    }
    auto d = flow::admit(ctx, hosts[h], c);
    if (!d.admitted()) {
      join->results()[at] = to_result(flow::refusal(c, d));
      return refused;
    }
    return static_cast<uint32_t>(c == service_class::critical ? h : n_hosts + h);
  };
  struct counts {
    uint32_t opens = 0, heartbeats = 0, commands = 0;
  };
  std::vector<counts> sizes(2 * n_hosts);
  std::vector<uint32_t> open_slot(items.opens.size());
  std::vector<uint32_t> beat_slot(items.heartbeats.size());
  std::vector<uint32_t> command_slot(items.commands.size());
  for (size_t i = 0; i < items.opens.size(); ++i) {
    open_slot[i] = decide(items.opens[i].session_id, service_class::critical, items.opens_at[i]);
    if (open_slot[i] != refused) {
      ++sizes[open_slot[i]].opens;
    }
  }
  for (size_t i = 0; i < items.heartbeats.size(); ++i) {
    beat_slot[i] =
        decide(items.heartbeats[i].session_id, service_class::critical, items.heartbeats_at[i]);
    if (beat_slot[i] != refused) {
      ++sizes[beat_slot[i]].heartbeats;
    }
  }
  for (size_t i = 0; i < items.commands.size(); ++i) {
    auto& c = items.commands[i];
    auto cls = c.kind == command_kind::close ? service_class::critical : service_class::interactive;
    command_slot[i] = decide(c.session_id, cls, items.commands_at[i]);
    if (command_slot[i] != refused) {
      ++sizes[command_slot[i]].commands;
    }
  }
  // Every part is added before any is sent: the join's part list must not change while
  // a host reads it.
  std::vector<host_work> work(2 * n_hosts);
  std::vector<std::vector<uint32_t>> parts;
  for (size_t k = 0; k < work.size(); ++k) {
    auto& n = sizes[k];
    if (n.opens + n.heartbeats + n.commands == 0) {
      continue;
    }
    auto& w = work[k];
    w.join = join;
    w.part = join->add_part();
    w.opens.reserve(n.opens);
    w.opens_at.reserve(n.opens);
    w.heartbeats.reserve(n.heartbeats);
    w.heartbeats_at.reserve(n.heartbeats);
    w.commands.reserve(n.commands);
    w.commands_at.reserve(n.commands);
  }
  for (size_t i = 0; i < items.opens.size(); ++i) {
    if (open_slot[i] != refused) {
      auto& w = work[open_slot[i]];
      w.opens.push_back(std::move(items.opens[i]));
      w.opens_at.push_back(items.opens_at[i]);
    }
  }
  for (size_t i = 0; i < items.heartbeats.size(); ++i) {
    if (beat_slot[i] != refused) {
      auto& w = work[beat_slot[i]];
      w.heartbeats.push_back(items.heartbeats[i]);
      w.heartbeats_at.push_back(items.heartbeats_at[i]);
    }
  }
  for (size_t i = 0; i < items.commands.size(); ++i) {
    if (command_slot[i] != refused) {
      auto& w = work[command_slot[i]];
      w.commands.push_back(items.commands[i]);
      w.commands_at.push_back(items.commands_at[i]);
    }
  }
  for (size_t k = 0; k < work.size(); ++k) {
    auto& w = work[k];
    if (!w.join) {
      continue;
    }
    parts.push_back(w.slots());
  }
  for (size_t k = 0; k < work.size(); ++k) {
    if (!work[k].join) {
      continue;
    }
    auto& handle = hosts[k % n_hosts].handle;
    if (k < n_hosts) {
      caf::anon_send<caf::message_priority::high>(handle, std::move(work[k]));
    } else {
      caf::anon_send(handle, std::move(work[k]));
    }
  }
  return parts;
}

size_t service::max_parts() const noexcept {
  return 2 * impl_->hosts.size();
}

size_t service::host_count() const noexcept {
  return impl_->hosts.size();
}

uint32_t service::critical_limit() const {
  return impl_->slots.limit();
}

uint64_t service::critical_limit_refusals() const noexcept {
  return impl_->slots.refusals();
}

const flow::target& service::route(uint64_t session_id) const noexcept {
  return impl_->host_of(session_id);
}

flow::flow_context& service::flow() noexcept {
  return impl_->flow;
}

} // namespace sv::session
