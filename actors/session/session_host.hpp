#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "actors/session/session_protocol.hpp"
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

// -- what a host reports: compact records, handed on in blocks ---------------------------

/// A string inside a block's `text` (offset and length).
struct text_ref {
  uint32_t offset = 0;
  uint32_t size = 0;
};

/// The strings of one block, stored once each, back to back: records refer to them with
/// text_refs, so a block of hundreds of events makes a handful of allocations.
class text_arena {
public:
  text_ref add(std::string_view s);
  std::string_view get(text_ref r) const noexcept {
    return std::string_view{bytes_}.substr(r.offset, r.size);
  }
  void clear() noexcept {
    bytes_.clear();
  }
  size_t size() const noexcept {
    return bytes_.size();
  }

private:
  std::string bytes_;
};

/// What happened to a session: one per open, heartbeat, quality change and close.
struct session_event {
  enum kind_t : uint8_t { opened, heartbeat, quality_change, closed };
  uint64_t session_id = 0;
  int64_t at_ms = 0;       ///< wall clock, ms since the epoch
  int64_t position_ms = 0; ///< the playback position the player last reported
  /// The session's own event counter (1, 2, ...): with the block's `source` and the
  /// session id, the event's unique id.
  uint32_t seq = 0;
  uint32_t bitrate_kbps = 0;
  uint32_t buffer_ms = 0;
  /// Play time since the session's previous event (0 while paused).
  uint32_t watched_ms = 0;
  text_ref user, content, device, region;
  kind_t kind = opened;
};

/// Events of one host, in the order they happened.
struct session_event_block {
  /// The host that made them ("<node>#<start time>/host-<n>"): unique per host lifetime.
  std::string source;
  text_arena text;
  std::vector<session_event> events;
};

/// Where a viewer is in a title, to keep for resume on any device.
struct position_record {
  int64_t position_ms = 0;
  int64_t at_ms = 0; ///< wall clock of the report
  text_ref user, content, device;
  text_ref region; ///< the viewer's region as the open named it (its positions' home)
};

struct position_block {
  text_arena text;
  std::vector<position_record> positions;
};

/// The consumers of a host's reports, declared here so that a reader of the host finds
/// them: each is called on the host's thread with a block (at most `block_items` records,
/// or whatever is buffered every `flush_interval`), must be fast and thread-safe, and
/// typically hands the block to an actor of its own (analytics' batcher, watch_state).
/// Empty: nothing of that kind is recorded.
struct host_outputs {
  /// Every open, heartbeat, quality change and close (analytics::session_events()).
  std::function<void(session_event_block&&)> events;
  /// A session's position at most once per `checkpoint_interval`, and always at pause,
  /// seek and close (media::watch_state::session_positions()).
  std::function<void(position_block&&)> positions;
  /// Null, or the service that keeps positions (media::watch_state::durable_positions()).
  /// Then a close is acknowledged only once the session's last position is held by its
  /// user's owner and replica, queued for their stores (`positions_durable_atom`), so a
  /// resume position a close acknowledged survives the loss of any one node; while the
  /// node sees no other member, it alone holds it. Until then the close's answer (and with
  /// it its batch's) waits: at most `durable_timeout`, and never past the batch's deadline.
  /// Not confirmed in time: the close is answered `unavailable` (the session is closed all
  /// the same, and its position still goes the usual way).
  caf::actor durable_positions;
  std::chrono::milliseconds durable_timeout{2000};
  std::chrono::milliseconds checkpoint_interval{60'000};
  size_t block_items = 1024;
  /// Null, or a count every host adds its open sessions to (read without asking a host:
  /// session::service::open_sessions_now()).
  std::shared_ptr<std::atomic<int64_t>> open_count;
  std::chrono::milliseconds flush_interval{50};
};

struct host_settings {
  /// A session without a heartbeat (or any other request) for this long is closed.
  std::chrono::milliseconds idle_timeout{30'000};
  session_limits limits;
  /// Empty: every viewer is entitled.
  entitlement_hook entitlement;
  host_outputs outputs;
  /// Names the host in its event blocks' `source` (the node and when it started).
  std::string source_prefix = "host";
  /// How many recently closed session ids each host remembers, so that a late request
  /// for one is answered `session_closed` rather than `unknown_session`.
  size_t closed_memory = 1024;
};

/// Spawns one session host: a shard of the node's viewer sessions. Each session is a
/// virtual actor whose compact state lives in its host's entity::activation_table (the
/// runtime's table under host entity types too: last use, idle sweep); a host processes
/// the requests of all its sessions one at a time, so each session sees its requests in
/// order and alone (the shard design keeps a session near 130 bytes; a CAF actor per session costs
/// about 1.5 KB before any state: sv-bench-sessions, docs/performance.md).
///
/// Messages (host_actor in session_protocol.hpp; every handler first takes its message,
/// counted as its items, off `cell`):
/// - `host_work`: a part of a batch. Taken up only if its gateway has not expired it; if
///   taken up after its deadline every item is refused `overloaded` and nothing changes;
///   else each item is applied as the single requests below and its result written to
///   the join.
/// - `open_request` -> `uint64_t` session id, or `invalid_argument`, `session_exists`,
///   or the entitlement hook's error;
/// - `heartbeat` -> `ok_atom`; `command` -> `ok_atom` (close ends the session); both fail
///   with `unknown_session`, `session_closed` or `invalid_argument` and change nothing;
/// - `(get_atom, uint64_t id)` -> `session_info`;
/// - `(sessions_atom)` -> `uint64_t`, the number of open sessions.
/// Idle sessions are swept every idle_timeout / 10 (a swept session reports a close).
/// `flow` (may be null) receives the latency of every open and heartbeat that carries a
/// send time. On exit it hands on what it buffered; its sessions end with it.
host_actor spawn_session_host(caf::actor_system& sys, host_settings settings,
                              std::shared_ptr<flow::load_cell> cell,
                              flow::flow_context* flow = nullptr, uint32_t index = 0);

/// The atom of the open-sessions query.
caf::message sessions_query();

/// Steady-clock time in ns, for `sent_at_ns`.
using flow::steady_now_ns;

/// The item results of a refusal or error, and back (sv::errc codes; other errors become
/// `unavailable` with their text).
item_result to_result(const caf::error& err);
caf::error to_error(const item_result& r);

} // namespace sv::session

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(sv::session::session_event_block)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(sv::session::position_block)
