#pragma once

// The cluster port behind a gate (issue #18). A node publishes its endpoint and dials its
// peers through a middleman actor of its own whose connections run every incoming byte
// through a frame_guard before CAF 0.17's BASP sees it (plain TCP or mutual TLS alike), and
// which bounds the connections a stranger can hold:
// - at most `max_connections` accepted connections at once; more are closed on accept;
// - at most `max_pending` of them without a completed handshake: a new connection beyond
//   that pushes out the oldest such one (so a stranger holding idle connections cannot
//   keep a peer or an operator from connecting);
// - a connection whose first frame (the BASP handshake) has not passed within
//   `handshake_timeout` is shut down (idle sockets, half-finished TLS handshakes);
// - a connection that sends anything the frame_guard refuses is closed at once.
// Each refusal is counted (sv_cluster_guard_refusals_total{reason}) and logged at most
// once a second.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <variant>

#include "caf/fwd.hpp"
#include "runtime/cluster/frame_guard.hpp"

namespace sv::metrics {
class registry;
}

namespace sv::cluster {

struct guard_settings {
  frame_limits frames;
  uint32_t max_connections = 512;
  uint32_t max_pending = 64;
  std::chrono::milliseconds handshake_timeout{5000};
  /// Speak TLS through caf_openssl (the actor system must have its manager loaded).
  bool tls = false;
};

class transport_guard {
public:
  /// `reg` may be null (then only refusals() counts).
  transport_guard(caf::actor_system& sys, guard_settings settings, metrics::registry* reg);
  ~transport_guard();

  transport_guard(const transport_guard&) = delete;
  transport_guard& operator=(const transport_guard&) = delete;

  /// Publishes `whom` (with its message signatures `sigs`) on `bind`:`port` through the
  /// guard. Returns the bound port or why not.
  std::variant<uint16_t, std::string> publish(caf::strong_actor_ptr whom,
                                              std::set<std::string> sigs, uint16_t port,
                                              const std::string& bind, bool reuse);

  /// The middleman actor (a caf::io::middleman_actor) to send `connect_atom` to for
  /// guarded outgoing connections.
  caf::actor dialer() const;

  /// Refusals so far, by reason.
  uint64_t refusals(guard_refusal why) const;

  /// Accepted connections open now.
  size_t open_connections() const;

  /// Stops the sweeper and the middleman actor (the node's stop calls it before the actor
  /// system goes; the destructor does it too).
  void stop();

  struct hub;

private:
  std::shared_ptr<hub> hub_;
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace sv::cluster
