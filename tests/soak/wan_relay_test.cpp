// The WAN relay the soak's wan and partition phases run on: bytes pass intact and in
// order under jitter, a round trip takes at least twice the one-way delay, a partition
// holds everything in both directions and refuses new connections until it heals.
// Loopback only; every socket wait is bounded (2 s receive timeouts).

#include "soak/wan_relay.hpp"

#include <chrono>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace std::chrono_literals;
using sv::soak::wan_link;
using sv::soak::wan_relay;

namespace {

void with_timeout(int fd, std::chrono::milliseconds t) {
  timeval tv{static_cast<time_t>(t.count() / 1000),
             static_cast<suseconds_t>((t.count() % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

// An echo server on a free loopback port: echoes every connection until it closes.
class echo_server {
public:
  echo_server() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread{[this] {
      for (int i = 0; i < 8; ++i) { // bounded: at most 8 connections per test
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 3000) <= 0) {
          return;
        }
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) {
          return;
        }
        workers_.emplace_back([c] {
          with_timeout(c, 3000ms);
          char buf[65536];
          for (;;) {
            auto n = ::read(c, buf, sizeof buf);
            if (n <= 0) {
              break;
            }
            if (::send(c, buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n) {
              break;
            }
          }
          ::close(c);
        });
      }
    }};
  }
  ~echo_server() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    for (auto& w : workers_) {
      w.join();
    }
    ::close(fd_);
  }
  uint16_t port() const {
    return port_;
  }

private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  std::vector<std::thread> workers_;
};

int dial(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  with_timeout(fd, 2000ms);
  return fd;
}

// Reads exactly n bytes (or what came before a timeout or close).
std::string read_n(int fd, size_t n) {
  std::string out;
  char buf[65536];
  while (out.size() < n) {
    auto got = ::read(fd, buf, std::min(sizeof buf, n - out.size()));
    if (got <= 0) {
      break;
    }
    out.append(buf, static_cast<size_t>(got));
  }
  return out;
}

} // namespace

TEST_SUITE("soak.wan_relay") {
  TEST_CASE("a megabyte passes through and back intact and in order under jitter") {
    echo_server echo;
    wan_relay relay{{"127.0.0.1", echo.port()}, {2ms, 5ms}};
    auto port = relay.start();
    int fd = dial(port);
    std::string data(1 << 20, '\0');
    std::mt19937 rng{7};
    for (auto& ch : data) {
      ch = static_cast<char>(rng());
    }
    std::thread writer{[&] {
      size_t sent = 0;
      while (sent < data.size()) {
        auto n = ::send(fd, data.data() + sent, std::min<size_t>(4096, data.size() - sent),
                        MSG_NOSIGNAL);
        if (n <= 0) {
          break;
        }
        sent += static_cast<size_t>(n);
      }
    }};
    auto back = read_n(fd, data.size());
    writer.join();
    ::close(fd);
    CHECK(back.size() == data.size());
    CHECK(back == data);
    CHECK(relay.stats().connections == 1);
    // The relay counts a chunk after send() returns, so the client may have read the last
    // bytes a moment before they are counted: wait for the count, bounded.
    auto deadline = std::chrono::steady_clock::now() + 2s;
    while (relay.stats().bytes < 2 * data.size() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
    CHECK(relay.stats().bytes == 2 * data.size());
  }

  TEST_CASE("a round trip takes at least twice the one-way delay") {
    echo_server echo;
    wan_relay relay{{"127.0.0.1", echo.port()}, {40ms, 0ms}};
    int fd = dial(relay.start());
    auto t0 = std::chrono::steady_clock::now();
    REQUIRE(::send(fd, "x", 1, MSG_NOSIGNAL) == 1);
    CHECK(read_n(fd, 1) == "x");
    CHECK(std::chrono::steady_clock::now() - t0 >= 80ms);
    // A new link applies to what is sent from then on.
    relay.set_link({0ms, 0ms});
    REQUIRE(::send(fd, "y", 1, MSG_NOSIGNAL) == 1);
    CHECK(read_n(fd, 1) == "y");
    ::close(fd);
  }

  TEST_CASE("a partition holds both directions and refuses new connections until it heals") {
    echo_server echo;
    wan_relay relay{{"127.0.0.1", echo.port()}, {1ms, 0ms}};
    auto port = relay.start();
    int fd = dial(port);
    REQUIRE(::send(fd, "a", 1, MSG_NOSIGNAL) == 1);
    REQUIRE(read_n(fd, 1) == "a");
    relay.set_partitioned(true);
    REQUIRE(::send(fd, "bc", 2, MSG_NOSIGNAL) == 2);
    pollfd p{fd, POLLIN, 0};
    CHECK(::poll(&p, 1, 300) == 0); // nothing comes back while cut
    int late = dial(port);          // the listener still accepts, then closes
    char c = 0;
    CHECK(::read(late, &c, 1) == 0);
    ::close(late);
    CHECK(relay.stats().refused == 1);
    relay.set_partitioned(false);
    CHECK(read_n(fd, 2) == "bc"); // held, now delivered
    ::close(fd);
  }

  TEST_CASE("a target that is not listening: the client's connection is closed and counted") {
    uint16_t dead_port = 0;
    {
      echo_server gone; // bound, then closed: nothing listens there afterwards
      dead_port = gone.port();
    }
    wan_relay relay{{"127.0.0.1", dead_port}, {1ms, 0ms}};
    int fd = dial(relay.start());
    char c = 0;
    CHECK(::read(fd, &c, 1) == 0);
    ::close(fd);
    CHECK(relay.stats().refused == 1);
    CHECK(relay.stats().connections == 0);
  }
}
