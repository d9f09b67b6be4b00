#include "actors/session/session_gateway.hpp"
#include "actors/session/session_errc.hpp"
#include "actors/session/session_settings.hpp"

#include <algorithm>
#include <unordered_map>

#include "actors/session/session_service.hpp"
#include "actors/session/session_types.hpp"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"
#include "caf/typed_event_based_actor.hpp"
#include "caf/typed_response_promise.hpp"
#include "runtime/cluster/client.hpp"
#include "runtime/cluster/endpoint.hpp"
#include "runtime/flow/flow_context.hpp"
#include "runtime/node/node.hpp"
#include "runtime/util/clock.hpp"
#include "runtime/wire/errc.hpp"
#include "runtime/wire/message_types.hpp"
#include "runtime/wire/undecodable.hpp"

namespace sv::session {

namespace {

constexpr auto service_name = caf::atom("sv_sessgw");

// A batch under way: its answer, where the results go, and what to refuse should its
// deadline come first.
struct pending_batch {
  caf::typed_response_promise<edge_answer> rp;
  std::shared_ptr<batch_join> join;
  // Result slots per part (as service::dispatch added them).
  std::vector<std::vector<uint32_t>> parts;
  // The opens wait for the verifier (a hold on the join); their slots are 0..opens-1.
  bool verifying = false;
  uint32_t opens = 0;
};

struct gateway_state {
  service* sessions = nullptr;
  caf::actor verifier;
  std::shared_ptr<flow::load_cell> cell; // the gateway's own time, for utilization
  std::shared_ptr<const std::vector<caf::actor>> gateways;
  uint64_t next_id = 0;
  std::unordered_map<uint64_t, pending_batch> pending;

  static inline const char* name = "sv.session.gateway";
};

using gateway_pointer = gateway_actor::stateful_pointer<gateway_state>;

item_result late(const char* what) {
  item_result r;
  r.code = static_cast<uint8_t>(errc::overloaded);
  r.retry_after_ms = 100;
  r.detail = what;
  return r;
}

// The verifier's answer for the opens of batch `id`: the admitted ones go to their hosts.
void opens_verified(gateway_pointer self, uint64_t id, std::vector<open_request> opens,
                    const std::vector<item_result>& verdicts) {
  auto i = self->state.pending.find(id);
  if (i == self->state.pending.end() || !i->second.verifying) {
    return; // answered at its deadline already
  }
  auto& p = i->second;
  p.verifying = false;
  batch_items items;
  auto now = steady_now_ns();
  for (uint32_t k = 0; k < opens.size(); ++k) {
    if (k < verdicts.size() && !verdicts[k].ok()) {
      p.join->results()[k] = verdicts[k];
      continue;
    }
    opens[k].sent_at_ns = now;
    items.opens.push_back(std::move(opens[k]));
    items.opens_at.push_back(k);
  }
  auto max_wait =
      std::min(std::chrono::nanoseconds{std::max<int64_t>(0, p.join->deadline_ns() - now) / 2},
               self->state.sessions->flow().settings().budget.critical_p99);
  auto parts = self->state.sessions->dispatch(p.join, std::move(items), max_wait);
  p.parts.insert(p.parts.end(), std::make_move_iterator(parts.begin()),
                 std::make_move_iterator(parts.end()));
  p.join->finish(); // the hold taken for the opens
}

caf::result<edge_answer> take_batch(gateway_pointer self, edge_batch& b) {
  auto& st = self->state;
  flow::serving served{*st.cell, false, static_cast<int64_t>(std::max<size_t>(1, b.size()))};
  auto now = steady_now_ns();
  auto budget_ms = std::clamp<int64_t>(b.budget_ms, 1, 600'000);
  // Time on the way here (the sender's queue, the network, this node's own backlog):
  // past the critical budget the node is behind, and working on the batch would only
  // answer it late and delay the batches behind it.
  auto& flow = st.sessions->flow();
  auto transit_ms = b.sent_at_ms > 0 ? sv::clock::wall_ms() - b.sent_at_ms : 0;
  if (transit_ms < 0 || transit_ms > 60'000) {
    transit_ms = 0; // clocks too far apart to say
  }
  auto budget =
      std::chrono::duration_cast<std::chrono::milliseconds>(flow.settings().budget.critical_p99);
  if (transit_ms > budget.count() && b.size() > 0) {
    item_result r;
    r.code = static_cast<uint8_t>(errc::overloaded);
    r.retry_after_ms = static_cast<uint32_t>(std::min<int64_t>(transit_ms, 5000));
    r.detail = "critical: the batch waited " + std::to_string(transit_ms)
               + " ms on the way to the gateway";
    for (size_t k = 0; k < b.size(); ++k) {
      flow.admission().count_refusal(flow::service_class::critical);
    }
    return edge_answer{std::vector<item_result>(b.size(), r)};
  }
  budget_ms = std::max<int64_t>(1, budget_ms - transit_ms);
  // A tenth of the budget (at least 1 ms, at most 100) is kept for the answer's way back.
  auto margin_ms = std::clamp<int64_t>(budget_ms / 10, 1, 100);
  auto deadline = now + (budget_ms - std::min(margin_ms, budget_ms - 1)) * 1'000'000;
  auto id = ++st.next_id;
  caf::weak_actor_ptr weak{self->ctrl()};
  // Parts: one dispatch now, one for the verified opens.
  auto max_parts = 2 * st.sessions->max_parts();
  auto join = std::make_shared<batch_join>(b.size(), deadline, max_parts, [weak, id](batch_join&) {
    if (auto strong = weak.lock()) {
      // Urgent: an answer waits for it, ahead of batches still to be dispatched.
      caf::anon_send<caf::message_priority::high>(caf::actor_cast<gateway_actor>(strong),
                                                  done_atom::value, id);
    }
  });
  auto opens = static_cast<uint32_t>(b.opens.size());
  auto beats = static_cast<uint32_t>(b.heartbeats.size());
  batch_items items;
  items.heartbeats = std::move(b.heartbeats);
  for (uint32_t k = 0; k < items.heartbeats.size(); ++k) {
    items.heartbeats[k].sent_at_ns = now; // latency as this node sees it
    items.heartbeats_at.push_back(opens + k);
  }
  items.commands = std::move(b.commands);
  for (uint32_t k = 0; k < items.commands.size(); ++k) {
    items.commands_at.push_back(opens + beats + k);
  }
  if (!st.verifier) {
    items.opens = std::move(b.opens);
    for (uint32_t k = 0; k < opens; ++k) {
      items.opens[k].sent_at_ns = now;
      items.opens_at.push_back(k);
    }
  }
  auto& p = st.pending[id];
  p.rp = self->make_response_promise<edge_answer>();
  p.join = join;
  p.opens = opens;
  // Critical items are admitted only where their host's queue would serve them within the
  // node's critical budget (flow.critical_budget_ms) and half the time left: what could not
  // make it is refused now, not after its deadline.
  auto max_wait = std::min(std::chrono::nanoseconds{(deadline - now) / 2},
                           st.sessions->flow().settings().budget.critical_p99);
  p.parts = st.sessions->dispatch(join, std::move(items), max_wait);
  if (st.verifier && opens > 0) {
    // One more hold for the opens, released once they are dispatched (or expired).
    join->hold();
    p.verifying = true;
    auto list = std::move(b.opens);
    self->request(st.verifier, caf::duration{std::chrono::milliseconds{budget_ms}},
                  verify_atom::value, list)
        .then(
            [self, id, list](std::vector<item_result>& verdicts) mutable {
              opens_verified(self, id, std::move(list), verdicts);
            },
            [self, id, opens](caf::error& err) {
              auto i = self->state.pending.find(id);
              if (i == self->state.pending.end() || !i->second.verifying) {
                return;
              }
              i->second.verifying = false;
              auto r = is(err, errc::overloaded) || err == caf::sec::request_timeout
                           ? late("critical: the verifier did not answer in time")
                           : to_result(err);
              for (uint32_t k = 0; k < opens; ++k) {
                i->second.join->results()[k] = r;
              }
              i->second.join->finish();
            });
  }
  join->finish(); // the dispatcher's hold
  self->delayed_send<caf::message_priority::high>(self, std::chrono::nanoseconds{deadline - now},
                                                  expire_atom::value, id);
  return p.rp;
}

// The deadline of batch `id`: what its hosts have not taken up is refused now.
void expire(gateway_pointer self, uint64_t id) {
  auto i = self->state.pending.find(id);
  if (i == self->state.pending.end()) {
    return;
  }
  auto& p = i->second;
  auto& results = p.join->results();
  auto refused = late("critical: not served within the batch's budget");
  if (p.verifying) { // the opens still at the verifier
    p.verifying = false;
    for (uint32_t k = 0; k < p.opens; ++k) {
      results[k] = refused;
    }
    p.join->finish();
  }
  for (uint32_t part = 0; part < p.parts.size(); ++part) {
    if (p.join->expire(part)) {
      for (auto at : p.parts[part]) {
        results[at] = refused;
      }
      p.join->finish();
    }
  }
}

gateway_actor::behavior_type
gateway_behavior(gateway_pointer self, service* sessions, caf::actor verifier,
                 std::shared_ptr<flow::load_cell> cell,
                 std::shared_ptr<const std::vector<caf::actor>> gateways) {
  wire::answer_undecodable(self, "session gateway"); // never renders what it does not know
  self->state.sessions = sessions;
  self->state.gateways = std::move(gateways);
  self->state.verifier = std::move(verifier);
  self->state.cell = std::move(cell);
  // A payload that failed to decode arrives as an empty message: answer it clearly.
  self->set_default_handler(
      [](caf::scheduled_actor*, caf::message_view& x) -> caf::result<caf::message> {
        if (x.content().empty()) {
          return wire::undecodable("session gateway");
        }
        return caf::sec::unexpected_message;
      });
  return {
      [self](edge_batch& b) -> caf::result<edge_answer> { return take_batch(self, b); },
      [self](caf::get_atom, gateways_atom) -> std::vector<caf::actor> {
        return *self->state.gateways;
      },
      [self](done_atom, uint64_t id) {
        auto i = self->state.pending.find(id);
        if (i == self->state.pending.end()) {
          return;
        }
        i->second.rp.deliver(edge_answer{std::move(i->second.join->results())});
        self->state.pending.erase(i);
      },
      [self](expire_atom, uint64_t id) { expire(self, id); },
  };
}

} // namespace

void register_message_types(caf::actor_system_config& cfg) {
  add_error_domain<session_errc>(cfg, "session");
  cfg.add_message_type<open_request>("sv.session.open_request");
  cfg.add_message_type<heartbeat_report>("sv.session.heartbeat");
  cfg.add_message_type<command>("sv.session.command");
  cfg.add_message_type<session_info>("sv.session.session_info");
  cfg.add_message_type<item_result>("sv.session.item_result");
  cfg.add_message_type<std::vector<item_result>>("std::vector<sv.session.item_result>");
  cfg.add_message_type<edge_batch>("sv.session.edge_batch");
  cfg.add_message_type<edge_answer>("sv.session.edge_answer");
}

gateway::gateway(node& n, service& sessions, caf::actor verifier, size_t count) : sys_(n.system()) {
  if (count == 0) {
    count = std::max<size_t>(1, n.settings().section<config::session_node_settings>().gateways);
  }
  // Each gets the whole list, filled before any client can ask (registered below).
  auto all = std::make_shared<std::vector<caf::actor>>();
  for (size_t i = 0; i < count; ++i) {
    auto cell = n.flow().make_cell("session_gateway");
    actors_.push_back(sys_.spawn(gateway_behavior, &sessions, verifier, cell,
                                 std::shared_ptr<const std::vector<caf::actor>>{all}));
    all->push_back(caf::actor_cast<caf::actor>(actors_.back()));
  }
  cluster::register_service(sys_, service_name, all->front());
}

gateway::~gateway() {
  sys_.registry().erase(service_name);
  caf::scoped_actor self{sys_};
  for (auto& g : actors_) {
    self->send_exit(g, caf::exit_reason::user_shutdown);
    self->wait_for(g);
  }
}

caf::actor gateway::handle() const {
  return caf::actor_cast<caf::actor>(actors_.front());
}

caf::expected<gateway_actor> connect_gateway(caf::actor_system& sys, const std::string& host,
                                             uint16_t port, std::chrono::milliseconds timeout) {
  auto a = cluster::lookup_service(sys, host, port, service_name, timeout);
  if (!a) {
    return a.error();
  }
  return caf::actor_cast<gateway_actor>(*a);
}

} // namespace sv::session
