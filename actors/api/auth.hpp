#pragma once

// Bearer tokens of the player API: JWTs signed with HS256 (RFC 7519, RFC 7518) under a
// key shared by the nodes and the token issuer, checked on the node without a round trip.
// CAF-free. libjwt (Debian's libjwt-dev) parses and checks the signature; this file adds
// what libjwt 1.10 leaves to its caller: the algorithm pinned to HS256 (a token saying
// "none" or another algorithm is refused), `exp` required and checked, `sub` and `scope`
// required.
//
//   auto keys = sv::api::token_keys::from_file("/etc/streamverse/jwt.key");
//   auto who = keys->verify(token, now_s);   // principal, or why not
//   if (who.ok() && who.value().has(sv::api::scope::viewer)) ...
//
// Claims: `sub` the user id; `scope` space-separated names among viewer, cms, ops
// (unknown names are ignored); `exp` seconds since the epoch, at most `leeway_s` in the
// past.

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>

namespace sv::api {

enum class scope : uint8_t { viewer = 1, cms = 2, ops = 4 };

struct principal {
  std::string user;
  uint8_t scopes = 0;
  int64_t expires_s = 0;

  bool has(scope s) const noexcept {
    return (scopes & static_cast<uint8_t>(s)) != 0;
  }
};

/// A verification's outcome: the principal, or why the token is refused (for the 401's
/// problem detail; never echoes the token).
class verified {
public:
  verified(principal p) : v_(std::move(p)) {} // NOLINT: a principal is a success
  static verified refused(std::string why) {
    return verified{std::move(why), 0};
  }
  bool ok() const noexcept {
    return std::holds_alternative<principal>(v_);
  }
  const principal& value() const {
    return std::get<principal>(v_);
  }
  const std::string& why() const {
    return std::get<std::string>(v_);
  }

private:
  verified(std::string why, int) : v_(std::move(why)) {}
  std::variant<principal, std::string> v_;
};

/// The scopes named in `text` (space-separated), as bits; unknown names are skipped.
uint8_t parse_scopes(std::string_view text);

class token_keys {
public:
  /// At least this many bytes of key (RFC 7518 asks for a key as long as the hash: 32).
  static constexpr size_t min_key_bytes = 32;

  /// The key in `path` (its bytes, a trailing newline dropped); nullopt with the reason in
  /// `error` when the file cannot be read or the key is too short.
  static std::optional<token_keys> from_file(const std::string& path, std::string& error);

  /// `key` must have at least min_key_bytes.
  explicit token_keys(std::string key, int64_t leeway_s = 30);

  /// Checks `token` (the bearer credential, without "Bearer ") at `now_s`.
  verified verify(const std::string& token, int64_t now_s) const;

  /// A token for `p` (its user, scopes and expiry), signed with this key.
  std::string mint(const principal& p) const;

  /// The key (also signs the API's session handles).
  const std::string& key() const noexcept {
    return key_;
  }

  /// How long past `exp` a token is still taken.
  int64_t leeway_s() const noexcept {
    return leeway_s_;
  }

private:
  std::string key_;
  int64_t leeway_s_;
};

/// Tokens already verified, so a client that sends the same token with each request costs
/// one signature check, not one per request (the check, with its base64 and JSON, was about
/// a tenth of a node's CPU under a heartbeat load). Keyed by the whole token: a hit is the
/// same bytes that verified, so it carries the same claims; its expiry is checked at each
/// hit all the same. Only accepted tokens are kept, at most `capacity` of them (the oldest
/// go first). Thread-safe.
class token_cache {
public:
  /// `capacity` 0: nothing is kept (every request is checked in full).
  explicit token_cache(size_t capacity) : capacity_(capacity) {}

  /// keys.verify(token, now_s), from the cache when `token` verified before.
  verified verify(const token_keys& keys, const std::string& token, int64_t now_s);

  struct counts {
    uint64_t hits = 0;
    uint64_t misses = 0;
    size_t size = 0;
  };
  counts stats() const;

private:
  size_t capacity_;
  mutable std::mutex mtx_;
  std::unordered_map<std::string, principal> known_;
  std::deque<std::string> order_; // insertion order, for eviction
  uint64_t hits_ = 0, misses_ = 0;
};

/// "viewer cms" for the scope bits.
std::string scope_names(uint8_t scopes);

} // namespace sv::api
