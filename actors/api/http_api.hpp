#pragma once

// The player API: HTTP/1.1 + JSON on every node that sets [http] port (issue #17; the
// endpoints are in docs/openapi.yaml, the routes in routes.hpp).
//
//   sv::api::http_api api{node, {&catalog, &cache, &watch, &analytics, &gateway}};
//   // ... serves until destroyed; api.drain(5s) first for a graceful stop
//
// Every request but the health probes carries a bearer token (auth.hpp) checked here, on
// the node; its endpoint's service class is admitted by the node's flow gate (refused:
// 429 with Retry-After, or 503 when the node's level sheds the class), and it is answered
// within http.request_timeout_ms. Work goes to the node's services as actor requests from
// one bridge actor: the HTTP thread never waits for a service. Errors are RFC 9457
// problem bodies with a `code` (overloaded, not_found, not_in_region, ...).

#include <chrono>
#include <cstdint>
#include <memory>

#include "runtime/http/server.hpp"

namespace sv {
class node;
} // namespace sv
namespace sv::content {
class catalog;
} // namespace sv::content
namespace sv::cache {
class cache;
} // namespace sv::cache
namespace sv::media {
class watch_state;
} // namespace sv::media
namespace sv::analytics {
class analytics;
} // namespace sv::analytics
namespace sv::session {
class gateway;
} // namespace sv::session

namespace sv::api {

/// The node services the API serves from (all started, alive as long as the API).
struct api_parts {
  content::catalog* catalog = nullptr;
  cache::cache* cache = nullptr;
  media::watch_state* watch = nullptr;
  analytics::analytics* analytics = nullptr;
  session::gateway* gateway = nullptr;
};

class http_api {
public:
  /// Serves [http] on `n`; nothing when http.port is 0. Throws std::runtime_error saying
  /// why it cannot start (no or a short token key, the address or port).
  http_api(node& n, api_parts parts);
  ~http_api();
  http_api(const http_api&) = delete;
  http_api& operator=(const http_api&) = delete;

  /// The port served (0: off).
  uint16_t port() const noexcept;

  /// Stops taking connections and answers the requests under way, for up to `grace`.
  void drain(std::chrono::milliseconds grace);

  http::server_stats stats() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace sv::api
