#pragma once

// The list of every message type that crosses nodes. Included only by
// message_types.cpp (which registers them) and by the wire tests (which round-trip each
// one between two actor systems), so that a type cannot be registered untested.
// Append new types here; the wire name is the proto's full name.

#include "runtime/cluster/cluster.pb.h"
#include "runtime/wire/protobuf.hpp"

namespace sv::wire {

template <class... Ts>
struct type_list {};

using cluster_message_types =
    type_list<streamverse::v1::Hello, streamverse::v1::Gossip, streamverse::v1::MembersRequest>;

} // namespace sv::wire
