// The hooks of a running node (node_hooks): session opens checked by the entitlement hook
// (in-process tier rule, then a webhook partner on loopback), CDN purges for a metadata
// update, CMS items into the catalog. One node in-process; every wait is bounded.

#include "actors/integrations/hooks_settings.hpp"
#include "actors/integrations/node_hooks.hpp"

#include <filesystem>
#include <mutex>
#include <set>

#include <doctest/doctest.h>

#include "tests/support/eventually.hpp"
#include "tests/support/http_partner.hpp"
#include "tests/support/test_nodes.hpp"
#include "tests/support/titles.hpp"

#include "actors/cache/cache.hpp"
#include "actors/content/catalog.hpp"
#include "actors/content/content_types.hpp"
#include "actors/media/media_errc.hpp"
#include "actors/media/media_service.hpp"
#include "actors/session/session_gateway.hpp"
#include "actors/session/session_service.hpp"
#include "caf/scoped_actor.hpp"
#include "runtime/metrics/registry.hpp"
#include "runtime/node/node.hpp"
#include "runtime/wire/errc.hpp"
#include "tests/support/gateway_call.hpp"

extern "C" const char* __asan_default_options() {
  // Same CAF 0.17.6 BASP shutdown cycle as in the catalog test (see there).
  return "detect_leaks=0";
}

namespace {

using sv::test::playable_title;

class recording_cdn : public sv::integrations::cdn_purge_hook {
public:
  std::string purge(const std::vector<std::string>& keys) override {
    std::lock_guard<std::mutex> lock{mx_};
    for (auto& k : keys) {
      ++purged_[k];
    }
    return {};
  }
  int times(const std::string& key) {
    std::lock_guard<std::mutex> lock{mx_};
    return purged_[key];
  }

private:
  std::mutex mx_;
  std::map<std::string, int> purged_;
};

struct one_node {
  sv::node n;
  explicit one_node(sv::config::node_settings s)
      : n{std::move(s),
          {sv::content::register_message_types, sv::cache::register_message_types,
           sv::session::register_message_types}} {
    REQUIRE(n.start().empty());
  }
};

sv::config::node_settings settings(const std::string& dir) {
  std::filesystem::remove_all(dir);
  auto s = sv::test::fast_node_settings("node-a", dir + "/node-a");
  s.flow.dispatch_lag_budget_ms = 60'000; // no degradation
  s.flow.critical_budget_ms = 60'000;
  return s;
}

} // namespace

TEST_SUITE("actors.integrations") {
  TEST_CASE("session opens are refused not_entitled by the tier rule and by a billing webhook") {
    sv::test::partner billing;
    billing.respond([](const sv::metrics::http_request& r) -> sv::metrics::http_response {
      if (r.body.find(R"("user":"bob")") != std::string::npos) {
        return {200, "application/json", R"({"entitled": false})"};
      }
      if (r.body.find(R"("user":"mallory")") != std::string::npos) {
        return {503, "application/json", "{}"};
      }
      return {200, "application/json", R"({"entitled": true})"};
    });
    for (bool webhook : {false, true}) {
      CAPTURE(webhook);
      auto s = settings("node_hooks_test_entitled");
      if (webhook) {
        s.section<sv::config::hooks_node_settings>().entitlement.url = billing.url("/entitled");
        s.section<sv::config::hooks_node_settings>().entitlement_fail_open = false;
      }
      one_node node{s};
      auto& n = node.n;
      sv::content::catalog catalog{n};
      sv::cache::cache cache{n};
      sv::integrations::node_hooks hooks{n, catalog};
      sv::media::media_service media{n, catalog, cache, hooks.entitlement()};
      sv::session::service sessions{n};
      sv::session::gateway gateway{n, sessions, media.verifier()};
      REQUIRE(catalog.update(playable_title("premium-1", "premium")));
      caf::scoped_actor self{n.system()};
      auto open = [&](uint64_t id, const std::string& user, uint8_t tier) {
        return sv::test::open_through(
            self, gateway, sv::session::open_request{id, user, "premium-1", "tv", "eu-west", tier});
      };
      auto premium = static_cast<uint8_t>(sv::session::tier::premium);
      auto basic = static_cast<uint8_t>(sv::session::tier::basic);
      if (!webhook) {
        CHECK(sv::is(open(1, "alice", basic), sv::media::refusal::not_entitled));
        CHECK_FALSE(sessions.info(1));
        auto ok = open(2, "alice", premium);
        CHECK_MESSAGE(!ok, n.system().render(ok));
        CHECK(sessions.info(2));
      } else {
        auto ok = open(3, "alice", basic); // the partner decides, not the tag
        CHECK_MESSAGE(!ok, n.system().render(ok));
        CHECK(sv::is(open(4, "bob", premium), sv::media::refusal::not_entitled));
        CHECK(sv::is(open(5, "mallory", premium), sv::media::refusal::not_entitled)); // fail closed
        CHECK_FALSE(sessions.info(4));
        auto calls = billing.calls();
        CHECK(calls == 3);
        CHECK(!open(6, "alice", basic)); // cached: no new call
        CHECK(billing.calls() == calls);
        auto text = n.metrics().render();
        CHECK(text.find(R"(sv_hook_calls_total{hook="entitlement",outcome="failed"} 1)")
              != std::string::npos);
        CHECK(text.find(R"(sv_hook_fallback_total{hook="entitlement"} 1)") != std::string::npos);
      }
    }
    std::filesystem::remove_all("node_hooks_test_entitled");
  }

  TEST_CASE("a metadata update is purged from the CDN once, CMS items reach the catalog once") {
    auto s = settings("node_hooks_test_purge");
    s.section<sv::config::hooks_node_settings>().cms_poll_ms = 20;
    one_node node{s};
    auto& n = node.n;
    sv::content::catalog catalog{n};
    auto cdn = std::make_shared<recording_cdn>();
    auto cms = std::make_shared<sv::integrations::pushed_cms>();
    sv::integrations::hook_overrides o;
    o.cdn_purge = cdn;
    o.cms = cms;
    sv::integrations::node_hooks hooks{n, catalog, o};
    REQUIRE(hooks.cms() != nullptr);

    REQUIRE(catalog.update(playable_title("t-1")));
    CHECK(sv::test::eventually([&] { return cdn->times("content:t-1") == 1; }));

    auto from_cms = playable_title("t-2");
    from_cms.set_title("From the CMS");
    cms->push(from_cms);
    cms->push(from_cms); // the same item twice: stored once
    auto bad = playable_title("t-3");
    bad.set_id(""); // refused by the catalog: skipped, counted
    cms->push(bad);
    hooks.cms()->poll_now();
    CHECK(sv::test::eventually([&] { return hooks.cms()->snapshot().cursor == "3"; }));
    auto stored = catalog.get("t-2");
    REQUIRE(stored);
    CHECK(stored->title() == "From the CMS");
    CHECK(stored->version() == 1);
    CHECK(hooks.cms()->snapshot().applied == 2);
    CHECK(hooks.cms()->snapshot().rejected == 1);
    CHECK(sv::test::eventually([&] { return cdn->times("content:t-2") == 1; }));
    REQUIRE(hooks.purger().drain(std::chrono::seconds{5}));
    CHECK(cdn->times("content:t-2") == 1);
    std::filesystem::remove_all("node_hooks_test_purge");
  }
}
