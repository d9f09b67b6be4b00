#include "runtime/metrics/http_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace sv::metrics {

namespace {

constexpr size_t max_request_bytes = 8192;
constexpr size_t max_body_bytes = 1u << 20;
constexpr int client_timeout_ms = 2000;

const char* reason(int status) {
  switch (status) {
  case 200:
    return "OK";
  case 400:
    return "Bad Request";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 413:
    return "Payload Too Large";
  case 500:
    return "Internal Server Error";
  case 503:
    return "Service Unavailable";
  default:
    return "Error";
  }
}

void write_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    auto n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) {
        continue;
      }
      return; // the client went away; nothing to do about it
    }
    off += static_cast<size_t>(n);
  }
}

// Reads until the end of the request head, the size limit, or the timeout.
std::string read_head(int fd) {
  std::string buf;
  char chunk[1024];
  while (buf.size() < max_request_bytes && buf.find("\r\n\r\n") == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, client_timeout_ms) <= 0) {
      break;
    }
    auto n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) {
      break;
    }
    buf.append(chunk, static_cast<size_t>(n));
  }
  return buf;
}

// The Content-Length of a request head (0 when absent or unreadable).
size_t content_length(const std::string& head) {
  auto end = head.find("\r\n\r\n");
  for (size_t at = head.find("\r\n"); at < end; at = head.find("\r\n", at + 2)) {
    static const char name[] = "content-length:";
    auto line = head.substr(at + 2, std::min(head.find("\r\n", at + 2), end) - at - 2);
    if (line.size() > sizeof(name) - 1 && strncasecmp(line.c_str(), name, sizeof(name) - 1) == 0) {
      return std::strtoull(line.c_str() + sizeof(name) - 1, nullptr, 10);
    }
  }
  return 0;
}

// The rest of a body whose first bytes came with the head.
bool read_body(int fd, std::string& body, size_t length) {
  char chunk[4096];
  while (body.size() < length) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, client_timeout_ms) <= 0) {
      return false;
    }
    auto n = ::recv(fd, chunk, std::min(sizeof(chunk), length - body.size()), 0);
    if (n <= 0) {
      return false;
    }
    body.append(chunk, static_cast<size_t>(n));
  }
  return true;
}

} // namespace

struct http_server::impl {
  int listen_fd = -1;
  int wake_pipe[2] = {-1, -1};
  uint16_t port = 0;
  handler h;
  request_handler any; // set instead of h by the general start()
  std::thread thread;

  void serve_one(int fd) {
    auto head = read_head(fd);
    http_response res;
    auto line_end = head.find("\r\n");
    auto line = head.substr(0, line_end);
    auto sp1 = line.find(' ');
    auto sp2 = sp1 == std::string::npos ? sp1 : line.find(' ', sp1 + 1);
    if (line_end == std::string::npos || sp2 == std::string::npos) {
      res = {400, "text/plain; charset=utf-8", "bad request\n"};
    } else if (any) {
      http_request req;
      req.method = line.substr(0, sp1);
      req.path = line.substr(sp1 + 1, sp2 - sp1 - 1);
      req.path = req.path.substr(0, req.path.find('?'));
      auto length = content_length(head);
      auto body_at = head.find("\r\n\r\n") + 4;
      req.body = head.substr(std::min(body_at, head.size()));
      if (length > max_body_bytes) {
        res = {413, "text/plain; charset=utf-8", "body too large\n"};
      } else if (!read_body(fd, req.body, length)) {
        res = {400, "text/plain; charset=utf-8", "incomplete body\n"};
      } else {
        req.body.resize(length);
        res = any(req);
      }
    } else if (line.compare(0, sp1, "GET") != 0) {
      res = {405, "text/plain; charset=utf-8", "only GET is supported\n"};
    } else {
      auto path = line.substr(sp1 + 1, sp2 - sp1 - 1);
      path = path.substr(0, path.find('?'));
      res = h(path);
    }
    std::string out = "HTTP/1.1 " + std::to_string(res.status) + " " + reason(res.status)
                      + "\r\nContent-Type: " + res.content_type
                      + "\r\nContent-Length: " + std::to_string(res.body.size())
                      + "\r\nConnection: close\r\n\r\n" + res.body;
    write_all(fd, out);
  }

  void loop() {
    for (;;) {
      pollfd fds[2] = {{listen_fd, POLLIN, 0}, {wake_pipe[0], POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) {
          continue;
        }
        return;
      }
      if (fds[1].revents != 0) {
        return; // stop() was called
      }
      if ((fds[0].revents & POLLIN) != 0) {
        int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) {
          serve_one(fd);
          ::close(fd);
        }
      }
    }
  }

  void close_fds() {
    for (int* fd : {&listen_fd, &wake_pipe[0], &wake_pipe[1]}) {
      if (*fd >= 0) {
        ::close(*fd);
        *fd = -1;
      }
    }
  }
};

http_server::http_server() : impl_(std::make_unique<impl>()) {}

http_server::~http_server() {
  stop();
}

std::string http_server::start(const std::string& address, uint16_t port, handler h) {
  if (impl_->thread.joinable()) {
    return "already running";
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (::inet_pton(AF_INET, address.c_str(), &addr.sin_addr) != 1) {
    return "not an IPv4 address: " + address;
  }
  auto fail = [this](std::string what) {
    what += ": ";
    what += std::strerror(errno);
    impl_->close_fds();
    return what;
  };
  impl_->listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (impl_->listen_fd < 0) {
    return fail("socket");
  }
  int one = 1;
  ::setsockopt(impl_->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(impl_->listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return fail("cannot bind " + address + ":" + std::to_string(port));
  }
  if (::listen(impl_->listen_fd, 16) != 0) {
    return fail("listen");
  }
  socklen_t len = sizeof(addr);
  ::getsockname(impl_->listen_fd, reinterpret_cast<sockaddr*>(&addr), &len);
  if (::pipe2(impl_->wake_pipe, O_CLOEXEC) != 0) {
    return fail("pipe");
  }
  impl_->port = ntohs(addr.sin_port);
  impl_->h = std::move(h);
  impl_->thread = std::thread{[this] {
    impl_->loop();
  }};
  return {};
}

std::string http_server::start(const std::string& address, uint16_t port, request_handler h) {
  if (impl_->thread.joinable()) {
    return "already running";
  }
  impl_->any = std::move(h);
  auto why = start(address, port, handler{[](const std::string&) {
                     return http_response{};
                   }});
  if (!why.empty()) {
    impl_->any = nullptr;
  }
  return why;
}

uint16_t http_server::port() const noexcept {
  return impl_->thread.joinable() ? impl_->port : 0;
}

void http_server::stop() {
  if (!impl_->thread.joinable()) {
    return;
  }
  char x = 1;
  while (::write(impl_->wake_pipe[1], &x, 1) < 0 && errno == EINTR) {
  }
  impl_->thread.join();
  impl_->close_fds();
  impl_->port = 0;
}

} // namespace sv::metrics
