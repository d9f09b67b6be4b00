#pragma once

// Requests a viewer session takes, and what it reports. Plain structs with a CAF 0.17
// inspect overload; sessions live on the node where they were opened (design §3), so these
// never cross nodes.

#include <chrono>
#include <cstdint>
#include <string>

#include "caf/error.hpp"
#include "caf/meta/load_callback.hpp"
#include "caf/meta/type_name.hpp"

namespace sv::session {

/// Subscription tiers, lowest first.
enum class tier : uint8_t { free = 0, basic = 1, standard = 2, premium = 3 };

/// Opens a session. `session_id` is chosen by the caller (e.g. a hash of the player's
/// session token) and routes every later request to the same session.
struct open_request {
  uint64_t session_id = 0;
  std::string user;
  std::string content;
  std::string device;
  std::string region;
  uint8_t subscription = 0; ///< a `tier`
  int64_t sent_at_ns = 0;   ///< steady clock at send time (critical latency)
};

/// The player's periodic report.
struct heartbeat_report {
  uint64_t session_id = 0;
  int64_t position_ms = 0;
  int64_t bitrate_kbps = 0;
  int64_t buffer_ms = 0;
  int64_t dropped_frames = 0;
  int64_t sent_at_ns = 0;
};

/// Everything else a player does to a session.
enum class command_kind : uint8_t { pause = 0, resume = 1, seek = 2, quality = 3, close = 4 };

struct command {
  uint64_t session_id = 0;
  command_kind kind = command_kind::pause;
  /// seek: the new position in ms; quality: the new bitrate in kbps; otherwise unused.
  int64_t value = 0;
};

/// A snapshot of one session (answer to a query).
struct session_info {
  uint64_t session_id = 0;
  std::string user;
  std::string content;
  std::string device;
  std::string region;
  uint8_t subscription = 0;
  bool paused = false;
  int64_t position_ms = 0;
  int64_t bitrate_kbps = 0;
  int64_t buffer_ms = 0;
  int64_t dropped_frames = 0;
  uint32_t heartbeats = 0;
  uint32_t seeks = 0;
  uint32_t quality_changes = 0;
};

/// What validation accepts. Anything outside is refused with `invalid_argument` and
/// changes nothing.
struct session_limits {
  size_t max_field_bytes = 128;                      ///< user, content, device, region
  int64_t max_position_ms = int64_t{7} * 86'400'000; ///< a week of playback
  int64_t max_bitrate_kbps = 200'000;                ///< 200 Mbit/s: beyond any real rendition
  int64_t max_buffer_ms = 600'000;                   ///< ten minutes
};

/// Why `r` is not acceptable, or empty.
std::string validate(const open_request& r, const session_limits& lim);
std::string validate(const heartbeat_report& h, const session_limits& lim);
std::string validate(const command& c, const session_limits& lim);

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, open_request& x) {
  return f(caf::meta::type_name("sv.session.open_request"), x.session_id, x.user, x.content,
           x.device, x.region, x.subscription, x.sent_at_ns);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, heartbeat_report& x) {
  return f(caf::meta::type_name("sv.session.heartbeat"), x.session_id, x.position_ms,
           x.bitrate_kbps, x.buffer_ms, x.dropped_frames, x.sent_at_ns);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, command& x) {
  auto kind = static_cast<uint8_t>(x.kind);
  auto apply_kind = caf::meta::load_callback([&]() -> caf::error {
    x.kind = static_cast<command_kind>(kind);
    return caf::none;
  });
  return f(caf::meta::type_name("sv.session.command"), x.session_id, kind, apply_kind, x.value);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, session_info& x) {
  return f(caf::meta::type_name("sv.session.session_info"), x.session_id, x.user, x.content,
           x.device, x.region, x.subscription, x.paused, x.position_ms, x.bitrate_kbps, x.buffer_ms,
           x.dropped_frames, x.heartbeats, x.seeks, x.quality_changes);
}

} // namespace sv::session
