#pragma once

// Handles of a service on the other nodes, for an actor that talks to its peers (through
// owner_router.hpp): looked up once through the peer's endpoint, then cached until the
// handle goes down. Callers that ask while a lookup is under way wait in order, so messages
// sent to one peer keep the order they were sent in.

#include <algorithm>
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
  /// connected to this node's `endpoint` or the lookup fails (the lookup within `timeout`).
  /// With a `connect_wait` above 0, a member that is up but not connected yet (it joined a
  /// moment ago: gossip spreads faster than connections form, most of all across a WAN) is
  /// waited for, at most that long, before the lookup; with 0 such a peer fails at once (for
  /// callers that have a fallback, like a cache serving its own copy). Callers that do not
  /// wait are not held up by one that does: while a waiting lookup is under way they fail
  /// at once, as they would have without it; callers that wait, queued behind a lookup
  /// that did not, get a waiting lookup of their own when it fails.
  void with(Self* self, const caf::actor& endpoint, const std::string& name,
            std::chrono::milliseconds timeout, then_fn then, fail_fn failed,
            std::chrono::milliseconds connect_wait = std::chrono::milliseconds{0}) {
    if (auto i = handles_.find(name); i != handles_.end()) {
      then(i->second);
      return;
    }
    auto wait = std::max(connect_wait, std::chrono::milliseconds{0});
    auto& q = waiting_[name];
    if (!q.callers.empty()) { // a lookup is under way
      if (q.waits_for_connection && wait.count() == 0) {
        failed(make_error(errc::unavailable, "not connected to " + name + " yet"));
        return;
      }
      q.callers.push_back({std::move(then), std::move(failed), wait, timeout});
      return;
    }
    q.callers.push_back({std::move(then), std::move(failed), wait, timeout});
    start(self, endpoint, name, wait, timeout);
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
    std::chrono::milliseconds wait;
    std::chrono::milliseconds timeout;
  };
  struct queue {
    std::vector<waiter> callers; // non-empty while a lookup is under way
    bool waits_for_connection = false;
  };

  // One lookup of `name`'s service for the callers queued in waiting_[name].
  void start(Self* self, const caf::actor& endpoint, const std::string& name,
             std::chrono::milliseconds wait, std::chrono::milliseconds timeout) {
    waiting_[name].waits_for_connection = wait.count() > 0;
    auto failed = [this, self, endpoint, name](const caf::error& err) {
      auto i = waiting_.find(name);
      if (i == waiting_.end()) {
        return;
      }
      auto was_waiting = i->second.waits_for_connection;
      auto ws = std::move(i->second.callers);
      waiting_.erase(i);
      std::vector<waiter> again;
      for (auto& x : ws) {
        if (!was_waiting && x.wait.count() > 0) {
          again.push_back(std::move(x)); // it did not wait: these callers want it to
        } else {
          x.failed(err);
        }
      }
      if (!again.empty()) {
        auto wait = again.front().wait;
        auto timeout = again.front().timeout;
        waiting_[name].callers = std::move(again);
        start(self, endpoint, name, wait, timeout);
      }
    };
    auto found = [this, self, name](const caf::actor& h) {
      handles_[name] = h;
      self->monitor(h);
      auto j = waiting_.find(name);
      if (j == waiting_.end()) {
        return;
      }
      auto ws = std::move(j->second.callers);
      waiting_.erase(j);
      for (auto& x : ws) {
        x.then(h);
      }
    };
    // The endpoint answers at once, or when the peer connects within `wait`.
    self->request(endpoint, caf::duration{wait + timeout}, peer_atom::value, name,
                  static_cast<uint64_t>(wait.count()))
        .then(
            [=](const caf::actor& ep) {
              self->request(ep, caf::duration{timeout}, lookup_atom::value, service_)
                  .then([=](const caf::actor& h) { found(h); },
                        [=](caf::error& err) { failed(err); });
            },
            [=](caf::error& err) { failed(err); });
  }

  caf::atom_value service_;
  std::map<std::string, caf::actor> handles_;
  std::map<std::string, queue> waiting_;
};

} // namespace sv::cluster
