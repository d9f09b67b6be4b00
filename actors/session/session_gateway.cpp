#include "actors/session/session_gateway.hpp"

#include "actors/session/session_service.hpp"
#include "actors/session/session_types.hpp"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/send.hpp"
#include "runtime/cluster/client.hpp"
#include "runtime/cluster/endpoint.hpp"
#include "runtime/flow/send.hpp"
#include "runtime/node/node.hpp"

namespace sv::session {

namespace {

constexpr auto service_name = caf::atom("sv_sessgw");

// Admits `msg` for the host of `session_id` and delegates it there (the host answers the
// caller); a refusal is the answer.
template <class Msg>
caf::result<caf::message> pass_on(caf::event_based_actor* self, service& sessions,
                                  uint64_t session_id, flow::service_class c, Msg msg) {
  auto& t = sessions.route(session_id);
  auto d = flow::admit(sessions.flow(), t, c);
  if (!d.admitted()) {
    return flow::refusal(c, d);
  }
  if (!self->current_message_id().is_request()) {
    // A one-way message: passed on without a sender, so that no answer travels back (CAF
    // 0.17 clients lost their proxies of the node when answers to one-way messages
    // arrived).
    if (c == flow::service_class::critical) {
      caf::anon_send<caf::message_priority::high>(t.handle, std::move(msg));
    } else {
      caf::anon_send(t.handle, std::move(msg));
    }
    return caf::message{};
  }
  auto rp = self->make_response_promise();
  if (c == flow::service_class::critical) {
    rp.delegate<caf::message_priority::high>(t.handle, std::move(msg));
  } else {
    rp.delegate(t.handle, std::move(msg));
  }
  return rp;
}

caf::behavior gateway_behavior(caf::event_based_actor* self, service* sessions) {
  using flow::service_class;
  return {
      [=](open_request& r) {
        r.sent_at_ns = steady_now_ns(); // latency as this node sees it
        auto id = r.session_id;
        return pass_on(self, *sessions, id, service_class::critical, std::move(r));
      },
      [=](heartbeat_report& h) {
        h.sent_at_ns = steady_now_ns();
        auto id = h.session_id;
        return pass_on(self, *sessions, id, service_class::critical, std::move(h));
      },
      [=](const command& c) {
        auto cls =
            c.kind == command_kind::close ? service_class::critical : service_class::interactive;
        return pass_on(self, *sessions, c.session_id, cls, c);
      },
  };
}

} // namespace

void register_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<open_request>("sv.session.open_request");
  cfg.add_message_type<heartbeat_report>("sv.session.heartbeat");
  cfg.add_message_type<command>("sv.session.command");
  cfg.add_message_type<session_info>("sv.session.session_info");
}

gateway::gateway(node& n, service& sessions)
    : sys_(n.system()), actor_(sys_.spawn(gateway_behavior, &sessions)) {
  cluster::register_service(sys_, service_name, actor_);
}

gateway::~gateway() {
  sys_.registry().erase(service_name);
  caf::scoped_actor self{sys_};
  self->send_exit(actor_, caf::exit_reason::user_shutdown);
  self->wait_for(actor_);
}

caf::expected<caf::actor> connect_gateway(caf::actor_system& sys, const std::string& host,
                                          uint16_t port, std::chrono::milliseconds timeout) {
  return cluster::lookup_service(sys, host, port, service_name, timeout);
}

} // namespace sv::session
