// The HTTP server (server.hpp) on Boost.Beast and Asio: one io_context, `threads` threads
// running it, a strand per connection.

#include "runtime/http/server.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "runtime/http/beast_request.hpp"

namespace sv::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

const std::string* request::find(std::string_view name) const {
  for (auto& h : headers) {
    if (h.name == name) {
      return &h.value;
    }
  }
  return nullptr;
}

const char* reason(int status) {
  // Beast's table of the standard phrases (literals, so data() ends in a null).
  auto text = bhttp::obsolete_reason(static_cast<bhttp::status>(status));
  return text == "<unknown-status>" ? "Unknown" : text.data();
}

namespace {

// Lets replies from other threads reach a connection only while the io_context lives.
struct gate {
  std::mutex m;
  bool open = true;
};

struct counters {
  std::atomic<uint64_t> accepted{0}, refused{0}, open{0}, requests{0}, bad_requests{0},
      too_large{0}, timed_out{0}, handler_timeouts{0};
};

class connection;

// What the connections share with the server.
struct shared_state {
  server_settings settings;
  handler h;
  counters stats;
  std::shared_ptr<gate> alive = std::make_shared<gate>();
  std::atomic<bool> draining{false};
  std::mutex m;
  std::unordered_map<connection*, std::weak_ptr<connection>> live;
};

class connection : public std::enable_shared_from_this<connection> {
public:
  connection(tcp::socket socket, std::shared_ptr<shared_state> shared)
      : stream_(std::move(socket)), deadline_(stream_.get_executor()), shared_(std::move(shared)) {
    ++shared_->stats.open;
  }

  ~connection() {
    --shared_->stats.open;
    std::lock_guard<std::mutex> guard{shared_->m};
    shared_->live.erase(this);
  }

  void run() {
    {
      std::lock_guard<std::mutex> guard{shared_->m};
      shared_->live.emplace(this, weak_from_this());
    }
    beast::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) {
      remote_ = ep.address().to_string() + ":" + std::to_string(ep.port());
    }
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_head(); });
  }

  net::any_io_executor executor() {
    return stream_.get_executor();
  }

  // On the connection's strand: an idle connection closes now; one under way after its
  // answer (without keep-alive).
  void drain() {
    if (state_ == state::reading) {
      close();
    }
  }

  // A connection over the limit: a 503 and close.
  void refuse() {
    auto res = to_beast(
        {503, "text/plain; charset=utf-8", "too many connections\n", {{"retry-after", "1"}}}, 11,
        false);
    stream_.expires_after(shared_->settings.write_timeout);
    bhttp::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code, size_t) {
      self->close();
    });
  }

private:
  enum class state { reading, handling, writing, closed };

  // Every answer, in Beast's form: status with its reason, headers, the body's length.
  static std::shared_ptr<bhttp::response<bhttp::string_body>> to_beast(response r, unsigned version,
                                                                       bool keep_alive) {
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>(
        static_cast<bhttp::status>(r.status), version);
    res->reason(reason(r.status));
    if (!r.content_type.empty()) {
      res->set(bhttp::field::content_type, r.content_type);
    }
    for (auto& h : r.headers) {
      res->set(h.name, h.value);
    }
    res->body() = std::move(r.body);
    res->keep_alive(keep_alive);
    res->prepare_payload();
    return res;
  }

  void read_head() {
    if (shared_->draining) {
      close();
      return;
    }
    state_ = state::reading;
    parser_.emplace();
    detail::limit(*parser_, shared_->settings.header_limit, shared_->settings.body_limit);
    stream_.expires_after(shared_->settings.read_timeout);
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_head(ec); });
  }

  void on_head(beast::error_code ec) {
    if (ec) {
      failed(ec);
      return;
    }
    auto& req = parser_->get();
    auto expect = req[bhttp::field::expect];
    if (beast::iequals(expect, "100-continue") && !parser_->is_done()) {
      // Tell the client to send the body (after the limit check the parser did on the
      // announced length: a body too large has already failed).
      auto cont = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_,
                                                                       req.version());
      bhttp::async_write(stream_, *cont,
                         [self = shared_from_this(), cont](beast::error_code ec2, size_t) {
                           if (ec2) {
                             self->close();
                             return;
                           }
                           self->read_body();
                         });
      return;
    }
    read_body();
  }

  void read_body() {
    bhttp::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_request(ec); });
  }

  void failed(beast::error_code ec) {
    if (ec == beast::error::timeout) {
      ++shared_->stats.timed_out;
      close();
    } else if (ec == bhttp::error::end_of_stream || ec == net::error::eof
               || ec == net::error::operation_aborted || ec == net::error::connection_reset
               || ec == bhttp::error::partial_message) {
      close(); // the client went away (or the server closes)
    } else if (auto status = detail::refusal_status(ec); status == 400) {
      ++shared_->stats.bad_requests;
      answer_error(400, "bad request\n");
    } else {
      ++shared_->stats.too_large;
      answer_error(status, status == 431 ? "request head too large\n" : "body too large\n");
    }
  }

  void on_request(beast::error_code ec) {
    if (ec) {
      failed(ec);
      return;
    }
    ++shared_->stats.requests;
    auto msg = parser_->release();
    keep_alive_ = msg.keep_alive();
    version_ = msg.version();
    auto req = detail::to_request(std::move(msg), remote_);
    state_ = state::handling;
    auto n = ++asked_;
    deadline_.expires_after(shared_->settings.handler_timeout);
    deadline_.async_wait([self = shared_from_this(), n](beast::error_code e) {
      if (!e && self->asked_ == n && self->state_ == state::handling) {
        ++self->shared_->stats.handler_timeouts;
        self->answer(n, {503,
                         "text/plain; charset=utf-8",
                         "no answer within the deadline\n",
                         {{"retry-after", "1"}}});
      }
    });
    reply_fn reply = [weak = weak_from_this(), alive = shared_->alive, n](response r) {
      std::lock_guard<std::mutex> guard{alive->m};
      if (!alive->open) {
        return;
      }
      if (auto self = weak.lock()) {
        net::post(self->stream_.get_executor(),
                  [self, n, r = std::move(r)]() mutable { self->answer(n, std::move(r)); });
      }
    };
    try {
      shared_->h(std::move(req), std::move(reply));
    } catch (const std::exception& e) {
      answer(n,
             {500, "text/plain; charset=utf-8", std::string{"internal error: "} + e.what() + "\n"});
    } catch (...) {
      answer(n, {500, "text/plain; charset=utf-8", "internal error\n"});
    }
  }

  void answer_error(int status, std::string text) {
    keep_alive_ = false;
    version_ = 11;
    state_ = state::handling;
    auto n = ++asked_;
    answer(n, {status, "text/plain; charset=utf-8", std::move(text)});
  }

  // On the strand: the answer to request `n` (ignored unless it is the one awaited).
  void answer(uint64_t n, response r) {
    if (n != asked_ || state_ != state::handling) {
      return;
    }
    deadline_.cancel();
    state_ = state::writing;
    auto res = to_beast(std::move(r), version_, keep_alive_ && !shared_->draining);
    stream_.expires_after(shared_->settings.write_timeout);
    bhttp::async_write(stream_, *res,
                       [self = shared_from_this(), res](beast::error_code ec, size_t) {
                         if (ec) {
                           if (ec == beast::error::timeout) {
                             ++self->shared_->stats.timed_out;
                           }
                           self->close();
                           return;
                         }
                         if (!res->keep_alive()) {
                           self->linger_close();
                           return;
                         }
                         self->read_head();
                       });
  }

  // After a last answer: no more sending, and what the client still sends (the rest of a
  // body refused as too large) read and dropped for a moment, so that closing does not
  // reset the connection before the client has read the answer.
  void linger_close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    state_ = state::writing;
    stream_.expires_after(shared_->draining ? std::chrono::milliseconds{100}
                                            : std::chrono::milliseconds{1000});
    discard();
  }

  void discard() {
    stream_.async_read_some(net::buffer(scratch_),
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (ec || ++self->discarded_ > 64) {
                                self->close();
                                return;
                              }
                              self->discard();
                            });
  }

  void close() {
    if (state_ == state::closed) {
      return;
    }
    state_ = state::closed;
    deadline_.cancel();
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.close();
  }

  beast::tcp_stream stream_;
  net::steady_timer deadline_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::shared_ptr<shared_state> shared_;
  std::string remote_;
  state state_ = state::reading;
  uint64_t asked_ = 0;
  std::array<char, 4096> scratch_{};
  int discarded_ = 0;
  bool keep_alive_ = true;
  unsigned version_ = 11;
};

} // namespace

struct server::impl {
  std::shared_ptr<shared_state> shared = std::make_shared<shared_state>();
  std::optional<net::io_context> ioc;
  std::optional<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  uint16_t port = 0;

  void accept() {
    acceptor->async_accept(net::make_strand(*ioc), [this](beast::error_code ec, tcp::socket s) {
      if (ec) {
        if (ec == net::error::operation_aborted || !acceptor->is_open()) {
          return; // stopped
        }
        // Out of descriptors or the like: try again shortly rather than spin.
        auto t = std::make_shared<net::steady_timer>(*ioc, std::chrono::milliseconds{50});
        t->async_wait([this, t](beast::error_code) {
          if (acceptor->is_open()) {
            accept();
          }
        });
        return;
      }
      ++shared->stats.accepted;
      auto c = std::make_shared<connection>(std::move(s), shared);
      if (shared->stats.open.load() > shared->settings.max_connections) {
        ++shared->stats.refused;
        c->refuse();
      } else {
        c->run();
      }
      accept();
    });
  }
};

server::server() : impl_(std::make_shared<impl>()) {}

server::~server() {
  stop();
}

std::string server::start(const server_settings& s, handler h) {
  if (!impl_->threads.empty()) {
    return "already running";
  }
  beast::error_code ec;
  auto address = net::ip::make_address(s.address, ec);
  if (ec) {
    return "not an IP address: " + s.address;
  }
  impl_->shared = std::make_shared<shared_state>();
  impl_->shared->settings = s;
  impl_->shared->h = std::move(h);
  impl_->ioc.emplace(static_cast<int>(std::max(1u, s.threads)));
  auto& acc = impl_->acceptor.emplace(net::make_strand(*impl_->ioc));
  tcp::endpoint ep{address, s.port};
  auto fail = [this](const std::string& what, const beast::error_code& e) {
    impl_->acceptor.reset();
    impl_->ioc.reset();
    return what + ": " + e.message();
  };
  if (acc.open(ep.protocol(), ec); ec) {
    return fail("socket", ec);
  }
  acc.set_option(net::socket_base::reuse_address(true), ec);
  if (acc.bind(ep, ec); ec) {
    return fail("cannot bind " + s.address + ":" + std::to_string(s.port), ec);
  }
  if (acc.listen(net::socket_base::max_listen_connections, ec); ec) {
    return fail("listen", ec);
  }
  impl_->port = acc.local_endpoint().port();
  impl_->accept();
  for (unsigned i = 0; i < std::max(1u, s.threads); ++i) {
    impl_->threads.emplace_back([io = &*impl_->ioc] { io->run(); });
  }
  return {};
}

uint16_t server::port() const noexcept {
  return impl_->threads.empty() ? 0 : impl_->port;
}

void server::stop(std::chrono::milliseconds grace) {
  if (impl_->threads.empty()) {
    return;
  }
  auto& sh = *impl_->shared;
  sh.draining = true;
  net::post(impl_->acceptor->get_executor(), [i = impl_.get()] {
    beast::error_code ec;
    i->acceptor->close(ec);
  });
  std::vector<std::shared_ptr<connection>> open;
  {
    std::lock_guard<std::mutex> guard{sh.m};
    for (auto& [ptr, weak] : sh.live) {
      if (auto c = weak.lock()) {
        open.push_back(std::move(c));
      }
    }
  }
  for (auto& c : open) {
    net::post(c->executor(), [c] { c->drain(); });
  }
  open.clear();
  auto end = std::chrono::steady_clock::now() + grace;
  while (sh.stats.open.load() > 0 && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  }
  impl_->ioc->stop();
  for (auto& t : impl_->threads) {
    t.join();
  }
  impl_->threads.clear();
  {
    std::lock_guard<std::mutex> guard{sh.alive->m};
    sh.alive->open = false;
  }
  impl_->acceptor.reset();
  impl_->ioc.reset(); // destroys what was pending, the connections with it
  impl_->port = 0;
}

server_stats server::stats() const {
  auto& c = impl_->shared->stats;
  return {c.accepted.load(),     c.refused.load(),   c.open.load(),      c.requests.load(),
          c.bad_requests.load(), c.too_large.load(), c.timed_out.load(), c.handler_timeouts.load()};
}

} // namespace sv::http
