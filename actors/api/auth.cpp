#include "actors/api/auth.hpp"

#include <jwt.h>

#include <cerrno>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace sv::api {

namespace {

struct jwt_deleter {
  void operator()(jwt_t* j) const noexcept {
    jwt_free(j);
  }
};
using jwt_ptr = std::unique_ptr<jwt_t, jwt_deleter>;

struct free_deleter {
  void operator()(char* p) const noexcept {
    // NOLINTNEXTLINE(cppcoreguidelines-no-malloc): libjwt allocates with malloc
    free(p);
  }
};

constexpr std::pair<const char*, scope> scope_table[] = {
    {"viewer", scope::viewer}, {"cms", scope::cms}, {"ops", scope::ops}};

} // namespace

uint8_t parse_scopes(std::string_view text) {
  uint8_t out = 0;
  size_t at = 0;
  while (at < text.size()) {
    auto end = text.find(' ', at);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    auto word = text.substr(at, end - at);
    for (auto& [name, s] : scope_table) {
      if (word == name) {
        out |= static_cast<uint8_t>(s);
      }
    }
    at = end + 1;
  }
  return out;
}

std::string scope_names(uint8_t scopes) {
  std::string out;
  for (auto& [name, s] : scope_table) {
    if ((scopes & static_cast<uint8_t>(s)) != 0) {
      out += (out.empty() ? "" : " ") + std::string{name};
    }
  }
  return out;
}

std::optional<token_keys> token_keys::from_file(const std::string& path, std::string& error) {
  std::ifstream in{path, std::ios::binary};
  if (!in) {
    error = "cannot read the token key file " + path;
    return std::nullopt;
  }
  std::string key{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) {
    key.pop_back();
  }
  if (key.size() < min_key_bytes) {
    error = "the token key in " + path + " has " + std::to_string(key.size())
            + " bytes; HS256 needs at least " + std::to_string(min_key_bytes);
    return std::nullopt;
  }
  return token_keys{std::move(key)};
}

token_keys::token_keys(std::string key, int64_t leeway_s)
    : key_(std::move(key)), leeway_s_(leeway_s) {
  if (key_.size() < min_key_bytes) {
    throw std::invalid_argument{"token key shorter than " + std::to_string(min_key_bytes)
                                + " bytes"};
  }
}

verified token_keys::verify(const std::string& token, int64_t now_s) const {
  if (token.empty() || token.size() > 8192) {
    return verified::refused("no token, or one longer than 8 KiB");
  }
  jwt_t* raw = nullptr;
  if (jwt_decode(&raw, token.c_str(), reinterpret_cast<const unsigned char*>(key_.data()),
                 static_cast<int>(key_.size()))
          != 0
      || raw == nullptr) {
    return verified::refused("the token is malformed or its signature does not match");
  }
  jwt_ptr j{raw};
  if (jwt_get_alg(j.get()) != JWT_ALG_HS256) {
    return verified::refused("the token is not signed with HS256");
  }
  errno = 0;
  auto exp = jwt_get_grant_int(j.get(), "exp");
  if (errno == ENOENT || exp <= 0) {
    return verified::refused("the token has no exp");
  }
  if (exp + leeway_s_ < now_s) {
    return verified::refused("the token expired");
  }
  const char* sub = jwt_get_grant(j.get(), "sub");
  if (sub == nullptr || *sub == '\0') {
    return verified::refused("the token has no sub");
  }
  const char* scope_text = jwt_get_grant(j.get(), "scope");
  auto scopes = scope_text != nullptr ? parse_scopes(scope_text) : uint8_t{0};
  if (scopes == 0) {
    return verified::refused("the token has no known scope (viewer, cms, ops)");
  }
  return principal{sub, scopes, exp};
}

std::string token_keys::mint(const principal& p) const {
  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0 || raw == nullptr) {
    throw std::runtime_error{"jwt_new failed"};
  }
  jwt_ptr j{raw};
  if (jwt_set_alg(j.get(), JWT_ALG_HS256, reinterpret_cast<const unsigned char*>(key_.data()),
                  static_cast<int>(key_.size()))
          != 0
      || jwt_add_grant(j.get(), "sub", p.user.c_str()) != 0
      || jwt_add_grant(j.get(), "scope", scope_names(p.scopes).c_str()) != 0
      || jwt_add_grant_int(j.get(), "exp", static_cast<long>(p.expires_s)) != 0) {
    throw std::runtime_error{"cannot build the token"};
  }
  std::unique_ptr<char, free_deleter> text{jwt_encode_str(j.get())};
  if (!text) {
    throw std::runtime_error{"cannot encode the token"};
  }
  return text.get();
}

verified token_cache::verify(const token_keys& keys, const std::string& token, int64_t now_s) {
  if (capacity_ > 0) {
    std::lock_guard<std::mutex> g{mtx_};
    if (auto i = known_.find(token); i != known_.end()) {
      if (i->second.expires_s + keys.leeway_s() < now_s) {
        return verified::refused("the token expired");
      }
      ++hits_;
      return i->second;
    }
    ++misses_;
  }
  auto v = keys.verify(token, now_s);
  if (v.ok() && capacity_ > 0) {
    std::lock_guard<std::mutex> g{mtx_};
    if (known_.emplace(token, v.value()).second) {
      order_.push_back(token);
      while (order_.size() > capacity_) {
        known_.erase(order_.front());
        order_.pop_front();
      }
    }
  }
  return v;
}

token_cache::counts token_cache::stats() const {
  std::lock_guard<std::mutex> g{mtx_};
  return {hits_, misses_, known_.size()};
}

} // namespace sv::api
