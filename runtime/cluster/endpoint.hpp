#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "caf/actor.hpp"
#include "caf/atom.hpp"
#include "caf/fwd.hpp"
#include "runtime/cluster/endpoint_protocol.hpp"
#include "runtime/cluster/peer_table.hpp"

namespace sv::metrics {
class registry;
} // namespace sv::metrics

namespace sv::cluster {

/// Wire protocol generation carried in every Hello. Bump on incompatible changes.
/// 2: domain error codes moved to categories of their own.
inline constexpr uint32_t protocol_version = 2;

/// A seed to dial: host and port of another node's cluster endpoint.
struct seed {
  std::string host;
  uint16_t port = 0;
};

struct endpoint_settings {
  std::string node_name;
  std::string version;
  /// This node's region and zone (Hello, member list); empty: not configured.
  std::string region;
  std::string zone;
  std::vector<seed> seeds;
  /// A connection to the address "host:port" (as members advertise it) goes to the seed
  /// mapped to it instead: a relay or proxy in between. The member keeps its own address.
  std::map<std::string, seed> dial_via;
  /// Deadline of one connection attempt and of the hello that follows it.
  std::chrono::milliseconds connect_timeout{3000};
  /// Pause between attempts to reach a seed that is down or not up yet.
  std::chrono::milliseconds retry_interval{500};
  /// Start time of this process in ms since the epoch (Hello.incarnation).
  uint64_t incarnation = 0;
  /// How often the member list goes to every connected peer (the failure detector's
  /// heartbeat) and the detector's timeouts are applied.
  std::chrono::milliseconds gossip_interval{500};
  membership_settings membership;
  /// Dial through caf_openssl (the node published its endpoint with TLS).
  bool tls = false;
  /// The middleman actor to dial through (the node's transport_guard); none: CAF's own
  /// (or caf_openssl's with `tls`).
  caf::actor dialer;
};

/// Spawns the cluster endpoint: the actor a node publishes on its cluster port. It
/// answers Hellos at once but dials no seed until `start_endpoint` tells it the address
/// it was published under (the port is known only after publishing when it is 0).
///
/// It dials every seed through the middleman with a deadline (CAF's remote_actor() has
/// none), sends a Hello and records the peer from the Hello it gets back; it answers a
/// Hello from any node that dials it with its own. Peers are monitored: when a
/// connection goes down the peer leaves `peers`, and a seed is dialed again every
/// `retry_interval` until it answers (CAF 0.17 never reconnects on its own). A peer of
/// another protocol generation, or one that claims the name of a live peer from an
/// older or equal incarnation, is refused with an error. An undecodable message is
/// answered with `errc::undecodable_payload`.
///
/// Membership: every `gossip_interval` it sends its member list (Gossip) to every
/// connected peer, merges the lists it receives (membership.hpp), applies the failure
/// detector's timeouts and dials members it learned about but is not connected to, so
/// the nodes form a full mesh even when each names only one seed. It answers a
/// MembersRequest with its list (streamverse-ctl members).
///
/// A service of this node asks it for a peer's endpoint (`peer_atom`), waiting at most
/// the time it names for a member that is up but not connected yet.
///
/// On exit (any exit message) it simply stops; pending timers die with it, and callers
/// still waiting for a peer get their answer from their own request timeout.
endpoint_actor spawn_endpoint(caf::actor_system& sys, endpoint_settings settings,
                              std::shared_ptr<peer_table> peers, metrics::registry& metrics);

/// Tells the endpoint the host:port under which it is published (sent in every Hello)
/// and lets it start dialing its seeds.
void start_endpoint(const endpoint_actor& endpoint, std::string advertised_address);

/// Makes `a` reachable from other nodes as `service`: they ask this node's endpoint with
/// `(lookup_atom, service)` and get a handle they can send to.
void register_service(caf::actor_system& sys, caf::atom_value service, const caf::actor& a);

/// Graceful leave: the endpoint marks this node leaving and gossips that to every
/// connected peer at once; blocks until it did (at most `timeout`). Returns false when
/// the endpoint did not answer in time.
bool leave_cluster(caf::actor_system& sys, const endpoint_actor& endpoint,
                   std::chrono::milliseconds timeout);

} // namespace sv::cluster
