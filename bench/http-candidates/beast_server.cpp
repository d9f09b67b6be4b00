// Static 200 over Boost.Beast with one io thread; "hop" mode answers from another thread
// (posted back to the connection's strand), as an actor's reply would be.
#include "hop.hpp"
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

static hop_worker* hop = nullptr;

class session : public std::enable_shared_from_this<session> {
public:
  explicit session(tcp::socket s) : stream_(std::move(s)) {}
  void start() {
    read();
  }

private:
  void read() {
    req_ = {};
    stream_.expires_after(std::chrono::seconds(30));
    http::async_read(
        stream_, buf_, req_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }
  void on_read(beast::error_code ec) {
    if (ec) {
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
      return;
    }
    if (hop != nullptr) {
      auto self = shared_from_this();
      hop->push([self] { net::post(self->stream_.get_executor(), [self] { self->respond(); }); });
      return;
    }
    respond();
  }
  void respond() {
    res_ = {};
    res_.result(http::status::ok);
    res_.version(req_.version());
    res_.set(http::field::content_type, "text/plain");
    res_.keep_alive(req_.keep_alive());
    res_.body() = "ok\n";
    res_.prepare_payload();
    http::async_write(stream_, res_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (!ec && self->res_.keep_alive()) {
        self->read();
      }
    });
  }
  beast::tcp_stream stream_;
  beast::flat_buffer buf_;
  http::request<http::string_body> req_;
  http::response<http::string_body> res_;
};

static void accept(tcp::acceptor& a, net::io_context& ioc) {
  a.async_accept(net::make_strand(ioc), [&](beast::error_code ec, tcp::socket s) {
    if (!ec) {
      std::make_shared<session>(std::move(s))->start();
    }
    accept(a, ioc);
  });
}

int main(int argc, char** argv) {
  int port = argc > 1 ? std::atoi(argv[1]) : 8081;
  std::unique_ptr<hop_worker> h;
  if (argc > 2 && std::strcmp(argv[2], "hop") == 0) {
    h = std::make_unique<hop_worker>();
    hop = h.get();
  }
  net::io_context ioc{1};
  tcp::acceptor a{ioc, {net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)}};
  accept(a, ioc);
  ioc.run();
}
