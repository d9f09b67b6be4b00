#include "runtime/metrics/http_server.hpp"

#include <string>

#include <doctest/doctest.h>

#include "tests/support/loopback.hpp"

namespace {

using sv::test::tcp_exchange;

sv::metrics::http_response route(const std::string& path) {
  if (path == "/metrics") {
    return {200, "text/plain; version=0.0.4", "sv_up 1\n"};
  }
  return {404, "text/plain", "not found\n"};
}

} // namespace

TEST_SUITE("runtime.metrics") {

  TEST_CASE("the HTTP server answers GET with the handler's status, type and body") {
    sv::metrics::http_server srv;
    REQUIRE(srv.start("127.0.0.1", 0, route).empty());
    REQUIRE(srv.port() != 0);
    auto res = tcp_exchange(srv.port(),
                            "GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(res.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(res.find("Content-Type: text/plain; version=0.0.4\r\n") != std::string::npos);
    CHECK(res.find("Content-Length: 8\r\n") != std::string::npos);
    CHECK(res.substr(res.size() - 8) == "sv_up 1\n");
    CHECK(tcp_exchange(srv.port(), "GET /nope HTTP/1.1\r\nConnection: close\r\n\r\n")
              .rfind("HTTP/1.1 404", 0)
          == 0);
  }

  TEST_CASE("the HTTP server refuses other methods and garbage") {
    sv::metrics::http_server srv;
    REQUIRE(srv.start("127.0.0.1", 0, route).empty());
    CHECK(tcp_exchange(srv.port(), "POST /metrics HTTP/1.1\r\nConnection: close\r\n\r\n")
              .rfind("HTTP/1.1 405", 0)
          == 0);
    CHECK(tcp_exchange(srv.port(), "nonsense\r\n\r\n").rfind("HTTP/1.1 400", 0) == 0);
  }

  TEST_CASE("the HTTP server reports a port in use and a bad address") {
    sv::metrics::http_server a;
    REQUIRE(a.start("127.0.0.1", 0, route).empty());
    sv::metrics::http_server b;
    auto err = b.start("127.0.0.1", a.port(), route);
    CHECK(err.find("cannot bind") != std::string::npos);
    CHECK(b.port() == 0);
    CHECK(b.start("not-an-ip", 0, route).find("not an IP address") != std::string::npos);
  }

  TEST_CASE("stopping the HTTP server closes its port") {
    sv::metrics::http_server srv;
    REQUIRE(srv.start("127.0.0.1", 0, route).empty());
    auto port = srv.port();
    CHECK(sv::test::accepts_connections(port));
    srv.stop();
    CHECK(srv.port() == 0);
    CHECK_FALSE(sv::test::accepts_connections(port));
  }

} // TEST_SUITE
