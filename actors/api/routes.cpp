#include "actors/api/routes.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdio>
#include <cstring>

namespace sv::api {

namespace {

// The path's segments after the leading '/', percent-decoded; nullopt on a bad escape.
std::optional<std::vector<std::string>> segments(std::string_view path) {
  std::vector<std::string> out;
  if (path.empty() || path.front() != '/') {
    return out;
  }
  size_t at = 1;
  while (at <= path.size()) {
    auto end = path.find('/', at);
    if (end == std::string_view::npos) {
      end = path.size();
    }
    auto seg = percent_decode(path.substr(at, end - at), false);
    if (!seg) {
      return std::nullopt;
    }
    out.push_back(std::move(*seg));
    at = end + 1;
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

std::string tag_of(const std::string& node, uint64_t number, const std::string& user,
                   const std::string& key) {
  std::string data = node + '\n' + std::to_string(number) + '\n' + user;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  char hex[17];
  for (int i = 0; i < 8; ++i) {
    std::snprintf(hex + 2 * i, 3, "%02x", mac[i]);
  }
  return std::string{hex, 16};
}

} // namespace

std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%') {
      if (i + 2 >= text.size()) {
        return std::nullopt;
      }
      auto hi = hex_value(text[i + 1]);
      auto lo = hex_value(text[i + 2]);
      if (hi < 0 || lo < 0) {
        return std::nullopt;
      }
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (text[i] == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

route match(std::string_view method, std::string_view path) {
  route r;
  auto segs = segments(path);
  if (!segs) {
    r.status = 400;
    return r;
  }
  auto& s = *segs;
  auto is = [&](std::initializer_list<const char*> want) {
    if (s.size() != want.size()) {
      return false;
    }
    size_t i = 0;
    for (auto* w : want) {
      if (w != nullptr && s[i] != w) {
        return false;
      }
      if (w == nullptr && s[i].empty()) {
        return false; // an empty parameter
      }
      ++i;
    }
    return true;
  };
  // (endpoint, method) per path shape; the first shape that matches decides 404 vs 405.
  struct option {
    endpoint e;
    const char* method;
  };
  auto pick = [&](std::initializer_list<option> options) {
    for (auto& o : options) {
      if (method == o.method) {
        r.match = o.e;
        return;
      }
    }
    r.status = 405;
    for (auto& o : options) {
      r.allow += (r.allow.empty() ? "" : ", ") + std::string{o.method};
    }
  };
  if (is({"healthz"})) {
    pick({{endpoint::healthz, "GET"}});
  } else if (is({"readyz"})) {
    pick({{endpoint::readyz, "GET"}});
  } else if (is({"v1", "sessions"})) {
    pick({{endpoint::open_session, "POST"}});
  } else if (is({"v1", "sessions", nullptr, "heartbeat"})) {
    r.a = s[2];
    pick({{endpoint::session_heartbeat, "POST"}});
  } else if (is({"v1", "sessions", nullptr, "commands"})) {
    r.a = s[2];
    pick({{endpoint::session_command, "POST"}});
  } else if (is({"v1", "sessions", nullptr})) {
    r.a = s[2];
    pick({{endpoint::close_session, "DELETE"}});
  } else if (is({"v1", "titles", nullptr, "master.m3u8"})) {
    r.a = s[2];
    pick({{endpoint::master_playlist, "GET"}});
  } else if (is({"v1", "titles", nullptr})) {
    r.a = s[2];
    pick({{endpoint::get_title, "GET"}, {endpoint::put_title, "PUT"}});
  } else if (is({"v1", "users", nullptr, "positions", nullptr})) {
    r.a = s[2];
    r.b = s[4];
    pick({{endpoint::get_position, "GET"}});
  } else if (is({"v1", "analytics", "windows"})) {
    pick({{endpoint::windows, "GET"}});
  } else if (is({"v1", "heartbeats"})) {
    pick({{endpoint::heartbeats_batch, "POST"}});
  } else if (is({"v1", "events"})) {
    pick({{endpoint::events_batch, "POST"}});
  } else {
    r.status = 404;
  }
  return r;
}

flow::service_class class_of(endpoint e) {
  switch (e) {
  case endpoint::open_session:
  case endpoint::session_heartbeat:
  case endpoint::session_command:
  case endpoint::close_session:
  case endpoint::master_playlist:
  case endpoint::heartbeats_batch:
  case endpoint::healthz:
  case endpoint::readyz:
    return flow::service_class::critical;
  case endpoint::get_title:
  case endpoint::put_title:
  case endpoint::get_position:
    return flow::service_class::interactive;
  case endpoint::windows:
    return flow::service_class::best_effort;
  case endpoint::events_batch:
    return flow::service_class::bulk;
  }
  return flow::service_class::bulk;
}

bool needs_token(endpoint e) {
  return e != endpoint::healthz && e != endpoint::readyz;
}

const char* name_of(endpoint e) {
  switch (e) {
  case endpoint::healthz:
    return "healthz";
  case endpoint::readyz:
    return "readyz";
  case endpoint::open_session:
    return "open_session";
  case endpoint::session_heartbeat:
    return "session_heartbeat";
  case endpoint::session_command:
    return "session_command";
  case endpoint::close_session:
    return "close_session";
  case endpoint::get_title:
    return "get_title";
  case endpoint::put_title:
    return "put_title";
  case endpoint::master_playlist:
    return "master_playlist";
  case endpoint::get_position:
    return "get_position";
  case endpoint::windows:
    return "windows";
  case endpoint::heartbeats_batch:
    return "heartbeats_batch";
  case endpoint::events_batch:
    return "events_batch";
  }
  return "unknown";
}

std::optional<std::string> query_param(std::string_view query, std::string_view key) {
  size_t at = 0;
  while (at <= query.size()) {
    auto end = query.find('&', at);
    if (end == std::string_view::npos) {
      end = query.size();
    }
    auto pair = query.substr(at, end - at);
    auto eq = pair.find('=');
    auto k = pair.substr(0, eq);
    if (k == key) {
      return percent_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1),
                            true);
    }
    at = end + 1;
  }
  return std::nullopt;
}

std::string json_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  for (char c : text) {
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      if (static_cast<unsigned char>(c) < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
        out += buf;
      } else {
        out.push_back(c);
      }
    }
  }
  return out;
}

http::response problem(int status, std::string_view code, std::string_view detail,
                       std::vector<http::header> headers) {
  http::response r;
  r.status = status;
  r.content_type = "application/problem+json";
  r.body = "{\"type\":\"urn:streamverse:problem:" + json_escape(code) + "\",\"title\":\""
           + json_escape(http::reason(status)) + "\",\"status\":" + std::to_string(status)
           + ",\"code\":\"" + json_escape(code) + "\",\"detail\":\"" + json_escape(detail)
           + "\"}\n";
  r.headers = std::move(headers);
  return r;
}

std::string make_handle(const session_handle& h, const std::string& user, const std::string& key) {
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%llx", static_cast<unsigned long long>(h.number));
  return h.node + "~" + hex + "~" + tag_of(h.node, h.number, user, key);
}

std::optional<session_handle> check_handle(std::string_view text, const std::string& user,
                                           const std::string& key) {
  auto a = text.find('~');
  auto b = a == std::string_view::npos ? a : text.find('~', a + 1);
  if (b == std::string_view::npos || a == 0 || b == a + 1 || b - a - 1 > 16
      || text.size() - b - 1 != 16) {
    return std::nullopt;
  }
  session_handle h;
  h.node = std::string{text.substr(0, a)};
  for (auto c : text.substr(a + 1, b - a - 1)) {
    auto v = hex_value(c);
    if (v < 0) {
      return std::nullopt;
    }
    h.number = h.number * 16 + static_cast<uint64_t>(v);
  }
  auto want = tag_of(h.node, h.number, user, key);
  auto got = text.substr(b + 1);
  if (CRYPTO_memcmp(want.data(), got.data(), want.size()) != 0) {
    return std::nullopt;
  }
  return h;
}

handle_checker::handle_checker(std::string key, size_t capacity)
    : key_(std::move(key)), capacity_(capacity) {}

std::optional<session_handle> handle_checker::check(std::string_view text,
                                                    const std::string& user) {
  std::string k;
  k.reserve(user.size() + 1 + text.size());
  k.append(user).append(1, '\n').append(text);
  if (auto i = known_.find(k); i != known_.end()) {
    return i->second;
  }
  auto h = check_handle(text, user, key_);
  if (h && capacity_ > 0) {
    known_.emplace(k, *h);
    order_.push_back(std::move(k));
    while (order_.size() > capacity_) {
      known_.erase(order_.front());
      order_.pop_front();
    }
  }
  return h;
}

bool read_int_fields(std::string_view json, const std::vector<std::string_view>& names,
                     std::vector<int64_t>& out) {
  out.assign(names.size(), 0);
  if (names.size() > 64) {
    return false; // more names than the bit set below holds: the full parser
  }
  uint64_t seen = 0; // bit f: names[f] was read (no allocation per body)
  size_t i = 0;
  auto ws = [&] {
    while (i < json.size()
           && (json[i] == ' ' || json[i] == '\t' || json[i] == '\n' || json[i] == '\r')) {
      ++i;
    }
  };
  auto eat = [&](char c) {
    ws();
    if (i < json.size() && json[i] == c) {
      ++i;
      return true;
    }
    return false;
  };
  if (!eat('{')) {
    return false;
  }
  if (eat('}')) {
    ws();
    return i == json.size();
  }
  for (;;) {
    if (!eat('"')) {
      return false;
    }
    auto end = json.find('"', i);
    if (end == std::string_view::npos) {
      return false;
    }
    auto name = json.substr(i, end - i); // an escape in it matches no name: the full parser
    i = end + 1;
    size_t f = 0;
    while (f < names.size() && names[f] != name) {
      ++f;
    }
    if (f == names.size() || ((seen >> f) & 1U) != 0 || !eat(':')) {
      return false;
    }
    seen |= uint64_t{1} << f;
    ws();
    bool negative = i < json.size() && json[i] == '-';
    if (negative) {
      ++i;
    }
    auto digits = i;
    int64_t v = 0;
    while (i < json.size() && json[i] >= '0' && json[i] <= '9') {
      if (i - digits == 18) {
        return false; // more digits than int64 surely holds (checked before it overflows)
      }
      v = v * 10 + (json[i] - '0');
      ++i;
    }
    auto n = i - digits;
    if (n == 0 || n > 18 || (n > 1 && json[digits] == '0')) {
      return false;
    }
    out[f] = negative ? -v : v;
    if (eat('}')) {
      ws();
      return i == json.size();
    }
    if (!eat(',')) {
      return false; // a fraction, an exponent, another type, or broken JSON
    }
  }
}

} // namespace sv::api
