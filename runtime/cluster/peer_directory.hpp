#pragma once

// Handles of a service on the other nodes, for an actor that talks to its peers (through
// owner_router.hpp): looked up once through the peer's endpoint, then cached until the
// handle goes down. Callers that ask while a lookup is under way wait in order, so messages
// sent to one peer keep the order they were sent in.

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "caf/actor.hpp"
#include "caf/duration.hpp"
#include "caf/error.hpp"
#include "runtime/cluster/endpoint.hpp"
#include "runtime/wire/errc.hpp"

namespace sv::cluster {

template <class Self>
class peer_directory {
public:
  using then_fn = std::function<void(const caf::actor&)>;
  using fail_fn = std::function<void(const caf::error&)>;

  explicit peer_directory(caf::atom_value service) : service_(service) {}

  /// Calls `then(handle)` with peer `name`'s service, or `failed(why)` when the peer is not
  /// connected to this node's `endpoint` or the lookup fails, each step within `timeout`.
  /// With `wait_connected`, a member that is up but not connected yet (it joined a moment
  /// ago: gossip spreads faster than connections form, most of all across a WAN) is waited
  /// for, at most 3/4 of `timeout`; without it such a peer fails at once (for callers that
  /// have a fallback, like a cache serving its own copy).
  void with(Self* self, const caf::actor& endpoint, const std::string& name,
            std::chrono::milliseconds timeout, then_fn then, fail_fn failed,
            bool wait_connected = false) {
    if (auto i = handles_.find(name); i != handles_.end()) {
      then(i->second);
      return;
    }
    auto& w = waiting_[name];
    w.push_back({std::move(then), std::move(failed)});
    if (w.size() > 1) {
      return; // a lookup is under way
    }
    auto fail_all = [this, name](const caf::error& err) {
      auto i = waiting_.find(name);
      if (i == waiting_.end()) {
        return;
      }
      auto ws = std::move(i->second);
      waiting_.erase(i);
      for (auto& x : ws) {
        x.failed(err);
      }
    };
    auto connect_wait =
        wait_connected ? static_cast<uint64_t>(timeout.count()) * 3 / 4 : uint64_t{0};
    self->request(endpoint, caf::duration{timeout}, peer_atom::value, name, connect_wait)
        .then(
            [=](const caf::actor& ep) {
              self->request(ep, caf::duration{timeout}, lookup_atom::value, service_)
                  .then(
                      [=](const caf::actor& h) {
                        handles_[name] = h;
                        self->monitor(h);
                        auto j = waiting_.find(name);
                        if (j == waiting_.end()) {
                          return;
                        }
                        auto ws = std::move(j->second);
                        waiting_.erase(j);
                        for (auto& x : ws) {
                          x.then(h);
                        }
                      },
                      [=](caf::error& err) { fail_all(err); });
            },
            [=](caf::error& err) { fail_all(err); });
  }

  /// Drops the handle of an actor that went down; true when it was one of these.
  bool forget(const caf::actor_addr& a) {
    for (auto i = handles_.begin(); i != handles_.end(); ++i) {
      if (i->second.address() == a) {
        handles_.erase(i);
        return true;
      }
    }
    return false;
  }

private:
  struct waiter {
    then_fn then;
    fail_fn failed;
  };
  caf::atom_value service_;
  std::map<std::string, caf::actor> handles_;
  std::map<std::string, std::vector<waiter>> waiting_;
};

} // namespace sv::cluster
