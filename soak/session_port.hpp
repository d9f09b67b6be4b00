#pragma once

// How the soak driver's viewers reach their sessions (viewers.protocol in the scenario):
//
// - "edge": through the edge client (actors/session/edge_client.hpp), CAF's binary protocol,
//   as an edge or API server linked against this library does;
// - "http": through the nodes' player API (actors/api, docs/player-api.md), as players and
//   edge servers that only speak HTTP do: POST /v1/sessions with the viewer's own token,
//   heartbeats in POST /v1/heartbeats batches per node (an edge server's ops token naming
//   each session's user), closes with DELETE /v1/sessions/{id}.
//
// Either way every call gets exactly one session::edge_result in the sink, by the
// deadline: ok, or a CAF error the driver classifies (overloaded, unknown_session,
// session_closed, unavailable, or another error, which the soak counts as unaccounted).

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/session/edge_client.hpp"

namespace sv::soak {

class session_port {
public:
  virtual ~session_port() = default;
  /// Opens r.session_id (the driver's number) on `node`.
  virtual void open(session::open_request r, uint64_t cookie, uint32_t node) = 0;
  /// To the node the session was opened on.
  virtual void heartbeat(session::heartbeat_report h, uint64_t cookie) = 0;
  virtual void command(session::command c, uint64_t cookie) = 0;
  /// Whether node `i` answers now.
  virtual bool connected(uint32_t i) const = 0;
  /// Node `i` was started (again): try it now.
  virtual void node_up(uint32_t i) = 0;
  /// For the driver's results: `"protocol":"...",` and its own counters, as JSON members.
  virtual std::string json_members() const = 0;
};

/// The edge client as a session_port.
std::unique_ptr<session_port> edge_port(session::edge_client& client);

struct http_port_settings {
  /// Each node's API as "http://HOST:PORT" (the index is the node's).
  std::vector<std::string> nodes;
  /// The key of the nodes' http.token_key_file: viewers' tokens are minted with it.
  std::string token_key;
  /// Every call is answered within this.
  std::chrono::milliseconds deadline{2000};
  /// Heartbeats per POST /v1/heartbeats, and the longest a partial batch waits.
  size_t max_batch = 256;
  std::chrono::microseconds linger{2000};
  /// Connections per node at most (keep-alive; requests beyond wait for one).
  long connections_per_node = 32;
};

/// The player API as a session_port (libcurl on a thread of its own). Throws
/// std::runtime_error when libcurl cannot start or the key is unusable.
std::unique_ptr<session_port> http_port(http_port_settings s, session::edge_client::sink sink);

} // namespace sv::soak
