#pragma once

// The session domain's error codes (category "svsession"): what a session
// gateway or host answers about a session itself. Refusals every service may give
// (overloaded, invalid_argument, unavailable, ...) are the runtime's `sv::errc`.
//
//   if (sv::is(err, sv::session::session_errc::unknown_session)) { /* open it again */ }

#include <cstdint>

#include "runtime/wire/errc.hpp"

namespace sv::session {

/// Values are part of the wire format: only append.
enum class session_errc : uint8_t {
  /// No session with that id is open on the node (never opened, or closed long ago).
  unknown_session = 1,
  /// The session was closed; it takes no more requests.
  session_closed = 2,
  /// A session with that id is already open.
  session_exists = 3,
};

/// "unknown_session", ... (nullptr for a value not listed above).
const char* to_string(session_errc x);

} // namespace sv::session

namespace sv {

template <>
struct error_domain<session::session_errc> {
  static constexpr caf::atom_value category = caf::atom("svsession");
  static const char* name(session::session_errc x) {
    return session::to_string(x);
  }
};

} // namespace sv
