#pragma once

// The analytics service's interface: what producers outside the cluster, host code and
// the other nodes' analytics services send a node's analytics service (registered as the
// cluster service "sv_analyt"), as a typed actor, and how to reach one from outside.
//
//   auto svc = sv::analytics::connect_service(sys, "10.0.0.5", 7400, 2s);
//   auto ack = sv::ask<sv::analytics::ack_msg>(sys, *svc, 5s, sv::analytics::ingest_atom::value,
//                                                batch);
//
// Errors travel as CAF errors (sv::errc: overloaded, unavailable, invalid_argument,
// request_timeout). A payload that does not decode is answered undecodable_payload.

#include <chrono>
#include <cstdint>
#include <string>

#include "actors/analytics/analytics.pb.h"
#include "actors/analytics/events.hpp"
#include "caf/atom.hpp"
#include "caf/expected.hpp"
#include "caf/fwd.hpp"
#include "caf/message.hpp"
#include "caf/replies_to.hpp"
#include "caf/typed_actor.hpp"
#include "runtime/wire/protobuf.hpp" // makes the protobuf messages CAF message types

namespace sv::analytics {

/// Messages of the analytics protocol (protobuf, analytics.proto; events: events.hpp).
using ack_msg = streamverse::v1::BatchAck;
using query_msg = streamverse::v1::AnalyticsQuery;
using window_msg = streamverse::v1::AnalyticsWindow;
using handoff_page = streamverse::v1::HandoffPage;
using history_query_msg = streamverse::v1::HistoryQuery;
using history_msg = streamverse::v1::HistoryAnswer;

/// `(ingest_atom, batch)` from a producer outside the cluster: answered with the batch's
/// BatchAck once every event of it is durable at its partition's owner. Number batches per
/// producer (producer_id + sequence) and resend a batch until it is acknowledged: a batch
/// stored before is recognised (split by partition, each part keyed by producer/partition
/// and sequence) and stored once.
using ingest_atom = caf::atom_constant<caf::atom("sv_aingest")>;
/// `(partition_atom, p, msg)` between services: for partition p, which the receiver owns.
using partition_atom = caf::atom_constant<caf::atom("sv_apart")>;
/// `(handoff_atom, p)` from p's owner: a page of the batches of p the receiver holds.
using handoff_atom = caf::atom_constant<caf::atom("sv_ahand")>;
/// `(release_atom, p, up_to)` from p's owner after it stored a page: delete it here.
using release_atom = caf::atom_constant<caf::atom("sv_arel")>;
/// `(adopt_atom, p, page)` from a node of another region: batches of p it held for the
/// receiver's region (their home); the receiver stores those it lacks (by producer and
/// sequence) and answers how many were new.
using adopt_atom = caf::atom_constant<caf::atom("sv_aadopt")>;

/// The analytics service's interface.
using analytics_actor = caf::typed_actor<
    // producers outside the cluster, host code
    caf::replies_to<ingest_atom, event_batch>::with<ack_msg>,
    caf::replies_to<query_msg>::with<window_msg>, // a partition's real-time window
    // a title's per-minute history stored in one region (the query's)
    caf::replies_to<history_query_msg>::with<history_msg>,
    // between the nodes' services
    caf::replies_to<partition_atom, uint32_t, event_block>::with<ack_msg>,
    caf::replies_to<partition_atom, uint32_t, event_batch>::with<ack_msg>, // before #14
    caf::replies_to<partition_atom, uint32_t, query_msg>::with<window_msg>,
    caf::replies_to<partition_atom, uint32_t, history_query_msg>::with<history_msg>,
    caf::replies_to<adopt_atom, uint32_t, handoff_page>::with<uint64_t>,
    caf::replies_to<handoff_atom, uint32_t>::with<handoff_page>,
    caf::replies_to<release_atom, uint32_t, int64_t>::with<uint64_t>>;

/// The analytics service of the node whose cluster endpoint is host:port. `sys` needs the
/// middleman and the runtime's and analytics' message types.
caf::expected<analytics_actor> connect_service(caf::actor_system& sys, const std::string& host,
                                               uint16_t port, std::chrono::milliseconds timeout);

/// `(ingest_atom, b)` as a message, for producers that keep it to resend it unchanged
/// (send it to the service's handle as a dynamically typed caf::actor).
caf::message ingest_request(event_batch b);

} // namespace sv::analytics
