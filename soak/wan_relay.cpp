#include "soak/wan_relay.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <list>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace sv::soak {

namespace {

// Bytes held per direction before the relay stops reading from the sender (the sender's
// TCP window then closes, as behind a slow link).
constexpr size_t max_held = size_t{8} << 20;
constexpr size_t read_size = 64 * 1024;
// The longest the loop sleeps: stop() and link changes also wake it at once.
constexpr int64_t max_sleep_ns = 50'000'000;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void set_nonblocking(int fd) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL, 0) | O_NONBLOCK);
}

void no_delay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

struct chunk {
  int64_t due_ns = 0;
  std::string bytes;
  size_t sent = 0;
};

// One direction of a relayed connection: read from `from`, held, written to `to`.
struct direction {
  int from = -1;
  int to = -1;
  std::deque<chunk> held;
  size_t held_bytes = 0;
  int64_t last_due = 0;
  bool eof = false;  // `from` closed its side
  bool shut = false; // and `to` was told so, after the held bytes
  bool drained() const noexcept {
    return held.empty();
  }
};

struct connection {
  int client = -1;
  int target = -1;
  direction up;   // client -> target
  direction down; // target -> client
  bool broken = false;
};

int connect_to(const relay_target& t) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    return -1;
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(t.port);
  if (::inet_pton(AF_INET, t.host.c_str(), &a.sin_addr) != 1
      || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  set_nonblocking(fd);
  no_delay(fd);
  return fd;
}

} // namespace

struct wan_relay::state {
  int listen_fd = -1;
  int wake_fd = -1;
  std::atomic<bool> stopping{false};
  std::atomic<int64_t> delay_ns{0};
  std::atomic<int64_t> jitter_ns{0};
  std::atomic<bool> cut{false};
  mutable std::mutex mtx;
  relay_stats stats;
  std::mt19937_64 rng;
  std::list<connection> conns;
  std::vector<char> scratch = std::vector<char>(read_size);

  void wake() const {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd, &one, sizeof one);
  }

  int64_t due_from(int64_t now, direction& d) {
    auto jitter = jitter_ns.load();
    auto extra =
        jitter > 0 ? static_cast<int64_t>(rng() % static_cast<uint64_t>(jitter + 1)) : int64_t{0};
    d.last_due = std::max(d.last_due, now + delay_ns.load() + extra); // never reorders
    return d.last_due;
  }

  // Reads what `d.from` has (up to the hold limit); false when the connection broke.
  bool read_side(direction& d) {
    while (!d.eof && d.held_bytes < max_held) {
      auto n = ::read(d.from, scratch.data(), scratch.size());
      if (n > 0) {
        // A chunk holds exactly what was read (a small message does not pin a whole read
        // buffer while it waits out its delay or a partition).
        d.held_bytes += static_cast<size_t>(n);
        d.held.push_back(
            chunk{due_from(now_ns(), d), std::string(scratch.data(), static_cast<size_t>(n)), 0});
        continue;
      }
      if (n == 0) {
        d.eof = true;
        break;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        break;
      }
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    return true;
  }

  // Writes the chunks that are due; false when the connection broke.
  bool write_side(direction& d, int64_t now) {
    while (!d.held.empty() && d.held.front().due_ns <= now) {
      auto& c = d.held.front();
      auto n = ::send(d.to, c.bytes.data() + c.sent, c.bytes.size() - c.sent, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          return true;
        }
        if (errno == EINTR) {
          continue;
        }
        return false;
      }
      c.sent += static_cast<size_t>(n);
      {
        std::lock_guard<std::mutex> g{mtx};
        stats.bytes += static_cast<uint64_t>(n);
      }
      if (c.sent == c.bytes.size()) {
        d.held_bytes -= c.bytes.size();
        d.held.pop_front();
      }
    }
    if (d.eof && d.held.empty() && !d.shut) {
      ::shutdown(d.to, SHUT_WR);
      d.shut = true;
    }
    return true;
  }

  void accept_all() {
    for (;;) {
      int fd = ::accept(listen_fd, nullptr, nullptr);
      if (fd < 0) {
        return;
      }
      int target = cut.load() ? -1 : connect_to(target_of);
      if (target < 0) {
        {
          // Counted before the close: a client that sees the close sees the count.
          std::lock_guard<std::mutex> g{mtx};
          ++stats.refused;
        }
        ::close(fd);
        continue;
      }
      set_nonblocking(fd);
      no_delay(fd);
      connection c;
      c.client = fd;
      c.target = target;
      c.up.from = fd;
      c.up.to = target;
      c.down.from = target;
      c.down.to = fd;
      conns.push_back(std::move(c));
      std::lock_guard<std::mutex> g{mtx};
      ++stats.connections;
    }
  }

  relay_target target_of;
};

wan_relay::wan_relay(relay_target target, wan_link link, uint16_t listen_port, uint64_t seed)
    : target_(std::move(target)), listen_port_(listen_port), st_(std::make_unique<state>()) {
  st_->rng.seed(seed);
  st_->target_of = target_;
  set_link(link);
}

wan_relay::~wan_relay() {
  stop();
}

uint16_t wan_relay::start() {
  auto& st = *st_;
  st.listen_fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(st.listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(listen_port_);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(st.listen_fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0
      || ::listen(st.listen_fd, 128) != 0) {
    auto why = std::string{std::strerror(errno)};
    ::close(st.listen_fd);
    st.listen_fd = -1;
    throw std::runtime_error("wan relay: cannot listen on 127.0.0.1:" + std::to_string(listen_port_)
                             + ": " + why);
  }
  socklen_t len = sizeof a;
  ::getsockname(st.listen_fd, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  set_nonblocking(st.listen_fd);
  st.wake_fd = ::eventfd(0, EFD_NONBLOCK);
  thread_ = std::thread{[this] {
    run();
  }};
  return port_;
}

void wan_relay::stop() {
  if (!thread_.joinable()) {
    return;
  }
  st_->stopping = true;
  st_->wake();
  thread_.join();
  for (auto& c : st_->conns) {
    ::close(c.client);
    ::close(c.target);
  }
  st_->conns.clear();
  ::close(st_->listen_fd);
  ::close(st_->wake_fd);
}

void wan_relay::set_link(wan_link link) {
  st_->delay_ns = std::chrono::nanoseconds{link.delay}.count();
  st_->jitter_ns = std::chrono::nanoseconds{link.jitter}.count();
  if (st_->wake_fd >= 0) {
    st_->wake();
  }
}

void wan_relay::set_partitioned(bool cut) {
  st_->cut = cut;
  if (st_->wake_fd >= 0) {
    st_->wake();
  }
}

relay_stats wan_relay::stats() const {
  std::lock_guard<std::mutex> g{st_->mtx};
  return st_->stats;
}

void wan_relay::run() {
  auto& st = *st_;
  std::vector<pollfd> fds;
  std::vector<connection*> owner; // per pollfd from index 2: its connection
  while (!st.stopping) {
    auto now = now_ns();
    bool cut = st.cut.load();
    fds.clear();
    owner.clear();
    fds.push_back({st.listen_fd, POLLIN, 0});
    fds.push_back({st.wake_fd, POLLIN, 0});
    int64_t next_due = now + max_sleep_ns;
    for (auto& c : st.conns) {
      for (auto* d : {&c.up, &c.down}) {
        short ev = 0;
        if (!d->eof && d->held_bytes < max_held) {
          ev |= POLLIN;
        }
        if (!cut && !d->held.empty()) {
          if (d->held.front().due_ns <= now) {
            // Wait for room in the receiver's buffer.
            pollfd p{d->to, POLLOUT, 0};
            fds.push_back(p);
            owner.push_back(&c);
          } else {
            next_due = std::min(next_due, d->held.front().due_ns);
          }
        }
        if (ev != 0) {
          fds.push_back({d->from, ev, 0});
          owner.push_back(&c);
        }
      }
    }
    auto wait_ms = static_cast<int>(std::max<int64_t>(0, (next_due - now + 999'999) / 1'000'000));
    if (::poll(fds.data(), fds.size(), wait_ms) < 0 && errno != EINTR) {
      break;
    }
    if ((fds[1].revents & POLLIN) != 0) {
      uint64_t v = 0;
      [[maybe_unused]] auto n = ::read(st.wake_fd, &v, sizeof v);
    }
    if ((fds[0].revents & POLLIN) != 0) {
      st.accept_all();
    }
    // Read everything readable, then write everything due (the pollfds only say where
    // to look; each side is tried once per round).
    now = now_ns();
    cut = st.cut.load();
    for (auto& c : st.conns) {
      for (auto* d : {&c.up, &c.down}) {
        if (!c.broken && !st.read_side(*d)) {
          c.broken = true;
        }
        if (!c.broken && !cut && !st.write_side(*d, now)) {
          c.broken = true;
        }
      }
    }
    for (auto i = st.conns.begin(); i != st.conns.end();) {
      bool done = i->up.shut && i->down.shut;
      if (i->broken || done) {
        ::close(i->client);
        ::close(i->target);
        i = st.conns.erase(i);
      } else {
        ++i;
      }
    }
  }
}

} // namespace sv::soak
