#pragma once

// Whether nodes started in one process have formed a full mesh: every node sees all of
// them up and is connected to every other one. Up by gossip is not yet connected, and a
// query to a peer not connected is skipped, so tests wait for both.

#include <memory>
#include <vector>

#include "runtime/node/node.hpp"

namespace sv::test {

inline bool full_mesh(const std::vector<std::unique_ptr<sv::node>>& nodes) {
  for (auto& n : nodes) {
    auto st = n->status();
    if (st.members_up != nodes.size() || st.peers + 1 != nodes.size()) {
      return false;
    }
  }
  return true;
}

} // namespace sv::test
