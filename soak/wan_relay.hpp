#pragma once

// A user-space TCP relay that emulates a WAN link (this machine's kernel has no netem):
// it listens on a local port and forwards every connection to a target address, holding
// each chunk of bytes, in both directions, for a one-way delay plus a random jitter
// before it passes it on. Bytes keep their order within a direction (jitter never
// reorders a TCP stream, it only bunches it up). While partitioned, nothing is passed on
// in either direction (held, as a black hole would, until the partition heals) and new
// connections are closed at once. CAF-free; one thread per relay.
//
//   sv::soak::wan_relay r{{"127.0.0.1", 7102}, {40ms, 10ms}};
//   auto port = r.start();            // dial 127.0.0.1:port to reach 127.0.0.1:7102
//   r.set_link({115ms, 20ms});        // 230 ms RTT from now on (new chunks)
//   r.set_partitioned(true);          // cut; set_partitioned(false) heals

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace sv::soak {

struct wan_link {
  /// One-way delay added to every chunk.
  std::chrono::milliseconds delay{0};
  /// A chunk's extra delay is uniform in [0, jitter].
  std::chrono::milliseconds jitter{0};
};

struct relay_target {
  std::string host = "127.0.0.1"; ///< IPv4 address
  uint16_t port = 0;
};

/// Counters of one relay.
struct relay_stats {
  uint64_t connections = 0; ///< accepted and connected to the target
  uint64_t refused = 0;     ///< closed at once (partitioned, or the target refused)
  uint64_t bytes = 0;       ///< passed on, both directions
};

class wan_relay {
public:
  /// `listen_port` 0: any free port (start() returns it). `seed` fixes the jitter.
  wan_relay(relay_target target, wan_link link, uint16_t listen_port = 0, uint64_t seed = 1);
  ~wan_relay();
  wan_relay(const wan_relay&) = delete;
  wan_relay& operator=(const wan_relay&) = delete;

  /// Binds 127.0.0.1:listen_port and starts relaying; returns the bound port. Throws
  /// std::runtime_error when the port cannot be bound.
  uint16_t start();

  /// Closes every connection and stops the thread (also done by the destructor).
  void stop();

  /// The link from now on (chunks read later get it; held ones keep their time).
  void set_link(wan_link link);

  /// Cuts (true) or heals (false) the link in both directions.
  void set_partitioned(bool cut);

  relay_stats stats() const;

  uint16_t port() const noexcept {
    return port_;
  }

private:
  struct state;
  void run();

  relay_target target_;
  uint16_t listen_port_;
  uint16_t port_ = 0;
  std::unique_ptr<state> st_;
  std::thread thread_;
};

} // namespace sv::soak
