#pragma once

// Host-defined entity types: virtual actors with activation on first use, passivation
// when idle, and the node's flow control, the Orleans grain / Akka sharding idea on CAF.
//
// An entity type is a plain class:
//
//   struct view_counter {
//     using request = view_event;              // what it is sent (a CAF message type)
//     using reply = uint64_t;                  // what it answers
//     caf::expected<reply> handle(uint64_t key, const request& r);
//     void on_activate(uint64_t key);          // optional: load its state
//     void on_passivate(uint64_t key);         // optional: persist before it goes
//   };
//
//   auto counters = sv::entity::entities<view_counter>(node, "view_counter");
//   counters->request(42, sv::flow::service_class::interactive, view_event{...});
//
// Each key maps to one shard actor (key % shards), which keeps its active entities in an
// activation_table (activation_table.hpp, shared with the domain's sharded hosts); a shard
// processes the messages of its entities one at a time, so an entity sees its requests in order and
// alone. The first message for a key default-constructs its entity; an entity that received nothing
// for `idle_timeout` is passivated (on_passivate, then destroyed). Every send asks the node's gate
// first: a refused request is answered `overloaded` with a retry-after hint and never enqueued;
// critical requests use CAF's urgent queue, and how long they waited feeds the node's
// critical-latency histogram (the degrader's signal). Actors that send to a shard directly send
// (entity_atom, key, send time from flow::steady_now_ns(), request) after flow::admit().
//
// This header includes CAF's actor templates; include it only where a type is
// registered or used.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/exit_reason.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/stateful_actor.hpp"
#include "runtime/entity/activation_table.hpp"
#include "runtime/flow/flow_context.hpp"
#include "runtime/flow/send.hpp"
#include "runtime/node/node.hpp"
#include "runtime/util/clock.hpp"

namespace sv::entity {

struct entity_settings {
  /// Shard actors of this type on this node.
  size_t shards = 8;
  /// An entity that received nothing for this long is passivated.
  std::chrono::milliseconds idle_timeout{60'000};
  /// Deadline of a blocking request.
  std::chrono::milliseconds request_timeout{5'000};
};

using entity_atom = caf::atom_constant<caf::atom("sv_ent")>;
using active_atom = caf::atom_constant<caf::atom("sv_active")>;
using passivate_atom = caf::atom_constant<caf::atom("sv_pasv")>;

namespace detail {

template <class T, class = void>
struct has_on_activate : std::false_type {};

template <class T>
struct has_on_activate<T, std::void_t<decltype(std::declval<T&>().on_activate(uint64_t{}))>>
    : std::true_type {};

template <class T, class = void>
struct has_on_passivate : std::false_type {};

template <class T>
struct has_on_passivate<T, std::void_t<decltype(std::declval<T&>().on_passivate(uint64_t{}))>>
    : std::true_type {};

template <class Entity>
struct shard_state {
  activation_table<Entity> active;
  std::shared_ptr<flow::load_cell> cell;
  /// Where the waiting time of critical requests is reported (may be null).
  flow::flow_context* flow = nullptr;
  std::chrono::milliseconds idle_timeout{0};

  shard_state() = default;
  shard_state(const shard_state&) = delete;
  shard_state& operator=(const shard_state&) = delete;

  // The state goes when the shard exits: every active entity is passivated first, so
  // none loses what it would persist.
  ~shard_state();
};

template <class Entity>
int64_t now_ns(caf::stateful_actor<shard_state<Entity>>* self) {
  return sv::clock::actor_ns(self);
}

template <class Entity>
void passivate(uint64_t key, Entity& e) {
  if constexpr (has_on_passivate<Entity>::value) {
    e.on_passivate(key);
  } else {
    static_cast<void>(key);
    static_cast<void>(e);
  }
}

template <class Entity>
shard_state<Entity>::~shard_state() {
  active.clear(passivate<Entity>);
}

template <class Entity>
caf::behavior shard(caf::stateful_actor<shard_state<Entity>>* self,
                    std::shared_ptr<flow::load_cell> cell, std::chrono::milliseconds idle,
                    flow::flow_context* flow) {
  self->state.cell = std::move(cell);
  self->state.flow = flow;
  self->state.idle_timeout = idle;
  auto sweep_every = activation_table<Entity>::sweep_interval(idle);
  self->delayed_send(self, sweep_every, passivate_atom::value);
  return {
      [self](entity_atom, uint64_t key, int64_t sent_at_ns,
             const typename Entity::request& r) -> caf::result<typename Entity::reply> {
        auto& st = self->state;
        flow::serving served{*st.cell, self};
        if (served.urgent() && st.flow != nullptr && sent_at_ns > 0) {
          st.flow->record_critical_latency(served.waited_since(sent_at_ns));
        }
        auto [slot, activated] = st.active.activate(key, now_ns(self));
        if constexpr (has_on_activate<Entity>::value) {
          if (activated) {
            slot->entity.on_activate(key); // e.g. load what on_passivate stored
          }
        }
        auto res = slot->entity.handle(key, r);
        if (!res) {
          return std::move(res.error());
        }
        return std::move(*res);
      },
      [self](active_atom) {
        flow::serving served{*self->state.cell, self};
        return static_cast<uint64_t>(self->state.active.size());
      },
      [self, sweep_every](passivate_atom) {
        auto& st = self->state;
        auto cutoff =
            now_ns(self)
            - std::chrono::duration_cast<std::chrono::nanoseconds>(st.idle_timeout).count();
        st.active.sweep(cutoff, passivate<Entity>);
        self->delayed_send(self, sweep_every, passivate_atom::value);
      },
  };
}

} // namespace detail

/// One registered entity type on one node: its shards and their load cells. Thread-safe.
/// The destructor stops the shards (passivating every active entity) and waits for them.
template <class Entity>
class entity_type {
public:
  using request_type = typename Entity::request;
  using reply_type = typename Entity::reply;

  entity_type(caf::actor_system& sys, flow::flow_context& flow, std::string name,
              entity_settings settings)
      : sys_(sys), flow_(flow), name_(std::move(name)), settings_(settings) {
    for (size_t i = 0; i < std::max<size_t>(1, settings_.shards); ++i) {
      flow::target t;
      t.cell = flow_.make_cell(name_);
      t.handle = sys_.spawn(detail::shard<Entity>, t.cell, settings_.idle_timeout, &flow_);
      shards_.push_back(std::move(t));
    }
  }

  ~entity_type() {
    caf::scoped_actor self{sys_};
    for (auto& t : shards_) {
      self->send_exit(t.handle, caf::exit_reason::user_shutdown);
      self->wait_for(t.handle);
    }
  }

  entity_type(const entity_type&) = delete;
  entity_type& operator=(const entity_type&) = delete;

  /// Sends `r` to entity `key` and waits for its reply (at most request_timeout).
  caf::expected<reply_type> request(uint64_t key, flow::service_class c, request_type r) {
    return flow::blocking_request<reply_type>(sys_, flow_, route(key), c, settings_.request_timeout,
                                              entity_atom::value, key, sent_at(c), std::move(r));
  }

  /// Sends `r` to entity `key` without waiting; returns the gate's refusal or none.
  caf::error send(uint64_t key, flow::service_class c, request_type r) {
    return flow::send(flow_, route(key), c, entity_atom::value, key, sent_at(c), std::move(r));
  }

  /// Active entities over all shards.
  caf::expected<uint64_t> active() {
    uint64_t total = 0;
    caf::scoped_actor self{sys_};
    for (auto& t : shards_) {
      t.cell->on_enqueue();
      caf::error failed;
      self->request(t.handle, settings_.request_timeout, active_atom::value)
          .receive([&](uint64_t n) { total += n; }, [&](caf::error& err) { failed = err; });
      if (failed) {
        return failed;
      }
    }
    return total;
  }

  /// The shard of `key` (for actors that send to entities directly).
  const flow::target& route(uint64_t key) const noexcept {
    return shards_[key % shards_.size()];
  }

  const std::string& name() const noexcept {
    return name_;
  }

private:
  // Only critical requests report their wait, so only they read the clock on the send path.
  static int64_t sent_at(flow::service_class c) noexcept {
    return c == flow::service_class::critical ? flow::steady_now_ns() : 0;
  }

  caf::actor_system& sys_;
  flow::flow_context& flow_;
  std::string name_;
  entity_settings settings_;
  std::vector<flow::target> shards_;
};

/// Registers entity type `Entity` under `name` on node `n` (design §3:
/// `node.entities<T>("name")`). Destroy the result before the node.
template <class Entity>
std::unique_ptr<entity_type<Entity>> entities(node& n, std::string name,
                                              entity_settings settings = {}) {
  return std::make_unique<entity_type<Entity>>(n.system(), n.flow(), std::move(name), settings);
}

} // namespace sv::entity
