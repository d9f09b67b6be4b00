#pragma once

// The player API's routes, service classes, error bodies and session handles (CAF-free;
// http_api.cpp serves them, docs/openapi.yaml documents them).

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "runtime/flow/service_class.hpp"
#include "runtime/http/server.hpp"

namespace sv::api {

enum class endpoint : uint8_t {
  healthz,           // GET /healthz
  readyz,            // GET /readyz
  open_session,      // POST /v1/sessions
  session_heartbeat, // POST /v1/sessions/{id}/heartbeat
  session_command,   // POST /v1/sessions/{id}/commands
  close_session,     // DELETE /v1/sessions/{id}
  get_title,         // GET /v1/titles/{id}
  put_title,         // PUT /v1/titles/{id}
  master_playlist,   // GET /v1/titles/{id}/master.m3u8
  get_position,      // GET /v1/users/{user}/positions/{title}
  windows,           // GET /v1/analytics/windows
  heartbeats_batch,  // POST /v1/heartbeats
  events_batch,      // POST /v1/events
};

/// A request's place in the API: its endpoint and path parameters (percent-decoded), or
/// why none matches (`status` 404 or 405 with the methods `allow`ed, 400 for a bad escape).
struct route {
  std::optional<endpoint> match;
  std::string a; ///< the first path parameter (session, title or user id)
  std::string b; ///< the second (the title of a position)
  int status = 0;
  std::string allow;
};

route match(std::string_view method, std::string_view path);

/// What a request of `e` is to the node's flow control: opens, heartbeats, commands and
/// playlists are critical; titles and positions interactive; analytics best effort.
flow::service_class class_of(endpoint e);

/// Whether `e` needs a bearer token (health probes do not).
bool needs_token(endpoint e);

/// "session heartbeat", ... (for logs and metrics labels).
const char* name_of(endpoint e);

/// The value of query parameter `key` in `query` (percent-decoded), or nullopt.
std::optional<std::string> query_param(std::string_view query, std::string_view key);

/// `text` with %XX escapes decoded (and '+' as a space: query strings); nullopt for a
/// malformed escape.
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space);

/// `text` as the inside of a JSON string.
std::string json_escape(std::string_view text);

/// An RFC 9457 problem (application/problem+json): `code` names the problem (its type is
/// "urn:streamverse:problem:<code>"), `detail` says what happened.
http::response problem(int status, std::string_view code, std::string_view detail,
                       std::vector<http::header> headers = {});

/// Session handles: "<node>~<number, hex>~<tag>", where the tag is an HMAC (SHA-256,
/// truncated to 64 bits) of node, number and user under `key`. So any node can tell
/// which node holds a session, and a viewer can act only on sessions opened with its own
/// user's token, with no lookup.
struct session_handle {
  std::string node;
  uint64_t number = 0;
};

std::string make_handle(const session_handle& h, const std::string& user, const std::string& key);

/// The handle `text` if it is well-formed and was made for `user` under `key`.
std::optional<session_handle> check_handle(std::string_view text, const std::string& user,
                                           const std::string& key);

/// check_handle with a memory: a handle that checked out for a user is kept (at most
/// `capacity`, the oldest dropped first), so a session's next request costs a lookup, not
/// an HMAC (the HMAC was about 6% of a node's CPU under heartbeats). Not thread-safe: one
/// per thread or actor.
class handle_checker {
public:
  handle_checker(std::string key, size_t capacity);
  std::optional<session_handle> check(std::string_view text, const std::string& user);
  size_t size() const noexcept {
    return known_.size();
  }

private:
  std::string key_;
  size_t capacity_;
  std::unordered_map<std::string, session_handle> known_; // user '\n' handle
  std::deque<std::string> order_;
};

/// A fast reader of flat JSON objects whose fields are all integers, such as a heartbeat's
/// body: `out[i]` gets the value of field `names[i]` (0 when absent). It takes only the
/// plain form, {"name": integer, ...} with names among `names` (at most 64), each at most once, and
/// integers of at most 18 digits without a fraction, an exponent or a leading zero, and
/// returns false for anything else, which the caller then gives to the full parser (the
/// one that decides what is an error; for what this one takes, both agree).
bool read_int_fields(std::string_view json, const std::vector<std::string_view>& names,
                     std::vector<int64_t>& out);

} // namespace sv::api
