// Bearer tokens and session handles of the player API: what a forged, tampered, expired
// or unsigned token gets, and what a viewer can name.

#include "actors/api/auth.hpp"
#include "actors/api/routes.hpp"

#include <jwt.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <doctest/doctest.h>

namespace {

const std::string key = "0123456789abcdef0123456789abcdef"; // 32 bytes
constexpr int64_t now = 1'800'000'000;

// A token made with libjwt directly, for claims the minting code never writes.
std::string raw_token(jwt_alg_t alg, const std::string& k, bool with_exp, const char* sub,
                      const char* scope) {
  jwt_t* j = nullptr;
  REQUIRE(jwt_new(&j) == 0);
  if (alg == JWT_ALG_NONE) {
    REQUIRE(jwt_set_alg(j, JWT_ALG_NONE, nullptr, 0) == 0);
  } else {
    REQUIRE(jwt_set_alg(j, alg, reinterpret_cast<const unsigned char*>(k.data()),
                        static_cast<int>(k.size()))
            == 0);
  }
  if (sub != nullptr) {
    jwt_add_grant(j, "sub", sub);
  }
  if (scope != nullptr) {
    jwt_add_grant(j, "scope", scope);
  }
  if (with_exp) {
    jwt_add_grant_int(j, "exp", now + 60);
  }
  char* text = jwt_encode_str(j);
  std::string out = text != nullptr ? text : "";
  free(text); // NOLINT: libjwt's malloc
  jwt_free(j);
  return out;
}

} // namespace

TEST_SUITE("actors.api") {
  TEST_CASE("a minted token verifies with its user, scopes and expiry") {
    sv::api::token_keys keys{key};
    auto t = keys.mint({"u-1", sv::api::parse_scopes("viewer ops"), now + 600});
    auto v = keys.verify(t, now);
    REQUIRE(v.ok());
    CHECK(v.value().user == "u-1");
    CHECK(v.value().has(sv::api::scope::viewer));
    CHECK(v.value().has(sv::api::scope::ops));
    CHECK_FALSE(v.value().has(sv::api::scope::cms));
    CHECK(v.value().expires_s == now + 600);
    CHECK(sv::api::scope_names(v.value().scopes) == "viewer ops");
  }

  TEST_CASE("expired, forged, tampered, unsigned or incomplete tokens are refused") {
    sv::api::token_keys keys{key};
    auto good = keys.mint({"u-1", sv::api::parse_scopes("viewer"), now + 10});
    // Expired: 30 s of leeway, not more.
    CHECK(keys.verify(good, now + 40).ok());
    auto late = keys.verify(good, now + 41);
    REQUIRE_FALSE(late.ok());
    CHECK(late.why() == "the token expired");
    // Another key.
    sv::api::token_keys other{"another key of at least 32 bytes!!"};
    CHECK_FALSE(keys.verify(other.mint({"u-1", 1, now + 10}), now).ok());
    // A changed payload (the user) with the old signature.
    auto dot1 = good.find('.');
    auto dot2 = good.find('.', dot1 + 1);
    auto forged = keys.mint({"u-2", 1, now + 10});
    auto spliced = good.substr(0, dot1)
                   + forged.substr(forged.find('.'), forged.rfind('.') - forged.find('.'))
                   + good.substr(dot2);
    CHECK_FALSE(keys.verify(spliced, now).ok());
    // "alg": "none", and another algorithm with the same key.
    CHECK_FALSE(keys.verify(raw_token(JWT_ALG_NONE, "", true, "u-1", "viewer"), now).ok());
    CHECK_FALSE(keys.verify(raw_token(JWT_ALG_HS512, key, true, "u-1", "viewer"), now).ok());
    // Missing claims.
    auto no_exp = keys.verify(raw_token(JWT_ALG_HS256, key, false, "u-1", "viewer"), now);
    REQUIRE_FALSE(no_exp.ok());
    CHECK(no_exp.why() == "the token has no exp");
    CHECK_FALSE(keys.verify(raw_token(JWT_ALG_HS256, key, true, nullptr, "viewer"), now).ok());
    CHECK_FALSE(keys.verify(raw_token(JWT_ALG_HS256, key, true, "u-1", nullptr), now).ok());
    CHECK_FALSE(keys.verify(raw_token(JWT_ALG_HS256, key, true, "u-1", "admin root"), now).ok());
    CHECK(keys.verify(raw_token(JWT_ALG_HS256, key, true, "u-1", "admin viewer"), now).ok());
    // Garbage.
    CHECK_FALSE(keys.verify("", now).ok());
    CHECK_FALSE(keys.verify("a.b.c", now).ok());
    CHECK_FALSE(keys.verify(std::string(9000, 'a'), now).ok());
  }

  TEST_CASE("the token cache answers as a full check would and keeps only verified tokens") {
    sv::api::token_keys keys{key};
    sv::api::token_cache cache{2};
    auto t1 = keys.mint({"u-1", sv::api::parse_scopes("viewer"), now + 60});
    auto t2 = keys.mint({"u-2", sv::api::parse_scopes("ops"), now + 60});
    auto t3 = keys.mint({"u-3", sv::api::parse_scopes("cms"), now + 60});
    auto first = cache.verify(keys, t1, now);
    REQUIRE(first.ok());
    auto again = cache.verify(keys, t1, now);
    REQUIRE(again.ok());
    CHECK(again.value().user == "u-1");
    CHECK(again.value().has(sv::api::scope::viewer));
    CHECK(cache.stats().hits == 1);
    CHECK(cache.stats().misses == 1);
    // A cached token still expires (past the leeway), as a full check says.
    auto late = cache.verify(keys, t1, now + 60 + keys.leeway_s() + 1);
    CHECK_FALSE(late.ok());
    CHECK(late.why() == keys.verify(t1, now + 60 + keys.leeway_s() + 1).why());
    // A changed token is checked in full and refused; refusals are not kept.
    auto forged = t1;
    forged[forged.size() - 2] = forged[forged.size() - 2] == 'A' ? 'B' : 'A';
    CHECK_FALSE(cache.verify(keys, forged, now).ok());
    CHECK_FALSE(cache.verify(keys, forged, now).ok());
    CHECK(cache.stats().size == 1);
    // Bounded: the oldest goes first.
    REQUIRE(cache.verify(keys, t2, now).ok());
    REQUIRE(cache.verify(keys, t3, now).ok());
    CHECK(cache.stats().size == 2);
    auto hits = cache.stats().hits;
    REQUIRE(cache.verify(keys, t3, now).ok());
    CHECK(cache.stats().hits == hits + 1);
    REQUIRE(cache.verify(keys, t1, now).ok()); // evicted: checked in full again
    CHECK(cache.stats().hits == hits + 1);
    // Capacity 0: nothing kept.
    sv::api::token_cache off{0};
    REQUIRE(off.verify(keys, t1, now).ok());
    REQUIRE(off.verify(keys, t1, now).ok());
    CHECK(off.stats().hits == 0);
    CHECK(off.stats().size == 0);
  }

  TEST_CASE("a token key shorter than 32 bytes or a missing key file is refused") {
    CHECK_THROWS_AS(sv::api::token_keys{"short"}, std::invalid_argument);
    auto dir = std::filesystem::path{"api_test_data"};
    std::filesystem::create_directories(dir);
    std::string why;
    CHECK_FALSE(sv::api::token_keys::from_file((dir / "none.key").string(), why));
    CHECK(why.find("cannot read") != std::string::npos);
    std::ofstream{dir / "short.key"} << "0123456789\n";
    CHECK_FALSE(sv::api::token_keys::from_file((dir / "short.key").string(), why));
    CHECK(why.find("at least 32") != std::string::npos);
    std::ofstream{dir / "good.key"} << key << "\n";
    auto keys = sv::api::token_keys::from_file((dir / "good.key").string(), why);
    REQUIRE(keys);
    CHECK(keys->key() == key); // the newline is not part of it
  }

  TEST_CASE("a session handle names its node and works only for its user") {
    sv::api::session_handle h{"node-a", 0x8000000000001234ULL};
    auto text = sv::api::make_handle(h, "u-1", key);
    CHECK(text.rfind("node-a~8000000000001234~", 0) == 0);
    auto back = sv::api::check_handle(text, "u-1", key);
    REQUIRE(back);
    CHECK(back->node == "node-a");
    CHECK(back->number == h.number);
    CHECK_FALSE(sv::api::check_handle(text, "u-2", key));                 // another user
    CHECK_FALSE(sv::api::check_handle(text, "u-1", "x" + key.substr(1))); // another key
    auto other_node = "node-b" + text.substr(6);
    CHECK_FALSE(sv::api::check_handle(other_node, "u-1", key));
    CHECK_FALSE(sv::api::check_handle("node-a~12", "u-1", key));
    CHECK_FALSE(sv::api::check_handle("", "u-1", key));
    CHECK_FALSE(sv::api::check_handle("~~", "u-1", key));
    CHECK_FALSE(sv::api::check_handle("node-a~zz~0123456789abcdef", "u-1", key));
  }

  TEST_CASE("the handle checker answers as check_handle and remembers only good handles") {
    sv::api::handle_checker checker{key, 2};
    auto a = sv::api::make_handle({"node-a", 1}, "u-1", key);
    auto b = sv::api::make_handle({"node-a", 2}, "u-1", key);
    auto c = sv::api::make_handle({"node-b", 3}, "u-2", key);
    for (int round = 0; round < 2; ++round) { // the second round from memory
      auto h = checker.check(a, "u-1");
      REQUIRE(h);
      CHECK(h->node == "node-a");
      CHECK(h->number == 1);
      CHECK_FALSE(checker.check(a, "u-2")); // another user's: refused, also once known
      CHECK_FALSE(checker.check(a.substr(0, a.size() - 1) + "0", "u-1"));
    }
    CHECK(checker.size() == 1);
    REQUIRE(checker.check(b, "u-1"));
    REQUIRE(checker.check(c, "u-2"));
    CHECK(checker.size() == 2); // bounded
    REQUIRE(checker.check(a, "u-1"));
  }

  TEST_CASE("read_int_fields takes the plain form of an integer object and leaves the rest to "
            "the full parser") {
    const std::vector<std::string_view> names = {"position_ms", "bitrate_kbps"};
    std::vector<int64_t> v;
    REQUIRE(sv::api::read_int_fields(R"({"position_ms":1000,"bitrate_kbps":4500})", names, v));
    CHECK(v == std::vector<int64_t>{1000, 4500});
    REQUIRE(sv::api::read_int_fields(" { \"bitrate_kbps\" : -7 }\n", names, v));
    CHECK(v == std::vector<int64_t>{0, -7});
    REQUIRE(sv::api::read_int_fields("{}", names, v));
    CHECK(v == std::vector<int64_t>{0, 0});
    REQUIRE(sv::api::read_int_fields(R"({"position_ms":0})", names, v));
    // Not the plain form: the caller parses fully (and refuses what is wrong).
    for (auto text :
         {R"({"position_ms":1.5})", R"({"position_ms":1e3})", R"({"position_ms":"5"})",
          R"({"positionMs":5})", R"({"other":5})", R"({"position_ms":1,"position_ms":2})",
          R"({"position_ms":01})", R"({"position_ms":1234567890123456789})",
          R"({"position_ms":1001111111111111111111111})", R"({"position_ms":-})",
          R"({"position_ms":1)", R"({"position_ms":1}x)", R"([1])", "", R"({"position_ms" 1})",
          R"({"position_ms":1,})", R"({"position_ms":null})", R"({"pos\u0069tion_ms":1})"}) {
      CHECK_MESSAGE(!sv::api::read_int_fields(text, names, v), text);
    }
  }

  TEST_CASE("routes: each path and method to its endpoint, else 404 or 405 with Allow") {
    using sv::api::endpoint;
    auto m = [](const char* method, const char* path) {
      return sv::api::match(method, path);
    };
    CHECK(*m("POST", "/v1/sessions").match == endpoint::open_session);
    auto hb = m("POST", "/v1/sessions/node-a~1~ab/heartbeat");
    CHECK(*hb.match == endpoint::session_heartbeat);
    CHECK(hb.a == "node-a~1~ab");
    CHECK(*m("POST", "/v1/sessions/x/commands").match == endpoint::session_command);
    CHECK(*m("DELETE", "/v1/sessions/x").match == endpoint::close_session);
    auto t = m("GET", "/v1/titles/premiere%2D1");
    CHECK(*t.match == endpoint::get_title);
    CHECK(t.a == "premiere-1");
    CHECK(*m("PUT", "/v1/titles/a+b").match == endpoint::put_title);
    CHECK(m("PUT", "/v1/titles/a+b").a == "a+b"); // '+' is itself in a path
    CHECK(*m("GET", "/v1/titles/x/master.m3u8").match == endpoint::master_playlist);
    auto p = m("GET", "/v1/users/u%201/positions/t-1");
    CHECK(*p.match == endpoint::get_position);
    CHECK(p.a == "u 1");
    CHECK(p.b == "t-1");
    CHECK(*m("GET", "/v1/analytics/windows").match == endpoint::windows);
    CHECK(*m("GET", "/healthz").match == endpoint::healthz);
    auto wrong = m("DELETE", "/v1/titles/x");
    CHECK_FALSE(wrong.match);
    CHECK(wrong.status == 405);
    CHECK(wrong.allow == "GET, PUT");
    CHECK(m("GET", "/v1/nothing").status == 404);
    CHECK(m("GET", "/v1/titles/").status == 404); // an empty id
    CHECK(m("GET", "/v1/titles/%zz").status == 400);
    CHECK(m("GET", "/v1/titles/%4").status == 400);
    CHECK(sv::api::class_of(endpoint::session_heartbeat) == sv::flow::service_class::critical);
    CHECK(sv::api::class_of(endpoint::get_position) == sv::flow::service_class::interactive);
    CHECK(sv::api::class_of(endpoint::windows) == sv::flow::service_class::best_effort);
  }

  TEST_CASE("query parameters and problem bodies") {
    CHECK(sv::api::query_param("device=tv&x=1", "device") == "tv");
    CHECK(sv::api::query_param("a=1&title=the+best%21", "title") == "the best!");
    CHECK_FALSE(sv::api::query_param("a=1", "title"));
    CHECK(sv::api::query_param("title", "title") == "");
    auto p = sv::api::problem(429, "overloaded", "say \"later\"", {{"retry-after", "2"}});
    CHECK(p.status == 429);
    CHECK(p.content_type == "application/problem+json");
    CHECK(p.body
          == "{\"type\":\"urn:streamverse:problem:overloaded\",\"title\":\"Too Many Requests\","
             "\"status\":429,\"code\":\"overloaded\",\"detail\":\"say \\\"later\\\"\"}\n");
    CHECK(p.headers.at(0).name == "retry-after");
  }
}
