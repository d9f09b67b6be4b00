#pragma once

// The detached actors a service spawned (its stores), so that stopping the service can wait
// for them too: see stop_and_wait in runtime/node/stop.hpp.

#include <algorithm>
#include <mutex>
#include <vector>

#include "caf/actor.hpp"
#include "caf/actor_addr.hpp"
#include "caf/actor_cast.hpp"

namespace sv {

/// The detached actors a service spawned, recorded as it spawns them (from any thread).
/// Weak references: a child that ended earlier (a partition handed off) is dropped at the
/// next add, so a long-lived service's list stays as long as its live children.
class detached_children {
public:
  void add(const caf::actor& child) {
    std::lock_guard<std::mutex> guard{mtx_};
    children_.erase(std::remove_if(children_.begin(), children_.end(),
                                   [](const caf::actor_addr& a) {
                                     return caf::actor_cast<caf::actor>(a) == nullptr;
                                   }),
                    children_.end());
    children_.push_back(child.address());
  }

  /// The children still alive, and forgets them all.
  std::vector<caf::actor> take() {
    std::lock_guard<std::mutex> guard{mtx_};
    std::vector<caf::actor> alive;
    for (auto& a : children_) {
      if (auto h = caf::actor_cast<caf::actor>(a)) {
        alive.push_back(std::move(h));
      }
    }
    children_.clear();
    return alive;
  }

private:
  std::mutex mtx_;
  std::vector<caf::actor_addr> children_;
};

} // namespace sv
