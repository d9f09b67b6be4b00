#pragma once

// A POST over HTTP with libcurl (Debian's libcurl4-openssl-dev), for the webhooks.

#include <chrono>
#include <string>
#include <vector>

namespace sv::integrations {

struct http_reply {
  /// The HTTP status, or 0 when no answer came (see `error`).
  long status = 0;
  std::string body;
  /// Why no answer came (connection refused, timeout, ...); empty when one came.
  std::string error;
  bool timed_out = false;
};

/// POSTs `body` as `application/json` to `url` (http or https) and waits at most
/// `timeout` for the whole exchange, connecting included. `headers` are extra header
/// lines ("Authorization: Bearer ..."). Thread-safe; a thread reuses its connection to
/// the same host (keep-alive). Answers bigger than 4 MiB are cut off and reported as an
/// error. Never throws.
http_reply http_post(const std::string& url, const std::string& body,
                     std::chrono::milliseconds timeout,
                     const std::vector<std::string>& headers = {});

} // namespace sv::integrations
