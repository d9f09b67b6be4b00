#pragma once

// How the HTTP server reads requests from a connection's bytes, without a socket: the same
// Beast parser with the same limits, the same conversion into `request`, the same status
// for a refusal. The server uses these; the fuzz target fuzz_http_request feeds raw bytes
// through them (issue #18).

#include <cstddef>
#include <string_view>
#include <vector>

#include "runtime/http/server.hpp"

namespace sv::http {

struct parse_outcome {
  /// The complete requests, in order (pipelined ones included), until the first refusal.
  std::vector<request> requests;
  /// 0, or what the server answers the first bad request with before it closes: 400 (bad
  /// request), 413 (body above body_limit) or 431 (head above header_limit).
  int refused_status = 0;
  /// The bytes ended inside a request (the server would wait for more).
  bool incomplete = false;
};

/// Parses `bytes` as one connection's stream of requests under the server's limits.
parse_outcome parse_requests(std::string_view bytes, size_t header_limit, size_t body_limit);

} // namespace sv::http
