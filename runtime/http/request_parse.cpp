#include "runtime/http/request_parse.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <utility>

#include <boost/beast/http/error.hpp>

#include "runtime/http/beast_request.hpp"

namespace sv::http {

namespace detail {

void limit(beast_parser& p, size_t header_limit, size_t body_limit) {
  p.header_limit(static_cast<uint32_t>(header_limit));
  p.body_limit(static_cast<uint64_t>(body_limit));
}

request to_request(beast_request&& msg, std::string remote) {
  request req;
  req.method = std::string{msg.method_string()};
  req.target = std::string{msg.target()};
  auto q = req.target.find('?');
  req.path = req.target.substr(0, q);
  req.query = q == std::string::npos ? std::string{} : req.target.substr(q + 1);
  for (auto& f : msg) {
    std::string name{f.name_string()};
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    req.headers.push_back({std::move(name), std::string{f.value()}});
  }
  req.body = std::move(msg.body());
  req.remote = std::move(remote);
  return req;
}

int refusal_status(const boost::beast::error_code& ec) {
  namespace bhttp = boost::beast::http;
  if (ec == bhttp::error::header_limit) {
    return 431;
  }
  if (ec == bhttp::error::body_limit) {
    return 413;
  }
  return 400;
}

} // namespace detail

parse_outcome parse_requests(std::string_view bytes, size_t header_limit, size_t body_limit) {
  namespace bhttp = boost::beast::http;
  parse_outcome out;
  while (!bytes.empty()) {
    detail::beast_parser p;
    detail::limit(p, header_limit, body_limit);
    // The server reads into a buffer and hands the parser what it has; here all of it at
    // once, then whatever the parser left, as the socket would deliver it.
    while (!p.is_done()) {
      boost::beast::error_code ec;
      auto used = p.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
      bytes.remove_prefix(used);
      if (ec == bhttp::error::need_more) {
        if (bytes.empty() || used == 0) {
          out.incomplete = true;
          return out;
        }
        continue;
      }
      if (ec) {
        out.refused_status = detail::refusal_status(ec);
        return out;
      }
      if (used == 0 && !p.is_done()) {
        out.incomplete = true;
        return out;
      }
    }
    out.requests.push_back(detail::to_request(p.release(), "fuzz"));
  }
  return out;
}

} // namespace sv::http
