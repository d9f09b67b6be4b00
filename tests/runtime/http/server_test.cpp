// The runtime's HTTP server with raw TCP clients on loopback: keep-alive and pipelining in
// order, the limits (431, 413, connections), slow clients and silent handlers timed out,
// answers from other threads, errors in handlers, and a graceful stop. Bounded waits.

#include "runtime/http/server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

namespace {

using namespace std::chrono_literals;

// A client connection with a 3 s receive timeout.
struct client {
  int fd = -1;
  std::string buf; // received, not yet returned

  explicit client(uint16_t port) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    timeval tv{3, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  }
  ~client() {
    ::close(fd);
  }

  void send(const std::string& data) {
    REQUIRE(::send(fd, data.data(), data.size(), MSG_NOSIGNAL)
            == static_cast<ssize_t>(data.size()));
  }

  bool fill() {
    char chunk[4096];
    auto n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) {
      return false;
    }
    buf.append(chunk, static_cast<size_t>(n));
    return true;
  }

  // The next whole response (head and body), or "" when the connection closed first.
  std::string response() {
    size_t end;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) {
        return {};
      }
    }
    size_t length = 0;
    auto at = buf.find("Content-Length: ");
    if (at != std::string::npos && at < end) {
      length = std::strtoull(buf.c_str() + at + 16, nullptr, 10);
    }
    while (buf.size() < end + 4 + length) {
      if (!fill()) {
        return {};
      }
    }
    auto out = buf.substr(0, end + 4 + length);
    buf.erase(0, end + 4 + length);
    return out;
  }

  // True when the server closed the connection (and sent nothing more).
  bool closed() {
    return buf.empty() && !fill();
  }
};

std::string body_of(const std::string& res) {
  return res.substr(res.find("\r\n\r\n") + 4);
}

sv::http::handler echo() {
  return [](sv::http::request&& req, const sv::http::reply_fn& reply) {
    reply({200,
           "text/plain",
           req.method + " " + req.path + " ?" + req.query + " " + req.body,
           {{"x-seen", req.find("x-test") != nullptr ? *req.find("x-test") : "-"}}});
  };
}

sv::http::server_settings quick() {
  sv::http::server_settings s;
  s.read_timeout = 300ms;
  s.write_timeout = 1s;
  s.handler_timeout = 300ms;
  return s;
}

} // namespace

TEST_SUITE("runtime.http") {
  TEST_CASE("keep-alive and pipelined requests are answered in order on one connection") {
    sv::http::server srv;
    REQUIRE(srv.start(quick(), echo()).empty());
    client c{srv.port()};
    c.send("GET /a?x=1 HTTP/1.1\r\nHost: t\r\nX-Test: yes\r\n\r\n");
    auto first = c.response();
    CHECK(first.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(first.find("x-seen: yes\r\n") != std::string::npos);
    CHECK(body_of(first) == "GET /a ?x=1 ");
    // Three at once, the second with a body.
    c.send("GET /b HTTP/1.1\r\nHost: t\r\n\r\n"
           "POST /c HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
           "GET /d HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    CHECK(body_of(c.response()) == "GET /b ? ");
    CHECK(body_of(c.response()) == "POST /c ? hello");
    auto last = c.response();
    CHECK(body_of(last) == "GET /d ? ");
    CHECK(last.find("Connection: close") != std::string::npos);
    CHECK(c.closed());
    CHECK(srv.stats().requests == 4);
    CHECK(srv.stats().accepted == 1);
  }

  TEST_CASE("a head or body over its limit is answered 431 or 413 and the connection closed") {
    sv::http::server srv;
    auto s = quick();
    s.header_limit = 1024;
    s.body_limit = 100;
    REQUIRE(srv.start(s, echo()).empty());
    {
      client c{srv.port()};
      c.send("GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(2000, 'x') + "\r\n\r\n");
      CHECK(c.response().rfind("HTTP/1.1 431 ", 0) == 0);
      CHECK(c.closed());
    }
    {
      client c{srv.port()};
      c.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n" + std::string(101, 'y'));
      CHECK(c.response().rfind("HTTP/1.1 413 ", 0) == 0);
      CHECK(c.closed());
    }
    {
      // Announced too large with Expect: 100-continue: refused before the body is sent.
      client c{srv.port()};
      c.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n");
      CHECK(c.response().rfind("HTTP/1.1 413 ", 0) == 0);
    }
    {
      // Within the limit with Expect: 100-continue: "100 Continue", then the answer.
      client c{srv.port()};
      c.send("POST /ok HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
      CHECK(c.response().rfind("HTTP/1.1 100 Continue\r\n", 0) == 0);
      c.send("abc");
      CHECK(body_of(c.response()) == "POST /ok ? abc");
    }
    {
      client c{srv.port()};
      c.send("this is not http\r\n\r\n");
      CHECK(c.response().rfind("HTTP/1.1 400 ", 0) == 0);
    }
    CHECK(srv.stats().too_large == 3);
    CHECK(srv.stats().bad_requests == 1);
  }

  TEST_CASE("slow clients are closed and silent or throwing handlers answered 503 or 500") {
    sv::http::server srv;
    REQUIRE(srv.start(quick(),
                      [](sv::http::request&& req, const sv::http::reply_fn& reply) {
                        if (req.path == "/silent") {
                          return; // never replies
                        }
                        if (req.path == "/throw") {
                          throw std::runtime_error{"boom"};
                        }
                        reply({200, "text/plain", "ok"});
                      })
                .empty());
    {
      client c{srv.port()};
      c.send("GET / HTTP/1.1\r\nHost:"); // and nothing more
      auto t0 = std::chrono::steady_clock::now();
      CHECK(c.closed());
      CHECK(std::chrono::steady_clock::now() - t0 < 2s);
    }
    {
      client c{srv.port()}; // idle: never sends
      CHECK(c.closed());
    }
    // Counted on the server's thread as it closes; allow it a moment to be seen here.
    for (int i = 0; i < 200 && srv.stats().timed_out < 2; ++i) {
      std::this_thread::sleep_for(10ms);
    }
    CHECK(srv.stats().timed_out == 2);
    client c{srv.port()};
    c.send("GET /silent HTTP/1.1\r\nHost: t\r\n\r\n");
    auto res = c.response();
    CHECK(res.rfind("HTTP/1.1 503 ", 0) == 0);
    CHECK(res.find("retry-after: 1") != std::string::npos);
    c.send("GET /throw HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK(c.response().rfind("HTTP/1.1 500 ", 0) == 0);
    c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n"); // the connection still serves
    CHECK(body_of(c.response()) == "ok");
    CHECK(srv.stats().handler_timeouts == 1);
  }

  TEST_CASE("answers come from other threads and connections beyond the limit get a 503") {
    sv::http::server srv;
    auto s = quick();
    s.max_connections = 2;
    s.read_timeout = 3s;
    std::vector<std::thread> workers;
    REQUIRE(srv.start(s,
                      [&workers](sv::http::request&& req, sv::http::reply_fn reply) {
                        workers.emplace_back([reply, path = req.path] {
                          std::this_thread::sleep_for(20ms);
                          reply({200, "text/plain", "late " + path});
                          reply({500, "text/plain", "a second answer is ignored"});
                        });
                      })
                .empty());
    client a{srv.port()};
    client b{srv.port()};
    a.send("GET /a HTTP/1.1\r\nHost: t\r\n\r\n");
    b.send("GET /b HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK(body_of(a.response()) == "late /a");
    CHECK(body_of(b.response()) == "late /b");
    client third{srv.port()};
    auto res = third.response();
    CHECK(res.rfind("HTTP/1.1 503 ", 0) == 0);
    CHECK(third.closed());
    CHECK(srv.stats().refused == 1);
    a.send("GET /again HTTP/1.1\r\nHost: t\r\n\r\n");
    auto again = a.response();
    CHECK(body_of(again) == "late /again");
    CHECK(again.find("a second answer") == std::string::npos);
    srv.stop();
    for (auto& w : workers) {
      w.join();
    }
  }

  TEST_CASE("stopping answers the requests under way, closes idle connections and the port") {
    sv::http::server srv;
    auto s = quick();
    s.read_timeout = 5s;
    s.handler_timeout = 5s;
    std::thread worker;
    REQUIRE(srv.start(s,
                      [&worker](sv::http::request&&, sv::http::reply_fn reply) {
                        worker = std::thread{[reply] {
                          std::this_thread::sleep_for(200ms);
                          reply({200, "text/plain", "finished"});
                        }};
                      })
                .empty());
    auto port = srv.port();
    client idle{port};
    client busy{port};
    busy.send("GET /work HTTP/1.1\r\nHost: t\r\n\r\n");
    std::this_thread::sleep_for(50ms); // the request is in the handler
    auto t0 = std::chrono::steady_clock::now();
    srv.stop(2s);
    CHECK(std::chrono::steady_clock::now() - t0 < 1500ms);
    auto res = busy.response();
    CHECK(body_of(res) == "finished");
    CHECK(res.find("Connection: close") != std::string::npos);
    CHECK(idle.closed());
    CHECK(srv.port() == 0);
    worker.join();
    // The port is free again.
    sv::http::server again;
    auto s2 = quick();
    s2.port = port;
    CHECK(again.start(s2, echo()).empty());
  }

  TEST_CASE("a bad address or a port in use is reported") {
    sv::http::server a;
    REQUIRE(a.start(quick(), echo()).empty());
    sv::http::server b;
    auto s = quick();
    s.port = a.port();
    CHECK(b.start(s, echo()).find("cannot bind") != std::string::npos);
    CHECK(b.port() == 0);
    s.address = "not-an-ip";
    CHECK(b.start(s, echo()).find("not an IP address") != std::string::npos);
  }
}

#include "runtime/http/request_parse.hpp"

TEST_CASE("a connection's bytes parse as the server reads them: pipelined requests and each "
          "refusal's status") {
  auto out = sv::http::parse_requests("GET /a?x=1 HTTP/1.1\r\nHost: h\r\nX-Mixed-Case: v\r\n\r\n"
                                      "POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
                                      "GET /c HTTP/1.1\r\n",
                                      8192, 1024);
  REQUIRE(out.requests.size() == 2);
  CHECK(out.incomplete);
  CHECK(out.refused_status == 0);
  CHECK(out.requests[0].path == "/a");
  CHECK(out.requests[0].query == "x=1");
  REQUIRE(out.requests[0].find("x-mixed-case") != nullptr);
  CHECK(*out.requests[0].find("x-mixed-case") == "v");
  CHECK(out.requests[1].method == "POST");
  CHECK(out.requests[1].body == "abc");
  // A head above the limit, a body above it, and garbage.
  CHECK(sv::http::parse_requests("GET / HTTP/1.1\r\nX: " + std::string(200, 'a') + "\r\n\r\n", 100,
                                 1024)
            .refused_status
        == 431);
  CHECK(sv::http::parse_requests("POST / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n", 8192, 1024)
            .refused_status
        == 413);
  auto bad = sv::http::parse_requests("GET / HTTP/1.1\r\n\r\nNOT HTTP AT ALL\r\n\r\n", 8192, 1024);
  CHECK(bad.requests.size() == 1);
  CHECK(bad.refused_status == 400);
}
