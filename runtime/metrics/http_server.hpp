#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace sv::metrics {

/// What a handler answers for one GET request.
struct http_response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

/// One request as the general handler sees it.
struct http_request {
  std::string method; ///< "GET", "POST", ...
  std::string path;   ///< without the query string
  std::string body;   ///< as long as its Content-Length says (at most 1 MiB)
};

/// The server of /metrics, /healthz and /readyz (and of tests' webhook partners): the
/// runtime's HTTP server (runtime/http/server.hpp: keep-alive, bounded connections, heads
/// and bodies) with synchronous handlers run on its thread (a scrape is rare and cheap).
/// At most 64 connections; a request must arrive within 2 s; bodies up to 1 MiB.
class http_server {
public:
  using handler = std::function<http_response(const std::string& path)>;
  /// Sees every request, whatever its method (tests use it as a webhook partner).
  using request_handler = std::function<http_response(const http_request& req)>;

  http_server();
  ~http_server(); ///< Calls stop().
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  /// Binds `address:port` (port 0 picks a free one) and starts serving. Returns an empty
  /// string on success, else why it failed (nothing is left running then).
  std::string start(const std::string& address, uint16_t port, handler h);
  /// The same with a handler for any method; requests with a body are read whole first.
  std::string start(const std::string& address, uint16_t port, request_handler h);

  /// The bound port, or 0 when not running.
  uint16_t port() const noexcept;

  /// Stops accepting and joins the thread. Idempotent.
  void stop();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace sv::metrics
