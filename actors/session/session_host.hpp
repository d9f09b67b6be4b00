#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>

#include "actors/session/session_types.hpp"
#include "caf/fwd.hpp"
#include "runtime/flow/load_cell.hpp"

namespace sv::flow {
class flow_context;
class load_cell;
} // namespace sv::flow

namespace sv::session {

/// Decides whether a viewer may open a session (subscription, billing). Return an empty
/// error to allow; any error refuses the open with that error. Called on the session
/// host's thread for every open, so it must be fast and thread-safe; integrations with
/// remote billing systems cache their answers (issue #8).
using entitlement_hook = std::function<caf::error(const open_request&)>;

/// What happened to a session, as its host reports it to an event hook (analytics).
struct session_event {
  enum kind_t : uint8_t { opened, heartbeat, quality_change, closed };
  kind_t kind = opened;
  uint64_t session_id = 0;
  const std::string* user = nullptr; ///< valid during the call only (as the three below)
  const std::string* content = nullptr;
  const std::string* device = nullptr;
  const std::string* region = nullptr;
  uint32_t bitrate_kbps = 0;
  uint32_t buffer_ms = 0;
  /// Play time since the session's previous event (0 while paused).
  uint32_t watched_ms = 0;
  /// The playback position the player last reported.
  int64_t position_ms = 0;
  int64_t at_ms = 0; ///< wall clock, ms since the epoch
};

/// Called on the session host's thread for every open, heartbeat, quality change and
/// close; must be fast and thread-safe (sv::analytics::session_events hands the events to
/// the node's analytics batcher).
using event_hook = std::function<void(const session_event&)>;

struct host_settings {
  /// A session without a heartbeat (or any other request) for this long is closed.
  std::chrono::milliseconds idle_timeout{30'000};
  session_limits limits;
  /// Empty: every viewer is entitled.
  entitlement_hook entitlement;
  /// Empty: no events.
  event_hook events;
  /// How many recently closed session ids each host remembers, so that a late request
  /// for one is answered `session_closed` rather than `unknown_session`.
  size_t closed_memory = 1024;
};

/// Spawns one session host: a shard of the node's viewer sessions. Each session is a
/// virtual actor whose compact state lives in its host; a host processes the requests of
/// all its sessions one at a time, so each session sees its requests in order and alone
/// (the shard design keeps a session near 150 bytes; a CAF actor alone is ~1.2 KB).
///
/// Messages (every handler first takes its message off `cell`):
/// - `open_request` -> `uint64_t` session id, or `invalid_argument`, `session_exists`,
///   or the entitlement hook's error;
/// - `heartbeat` -> `ok_atom`; `command` -> `ok_atom` (close ends the session); both fail
///   with `unknown_session`, `session_closed` or `invalid_argument` and change nothing;
/// - `(get_atom, uint64_t id)` -> `session_info`;
/// - `(sessions_atom)` -> `uint64_t`, the number of open sessions.
/// Idle sessions are swept every idle_timeout / 10. `flow` (may be null) receives the
/// latency of every open and heartbeat that carries a send time. On exit it simply stops;
/// its sessions end with it.
caf::actor spawn_session_host(caf::actor_system& sys, host_settings settings,
                              std::shared_ptr<flow::load_cell> cell,
                              flow::flow_context* flow = nullptr);

/// The atom of the open-sessions query.
caf::message sessions_query();

/// Steady-clock time in ns, for `sent_at_ns`.
using flow::steady_now_ns;

} // namespace sv::session
