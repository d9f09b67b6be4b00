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
constexpr auto sessions_timeout = std::chrono::milliseconds{5'000};

// The host's answer to each request type.
template <class Msg>
struct reply;
template <>
struct reply<open_request> {
  using type = uint64_t;
};
template <>
struct reply<heartbeat_report> {
  using type = caf::ok_atom;
};
template <>
struct reply<command> {
  using type = caf::ok_atom;
};

// Admits `msg` for the host of `session_id` and sends it there (critical work in the
// urgent queue); the host's answer, or the refusal, goes to `rp`. One-way messages (no
// `rp`) are passed on without a sender, so that no answer travels back (CAF 0.17 clients
// lost their proxies of the node when answers to one-way messages arrived).
//
// Not `delegate`: a request delegated with high priority is answered with a message id
// that CAF 0.17 no longer matches to the original request (the caller times out).
template <class Msg>
void pass_on(caf::event_based_actor* self, service& sessions, uint64_t session_id,
             flow::service_class c, Msg msg, caf::response_promise* rp) {
  auto& t = sessions.route(session_id);
  auto d = flow::admit(sessions.flow(), t, c);
  if (!d.admitted()) {
    if (rp != nullptr) {
      rp->deliver(flow::refusal(c, d));
    }
    return;
  }
  if (rp == nullptr) {
    if (c == flow::service_class::critical) {
      caf::anon_send<caf::message_priority::high>(t.handle, std::move(msg));
    } else {
      caf::anon_send(t.handle, std::move(msg));
    }
    return;
  }
  using answer = typename reply<Msg>::type;
  flow::request(self, t.handle, c, sessions_timeout, std::move(msg))
      .then([p = *rp](answer& a) mutable { p.deliver(std::move(a)); },
            [p = *rp](caf::error& err) mutable { p.deliver(std::move(err)); });
}

// For a handler: the answer comes later through a response promise (none for one-way).
template <class Msg>
caf::result<caf::message> pass_on(caf::event_based_actor* self, service& sessions,
                                  uint64_t session_id, flow::service_class c, Msg msg) {
  if (!self->current_message_id().is_request()) {
    pass_on(self, sessions, session_id, c, std::move(msg), nullptr);
    return caf::message{};
  }
  auto rp = self->make_response_promise();
  pass_on(self, sessions, session_id, c, std::move(msg), &rp);
  return rp;
}

caf::behavior gateway_behavior(caf::event_based_actor* self, service* sessions,
                               caf::actor verifier) {
  using flow::service_class;
  return {
      [=](open_request& r) -> caf::result<caf::message> {
        auto id = r.session_id;
        if (!verifier) {
          r.sent_at_ns = steady_now_ns(); // latency as this node sees it
          return pass_on(self, *sessions, id, service_class::critical, std::move(r));
        }
        // May this viewer play this title here and now? Then on to the host; else the
        // verifier's reason is the answer.
        auto one_way = !self->current_message_id().is_request();
        caf::response_promise rp;
        if (!one_way) {
          rp = self->make_response_promise();
        }
        self->request(verifier, caf::duration{std::chrono::seconds{2}}, verify_atom::value, r)
            .then(
                [=](caf::ok_atom) mutable {
                  auto req = r;
                  req.sent_at_ns = steady_now_ns();
                  pass_on(self, *sessions, id, service_class::critical, std::move(req),
                          one_way ? nullptr : &rp);
                },
                [=](caf::error& err) mutable {
                  if (!one_way) {
                    rp.deliver(std::move(err));
                  }
                });
        if (one_way) {
          return caf::message{};
        }
        return rp;
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

gateway::gateway(node& n, service& sessions, caf::actor verifier)
    : sys_(n.system()), actor_(sys_.spawn(gateway_behavior, &sessions, std::move(verifier))) {
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
