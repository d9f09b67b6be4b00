#pragma once

// Internal to soak/ (not an interface): the emulated WAN between a soak's nodes. One
// wan_relay per ordered pair of nodes (i dials j through relay (i, j), named in node i's
// cluster.dial_via), each with the link between the two nodes' regions (scenario
// [[link]]); a wan phase adds delay and jitter to every link, a partition cuts the relays
// between groups (both directions). CAF-free.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "soak/scenario.hpp"
#include "soak/wan_relay.hpp"

namespace sv::soak {

class wan_mesh {
public:
  /// Starts the relays of `sc` (nothing when !sc.relayed()); node j listens on
  /// host:(base_port + j). Throws std::runtime_error when a relay cannot bind.
  void setup(const scenario& sc, const std::string& host) {
    n_ = sc.nodes;
    if (!sc.relayed()) {
      return;
    }
    base_.assign(size_t{n_} * n_, wan_link{});
    relays_.resize(size_t{n_} * n_);
    for (uint32_t i = 0; i < n_; ++i) {
      for (uint32_t j = 0; j < n_; ++j) {
        if (i == j) {
          continue;
        }
        auto l = sc.link_between(i, j);
        auto& link = base_[i * n_ + j];
        link.delay = std::chrono::milliseconds{l.rtt_ms / 2};
        link.jitter = std::chrono::milliseconds{l.jitter_ms};
        relays_[i * n_ + j] =
            std::make_unique<wan_relay>(relay_target{host, static_cast<uint16_t>(sc.base_port + j)},
                                        link, 0, uint64_t{i} * n_ + j + 1);
        relays_[i * n_ + j]->start();
      }
    }
  }

  bool active() const {
    return !relays_.empty();
  }

  /// The local port node `from` dials to reach node `to` (0: direct).
  uint16_t via(uint32_t from, uint32_t to) const {
    auto* r = relay(from, to);
    return r != nullptr ? r->port() : 0;
  }

  /// Every link gets `extra` on top of its own until restore().
  void add(wan_link extra) {
    for (uint32_t k = 0; k < relays_.size(); ++k) {
      if (relays_[k]) {
        relays_[k]->set_link({base_[k].delay + extra.delay, base_[k].jitter + extra.jitter});
      }
    }
  }

  void restore() {
    add({});
  }

  /// Cuts every relay between a node of one group and a node of another, both ways.
  void partition(const std::vector<std::vector<uint32_t>>& groups) {
    for (size_t g = 0; g < groups.size(); ++g) {
      for (size_t h = 0; h < groups.size(); ++h) {
        for (auto a : groups[g]) {
          for (auto b : groups[h]) {
            if (g != h && relay(a, b) != nullptr) {
              relay(a, b)->set_partitioned(true);
            }
          }
        }
      }
    }
  }

  void heal() {
    for (auto& r : relays_) {
      if (r) {
        r->set_partitioned(false);
      }
    }
  }

  /// All relays' counters summed.
  relay_stats totals() const {
    relay_stats t;
    for (auto& r : relays_) {
      if (r) {
        auto s = r->stats();
        t.connections += s.connections;
        t.refused += s.refused;
        t.bytes += s.bytes;
      }
    }
    return t;
  }

  size_t size() const {
    size_t k = 0;
    for (auto& r : relays_) {
      k += r ? 1 : 0;
    }
    return k;
  }

private:
  wan_relay* relay(uint32_t from, uint32_t to) const {
    if (relays_.empty() || from >= n_ || to >= n_) {
      return nullptr;
    }
    return relays_[from * n_ + to].get();
  }

  uint32_t n_ = 0;
  std::vector<wan_link> base_;
  std::vector<std::unique_ptr<wan_relay>> relays_;
};

} // namespace sv::soak
