#pragma once

// Between Beast's messages and the server's own request type (internal to runtime/http).

#include <string>

#include <boost/beast/core/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "runtime/http/server.hpp"

namespace sv::http::detail {

using beast_request = boost::beast::http::request<boost::beast::http::string_body>;
using beast_parser = boost::beast::http::request_parser<boost::beast::http::string_body>;

/// Sets the server's limits on a fresh parser.
void limit(beast_parser& p, size_t header_limit, size_t body_limit);

/// The request as handlers see it: lower-case header names, path and query split.
request to_request(beast_request&& msg, std::string remote);

/// The status for a request the parser refused: 431 (head too large), 413 (body too
/// large), 400 (anything else that is not the connection ending).
int refusal_status(const boost::beast::error_code& ec);

} // namespace sv::http::detail
