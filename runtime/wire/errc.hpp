#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "caf/fwd.hpp"

namespace sv {

/// Error codes of the StreamVerse runtime. They travel between nodes as CAF errors of
/// the category `sv_error_category` (the atom "sv"), so a remote sender sees
/// the same code a local one does. Values are part of the wire format: only append.
enum class errc : uint8_t {
  /// A message arrived that could not be decoded (unknown type or corrupt payload).
  undecodable_payload = 1,
  /// A peer announced a node name that another live peer already uses.
  duplicate_node_name = 2,
  /// A peer speaks a wire protocol this node does not understand.
  protocol_mismatch = 3,
  /// The target is over its watermark; the request was refused (retry later).
  overloaded = 4,
  /// A request carried invalid arguments; nothing was changed.
  invalid_argument = 5,
  /// No entity with that key is active (never opened, or closed long ago).
  unknown_session = 6,
  /// The session was closed; it takes no more requests.
  session_closed = 7,
  /// A session with that id is already open.
  session_exists = 8,
  /// The entitlement hook refused the viewer.
  not_entitled = 9,
  /// An update named an expected version that is not the current one; nothing changed.
  version_conflict = 10,
  /// No such item (e.g. an unknown content id) or no such service on that node.
  not_found = 11,
  /// No node can take the request right now (e.g. the owner of a key is unreachable).
  unavailable = 12,
  /// The title may not be played in the viewer's region.
  not_in_region = 13,
  /// The title's availability window has not begun or has ended.
  outside_window = 14,
  /// The title has no rendition ready to play yet.
  no_ready_rendition = 15,
};

/// Human-readable name of `x` (e.g. "undecodable_payload").
std::string to_string(errc x);

/// Wraps `x` into a CAF error of the StreamVerse category, with an optional context.
caf::error make_error(errc x);
caf::error make_error(errc x, std::string context);

/// The refusal the flow gate sends: `overloaded`, naming the service class and how long
/// the caller should wait before retrying. Renders as
/// "streamverse: overloaded (bulk, retry after 50 ms)".
caf::error make_overloaded(const std::string& service_class, std::chrono::milliseconds retry_after);

/// The retry-after hint of an `overloaded` error, or nullopt for any other error.
std::optional<std::chrono::milliseconds> retry_after(const caf::error& err);

/// True when `err` carries the StreamVerse code `x`.
bool is(const caf::error& err, errc x);

/// True when `err` is an answer of a StreamVerse service (a code of this category or of a
/// domain's, whose categories all start with "sv"), as opposed to a transport or CAF error
/// (timeout, actor down, ...): a relaying node passes such a refusal on instead of trying
/// elsewhere.
bool is_refusal(const caf::error& err);

/// Registers the error category with a config so that `actor_system::render` prints
/// StreamVerse errors by name. Called by `wire::register_message_types`.
void add_error_category(caf::actor_system_config& cfg);

} // namespace sv
