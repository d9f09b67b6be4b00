// The metrics and health endpoints' server: the runtime's HTTP server (runtime/http) behind
// the small interface this module had before it.

#include "runtime/metrics/http_server.hpp"

#include "runtime/http/server.hpp"

namespace sv::metrics {

struct http_server::impl {
  http::server server;
};

http_server::http_server() : impl_(std::make_unique<impl>()) {}

http_server::~http_server() {
  stop();
}

namespace {

http::server_settings settings_for(const std::string& address, uint16_t port) {
  http::server_settings s;
  s.address = address;
  s.port = port;
  s.max_connections = 64; // scrapes, probes and tests: few at a time
  s.read_timeout = std::chrono::milliseconds{2000};
  s.write_timeout = std::chrono::milliseconds{5000};
  return s;
}

http::response to_http(http_response r) {
  return {r.status, std::move(r.content_type), std::move(r.body)};
}

} // namespace

std::string http_server::start(const std::string& address, uint16_t port, handler h) {
  return impl_->server.start(
      settings_for(address, port),
      [h = std::move(h)](http::request&& req, const http::reply_fn& reply) {
        if (req.method != "GET") {
          reply({405, "text/plain; charset=utf-8", "only GET is supported\n", {{"allow", "GET"}}});
          return;
        }
        reply(to_http(h(req.path)));
      });
}

std::string http_server::start(const std::string& address, uint16_t port, request_handler h) {
  return impl_->server.start(settings_for(address, port),
                             [h = std::move(h)](http::request&& req, const http::reply_fn& reply) {
                               http_request r;
                               r.method = std::move(req.method);
                               r.path = std::move(req.path);
                               r.body = std::move(req.body);
                               reply(to_http(h(r)));
                             });
}

uint16_t http_server::port() const noexcept {
  return impl_->server.port();
}

void http_server::stop() {
  impl_->server.stop();
}

} // namespace sv::metrics
