#pragma once

// Member <-> protobuf Member (cluster.proto). Internal to runtime/cluster.

#include "runtime/cluster/cluster.pb.h"
#include "runtime/cluster/membership.hpp"

namespace sv::cluster {

inline streamverse::v1::MemberState to_proto(member_state s) {
  return static_cast<streamverse::v1::MemberState>(static_cast<int>(s));
}

inline void to_proto(const member& m, streamverse::v1::Member& out) {
  out.set_node_name(m.name);
  out.set_cluster_address(m.address);
  out.set_version(m.version);
  out.set_incarnation(m.incarnation);
  out.set_state(to_proto(m.state));
  out.set_region(m.region);
  out.set_zone(m.zone);
}

/// A state this build does not know (from a newer peer) reads as suspect: doubt, not a
/// verdict.
inline member from_proto(const streamverse::v1::Member& m) {
  auto s = static_cast<int>(m.state());
  auto state = s >= 0 && s <= static_cast<int>(member_state::down) ? static_cast<member_state>(s)
                                                                   : member_state::suspect;
  return member{m.node_name(), m.cluster_address(), m.version(), m.incarnation(),
                state,         m.region(),          m.zone()};
}

} // namespace sv::cluster
