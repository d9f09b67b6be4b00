#pragma once

// The runtime's HTTP/1.1 server (Boost.Beast behind this header: only server.cpp sees it).
//
//   sv::http::server srv;
//   sv::http::server_settings s;
//   s.port = 8080;
//   auto why = srv.start(s, [](sv::http::request&& req, sv::http::reply_fn reply) {
//     reply({200, "application/json", "{}"}); // now, or later from any thread
//   });
//
// - Keep-alive and pipelining: a connection's requests are read and answered one at a
//   time, in order; a pipelined request waits in the connection's buffer for the answer
//   before it.
// - Bounds: at most `max_connections` open (one more is answered 503 and closed), request
//   heads up to `header_limit` bytes (else 431), bodies up to `body_limit` (else 413),
//   both answered and then the connection closed. A request must arrive whole within
//   `read_timeout` of the previous answer (or of the connection), else the connection is
//   closed (slow clients); an answer must be taken within `write_timeout`.
// - Every request gets an answer: a handler that has not replied within `handler_timeout`
//   is answered 503 for it (its later reply is dropped); one that throws, 500.
// - `Expect: 100-continue` is honoured (curl sends it for larger bodies).
// - stop(grace): stops accepting, closes idle connections, lets requests under way be
//   answered (without keep-alive) for up to `grace`, then closes the rest.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sv::http {

struct header {
  std::string name; ///< lower-case in requests
  std::string value;
};

struct request {
  std::string method; ///< "GET", "POST", ...
  std::string target; ///< as sent: path and query
  std::string path;   ///< the target up to '?'
  std::string query;  ///< after '?' ("" without one)
  std::vector<header> headers;
  std::string body;
  std::string remote; ///< the client's address:port

  /// The value of header `name` (lower-case), or nullptr.
  const std::string* find(std::string_view name) const;
};

struct response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<header> headers = {}; ///< more headers (e.g. ETag, Retry-After)
};

/// Answers one request; call it once, from any thread (later calls are ignored).
using reply_fn = std::function<void(response)>;
/// Called on the server's thread for each request; must not block for long.
using handler = std::function<void(request&&, reply_fn)>;

struct server_settings {
  std::string address = "127.0.0.1"; ///< IPv4 or IPv6 literal
  uint16_t port = 0;                 ///< 0: any free port (see server::port)
  size_t max_connections = 1024;
  size_t header_limit = 8 * 1024;
  size_t body_limit = 1024 * 1024;
  std::chrono::milliseconds read_timeout{15'000};
  std::chrono::milliseconds write_timeout{15'000};
  std::chrono::milliseconds handler_timeout{10'000};
  unsigned threads = 1;
};

/// What the server did so far.
struct server_stats {
  uint64_t accepted = 0;
  uint64_t refused = 0; ///< connections over max_connections (answered 503)
  uint64_t open = 0;    ///< connections open now
  uint64_t requests = 0;
  uint64_t bad_requests = 0;     ///< 400: unparseable
  uint64_t too_large = 0;        ///< 413 and 431
  uint64_t timed_out = 0;        ///< connections closed for a slow read or write
  uint64_t handler_timeouts = 0; ///< answered 503 for a handler
};

class server {
public:
  server();
  ~server(); ///< stop() with no grace
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Binds and starts serving. An empty string on success, else why not (nothing runs).
  std::string start(const server_settings& s, handler h);

  /// The bound port, or 0 when not running.
  uint16_t port() const noexcept;

  /// Stops accepting, answers what is under way for up to `grace`, closes every
  /// connection and joins the threads. Idempotent.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds{0});

  server_stats stats() const;

private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

/// The standard reason phrase of `status` ("Unknown" for others).
const char* reason(int status);

} // namespace sv::http
