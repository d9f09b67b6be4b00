#include "actors/session/session_service.hpp"

#include <atomic>
#include <mutex>
#include <vector>

#include "caf/actor_system.hpp"
#include "caf/allowed_unsafe_message_type.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/exit_reason.hpp"
#include "caf/scoped_actor.hpp"
#include "runtime/flow/send.hpp"
#include "runtime/node/node.hpp"

namespace sv::session {

namespace {

using flow::service_class;

// Async calls travel to the relay with their callback; local only, never serialized.
struct async_open {
  open_request request;
  caf::actor host;
  std::function<void(caf::expected<uint64_t>)> done;
};

struct async_heartbeat {
  heartbeat_report request;
  caf::actor host;
  std::function<void(caf::error)> done;
};

} // namespace

} // namespace sv::session

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(sv::session::async_open)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(sv::session::async_heartbeat)

namespace sv::session {

namespace {

// Issues async calls as requests and hands each answer to its callback. Critical work
// keeps its priority on the way to the host.
caf::behavior relay(caf::event_based_actor* self, std::chrono::milliseconds timeout) {
  return {
      [=](const async_open& a) {
        auto done = a.done;
        flow::request(self, a.host, service_class::critical, timeout, a.request)
            .then([done](uint64_t id) { done(id); }, [done](caf::error& err) { done(err); });
      },
      [=](const async_heartbeat& a) {
        auto done = a.done;
        flow::request(self, a.host, service_class::critical, timeout, a.request)
            .then([done](caf::ok_atom) { done(caf::none); },
                  [done](caf::error& err) { done(err); });
      },
  };
}

} // namespace

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
  caf::actor relay_actor;
  critical_slots slots{settings.critical_limit};

  impl(caf::actor_system& s, flow::flow_context& f, service_settings cfg)
      : sys(s), flow(f), settings(std::move(cfg)) {
    auto n = std::max<size_t>(1, settings.hosts);
    for (size_t i = 0; i < n; ++i) {
      flow::target t;
      t.cell = flow.make_cell("session_host");
      t.handle = spawn_session_host(sys, settings.host, t.cell, &flow);
      hosts.push_back(std::move(t));
    }
    relay_actor = sys.spawn(relay, settings.request_timeout);
  }

  ~impl() {
    caf::scoped_actor self{sys};
    for (auto& t : hosts) {
      self->send_exit(t.handle, caf::exit_reason::user_shutdown);
      self->wait_for(t.handle);
    }
    self->send_exit(relay_actor, caf::exit_reason::user_shutdown);
    self->wait_for(relay_actor);
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
  s.hosts = cfg.sessions.hosts;
  s.host.idle_timeout = std::chrono::milliseconds{cfg.sessions.idle_timeout_ms};
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
  h.sent_at_ns = steady_now_ns();
  auto& t = impl_->host_of(h.session_id);
  auto d = flow::admit(impl_->flow, t, service_class::critical);
  if (!d.admitted()) {
    impl_->slots.release(h.sent_at_ns);
    done(flow::refusal(service_class::critical, d));
    return;
  }
  auto finish = [slots = &impl_->slots, started = h.sent_at_ns,
                 done = std::move(done)](caf::error err) {
    slots->release(started);
    done(std::move(err));
  };
  caf::anon_send<caf::message_priority::high>(
      impl_->relay_actor, async_heartbeat{std::move(h), t.handle, std::move(finish)});
}

void service::open_async(open_request r, std::function<void(caf::expected<uint64_t>)> done) {
  if (auto err = impl_->slots.acquire()) {
    done(std::move(err));
    return;
  }
  r.sent_at_ns = steady_now_ns();
  auto& t = impl_->host_of(r.session_id);
  auto d = flow::admit(impl_->flow, t, service_class::critical);
  if (!d.admitted()) {
    impl_->slots.release(r.sent_at_ns);
    done(flow::refusal(service_class::critical, d));
    return;
  }
  auto finish = [slots = &impl_->slots, started = r.sent_at_ns,
                 done = std::move(done)](caf::expected<uint64_t> x) {
    slots->release(started);
    done(std::move(x));
  };
  caf::anon_send<caf::message_priority::high>(
      impl_->relay_actor, async_open{std::move(r), t.handle, std::move(finish)});
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
