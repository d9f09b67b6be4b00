#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/cluster/membership.hpp"

namespace sv::cluster {

/// What this node knows about one connected peer.
struct peer_info {
  std::string name;
  std::string version;
  std::string address; ///< host:port of the peer's cluster endpoint
  uint64_t incarnation = 0;
};

/// The peers a node is connected to right now (a hello was exchanged and the connection
/// has not gone down), and the member list with each member's state. Written by the
/// cluster endpoint actor, read from any thread (status lines, metrics, tests).
class peer_table {
public:
  void upsert(peer_info p);
  void erase(const std::string& name);
  size_t size() const;
  std::vector<peer_info> snapshot() const;

  /// The member list as the endpoint last published it (this node first).
  void set_members(std::vector<member> members);
  std::vector<member> members() const;
  /// Members in state `s`.
  size_t count(member_state s) const;

private:
  mutable std::mutex mtx_;
  std::vector<peer_info> peers_;
  std::vector<member> members_;
};

} // namespace sv::cluster
