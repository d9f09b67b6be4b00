#include "runtime/metrics/http_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include <doctest/doctest.h>

namespace {

// Sends `request` to 127.0.0.1:port and returns the whole response (the server closes).
std::string exchange(uint16_t port, const std::string& request) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  REQUIRE(::send(fd, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size()));
  std::string out;
  char buf[1024];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof(buf), 0)) > 0;) {
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

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
    auto res = exchange(srv.port(), "GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(res.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(res.find("Content-Type: text/plain; version=0.0.4\r\n") != std::string::npos);
    CHECK(res.find("Content-Length: 8\r\n") != std::string::npos);
    CHECK(res.substr(res.size() - 8) == "sv_up 1\n");
    CHECK(exchange(srv.port(), "GET /nope HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 404", 0) == 0);
  }

  TEST_CASE("the HTTP server refuses other methods and garbage") {
    sv::metrics::http_server srv;
    REQUIRE(srv.start("127.0.0.1", 0, route).empty());
    CHECK(exchange(srv.port(), "POST /metrics HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 405", 0) == 0);
    CHECK(exchange(srv.port(), "nonsense\r\n\r\n").rfind("HTTP/1.1 400", 0) == 0);
  }

  TEST_CASE("the HTTP server reports a port in use and a bad address") {
    sv::metrics::http_server a;
    REQUIRE(a.start("127.0.0.1", 0, route).empty());
    sv::metrics::http_server b;
    auto err = b.start("127.0.0.1", a.port(), route);
    CHECK(err.find("cannot bind") != std::string::npos);
    CHECK(b.port() == 0);
    CHECK(b.start("not-an-ip", 0, route).find("not an IPv4 address") != std::string::npos);
  }

  TEST_CASE("stopping the HTTP server closes its port") {
    sv::metrics::http_server srv;
    REQUIRE(srv.start("127.0.0.1", 0, route).empty());
    auto port = srv.port();
    srv.stop();
    CHECK(srv.port() == 0);
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    CHECK(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0);
    ::close(fd);
  }

} // TEST_SUITE
