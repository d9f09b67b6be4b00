// libFuzzer target: raw bytes as the HTTP server (runtime/http, the player API and the
// metrics port) reads them from a connection: Beast's request parser with the API's
// default limits (8 KiB head, 1 MiB body), pipelined requests one after another, each
// converted into the server's request type and routed as the API routes it. Every outcome
// must be a request, a refusal the server answers (400, 413, 431) or "wait for more";
// never a crash, a leak or undefined behaviour.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "actors/api/routes.hpp"
#include "runtime/http/request_parse.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes{reinterpret_cast<const char*>(data), size};
  auto out = sv::http::parse_requests(bytes, 8192, 1024 * 1024);
  if (out.refused_status != 0 && out.refused_status != 400 && out.refused_status != 413
      && out.refused_status != 431) {
    __builtin_trap();
  }
  for (auto& r : out.requests) {
    // What handlers rely on: a path without its query, lower-case header names, a body
    // within the limit.
    if (r.path.find('?') != std::string::npos || r.body.size() > 1024 * 1024) {
      __builtin_trap();
    }
    for (auto& h : r.headers) {
      for (unsigned char c : h.name) {
        if (c >= 'A' && c <= 'Z') {
          __builtin_trap();
        }
      }
    }
    auto route = sv::api::match(r.method, r.path);
    if (route.match) {
      (void)sv::api::class_of(*route.match);
    }
    (void)r.find("authorization");
    (void)sv::api::query_param(r.query, "title");
  }
  return 0;
}
