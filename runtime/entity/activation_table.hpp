#pragma once

// The virtual-actor core shared by every sharded entity kind of the runtime: the active
// entities of one shard actor, keyed by a 64-bit id, each with the time it was last used,
// and the idle sweep that passivates those unused for too long. CAF-free.
//
// Built on it: the shards of host-defined entity types (entity_type.hpp, where the table
// activates an entity on its first message) and the domain's own sharded hosts in actors/
// (where an explicit request activates an entity and another one ends it).
//
//   activation_table<my_state> table;
//   auto [slot, fresh] = table.activate(key, now_ns);       // default-constructs on first use
//   slot->entity.apply(...);                                 // a use also refreshes last_used
//   table.sweep(now_ns - idle_ns, [](uint64_t key, my_state& s) { persist(key, s); });

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <utility>

namespace sv::entity {

template <class Entity>
class activation_table {
public:
  struct slot {
    Entity entity;
    int64_t last_used_ns = 0;
  };

  /// How often a shard whose entities passivate after `idle` sweeps: a tenth of it, at
  /// least every 10 ms (so an entity goes at most 10% late).
  static std::chrono::milliseconds sweep_interval(std::chrono::milliseconds idle) noexcept {
    return std::max(idle / 10, std::chrono::milliseconds{10});
  }

  /// The active entity `key`, or null. Does not count as a use.
  slot* find(uint64_t key) noexcept {
    auto i = slots_.find(key);
    return i == slots_.end() ? nullptr : &i->second;
  }

  /// Uses entity `key` at `now_ns`, default-constructing it when it is not active; the
  /// bool is true when it was activated by this call.
  std::pair<slot*, bool> activate(uint64_t key, int64_t now_ns) {
    auto [i, fresh] = slots_.try_emplace(key);
    i->second.last_used_ns = now_ns;
    return {&i->second, fresh};
  }

  /// Activates `key` with the state `e` (it must not be active).
  slot& insert(uint64_t key, Entity e, int64_t now_ns) {
    return slots_.insert_or_assign(key, slot{std::move(e), now_ns}).first->second;
  }

  /// Ends entity `key` without passivating it (it closed itself); false when not active.
  bool erase(uint64_t key) {
    return slots_.erase(key) != 0;
  }

  size_t size() const noexcept {
    return slots_.size();
  }

  bool contains(uint64_t key) const noexcept {
    return slots_.count(key) != 0;
  }

  /// Passivates every entity last used at or before `cutoff_ns`: `on_idle(key, entity)`,
  /// then it goes. Returns how many went.
  template <class OnIdle>
  size_t sweep(int64_t cutoff_ns, OnIdle&& on_idle) {
    size_t gone = 0;
    for (auto i = slots_.begin(); i != slots_.end();) {
      if (i->second.last_used_ns <= cutoff_ns) {
        on_idle(i->first, i->second.entity);
        i = slots_.erase(i);
        ++gone;
      } else {
        ++i;
      }
    }
    return gone;
  }

  /// Passivates every entity (the shard stops): `on_each(key, entity)`, then it goes.
  template <class OnEach>
  void clear(OnEach&& on_each) {
    for (auto i = slots_.begin(); i != slots_.end(); i = slots_.erase(i)) {
      on_each(i->first, i->second.entity);
    }
  }

private:
  std::unordered_map<uint64_t, slot> slots_;
};

} // namespace sv::entity
