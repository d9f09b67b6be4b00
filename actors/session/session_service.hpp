#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include "actors/session/session_host.hpp"
#include "actors/session/session_types.hpp"
#include "caf/expected.hpp"
#include "caf/fwd.hpp"
#include "runtime/flow/adaptive_limit.hpp"

namespace sv {
class node;
} // namespace sv

namespace sv::config {
struct node_settings;
} // namespace sv::config

namespace sv::flow {
class flow_context;
struct target;
} // namespace sv::flow

namespace sv::session {

struct service_settings {
  /// Session hosts (shards). More hosts spread load over more scheduler workers.
  size_t hosts = 16;
  host_settings host;
  /// Deadline of a blocking call and of an async call's answer.
  std::chrono::milliseconds request_timeout{5'000};
  /// Critical calls whose answer the service waits for (blocking and callback forms) are
  /// limited in number by an adaptive concurrency limit that follows their latency.
  flow::adaptive_limit_settings critical_limit;
};

/// Hosts, idle timeout and position checkpoints from a node's config ([sessions], [watch]),
/// the hosts' source named after the node; the rest default: to change something else
/// (e.g. `host.outputs`) before constructing a service.
service_settings service_settings_from(const config::node_settings& cfg);

/// The host API for viewer sessions on one node: routes each session id to its host,
/// asks the node's flow gate first, and sends with the request's service class (open,
/// heartbeat and close are critical and use CAF's urgent queue; pause, resume, seek,
/// quality and queries are interactive).
///
/// Blocking calls wait for the host's answer (at most request_timeout); async calls
/// return at once and their callback runs when the host answers (an item the host takes
/// up after request_timeout is refused `overloaded` and not applied). Critical calls that wait for
/// an answer also take a slot of an adaptive concurrency limit (flow::adaptive_limit): with every
/// slot taken they are refused with `overloaded` instead of queueing, and the limit follows their
/// measured latency. Every call that the gate refuses returns (or passes to its callback)
/// `overloaded` with a retry-after hint, and nothing is sent. Thread-safe.
///
/// The destructor stops the hosts and waits for them; destroy the service before its
/// node or actor system. Callbacks of async calls still pending then are not called
/// (their requests were never acknowledged); wait for them before destroying it.
class service {
public:
  service(caf::actor_system& sys, flow::flow_context& flow, service_settings settings = {});
  /// Hosts and idle timeout from the node's config ([sessions]).
  explicit service(node& n);
  service(node& n, service_settings settings);
  ~service();
  service(const service&) = delete;
  service& operator=(const service&) = delete;

  // -- blocking ------------------------------------------------------------------------

  caf::expected<uint64_t> open(open_request r);
  caf::error heartbeat(heartbeat_report h);
  caf::error apply(const command& c);
  caf::expected<session_info> info(uint64_t session_id);
  /// Open sessions over all hosts.
  caf::expected<uint64_t> open_sessions();
  /// The same without asking the hosts: what they published after their last open, close
  /// or idle sweep (for metrics and the scaling signal; never blocks).
  uint64_t open_sessions_now() const noexcept;

  // -- async ---------------------------------------------------------------------------

  /// Fire and forget: returns the gate's refusal, or an empty error once the heartbeat is
  /// enqueued. Problems found later (unknown session, bad values) are counted by the host
  /// but not reported back; use the callback form to see them.
  caf::error heartbeat_async(heartbeat_report h);
  /// `done` runs on a CAF worker thread with the host's answer (or the refusal, at once
  /// on the calling thread).
  void heartbeat_async(heartbeat_report h, std::function<void(caf::error)> done);
  void open_async(open_request r, std::function<void(caf::expected<uint64_t>)> done);

  size_t host_count() const noexcept;

  /// The current adaptive limit on critical calls in flight, and how many critical calls
  /// it refused (with `overloaded`) so far.
  uint32_t critical_limit() const;
  uint64_t critical_limit_refusals() const noexcept;

  // -- for actors ----------------------------------------------------------------------

  /// Hands the items of a batch to their hosts: each item's class (open, heartbeat and
  /// close critical; other commands interactive) is admitted by the flow gate for its
  /// host, a refusal written to `join` at once; the admitted items go as one host_work per
  /// host and class (critical ones in CAF's urgent queue), each a new part of `join`.
  /// Returns, per part added, the result slots it covers (to refuse them should the part
  /// expire). The caller then releases its own hold with `join->finish()`. `max_wait`
  /// (0: none): a critical item is refused `overloaded` when its host's queue would take
  /// longer than this to reach it (queued items x the host's time per item).
  std::vector<std::vector<uint32_t>>
  dispatch(const std::shared_ptr<batch_join>& join, batch_items items,
           std::chrono::nanoseconds max_wait = std::chrono::nanoseconds{0});

  /// The most parts one dispatch() adds (a join's `max_parts` per dispatch).
  size_t max_parts() const noexcept;

  /// The host of `session_id` with its load cell. Actors that talk to sessions at high
  /// rates send to it directly: `flow::admit(flow(), route(id), class)` first, then a
  /// request to `route(id).handle` (high priority for critical work).
  const flow::target& route(uint64_t session_id) const noexcept;

  flow::flow_context& flow() noexcept;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace sv::session
