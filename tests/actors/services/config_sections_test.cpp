#include "actors/services/node_services.hpp"
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "actors/analytics/analytics_settings.hpp"
#include "actors/cache/cache_settings.hpp"
#include "actors/integrations/hooks_settings.hpp"
#include "actors/session/session_settings.hpp"
#include "tests/support/config_checks.hpp"

// The config sections the domain modules register ([sessions], [watch], [cache],
// [analytics], [hooks]): read and validated by the runtime's loader once
// node_services::register_config() has run, with the same FILE:LINE: KEY errors.

using sv::config::analytics_node_settings;
using sv::config::cache_node_settings;
using sv::config::hooks_node_settings;
using sv::config::session_node_settings;
using sv::config::watch_node_settings;
using sv::test::accepted;
using sv::test::refused;

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

struct registered {
  registered() {
    sv::node_services::register_config();
  }
};

} // namespace

TEST_SUITE("actors.config") {

  TEST_CASE_FIXTURE(registered,
                    "the sessions section sets the idle timeout and the number of hosts") {
    auto s = accepted("[sessions]\nidle_timeout_ms = 45000\nhosts = 32\n");
    CHECK(s.section<session_node_settings>().idle_timeout_ms == 45000);
    CHECK(s.section<session_node_settings>().hosts == 32);
    CHECK(accepted("").section<session_node_settings>().idle_timeout_ms == 30000);
    refused("[sessions]\nidle_timeout_ms = 10\n", 2, "sessions.idle_timeout_ms");
    refused("[sessions]\nhosts = 0\n", 2, "sessions.hosts");
  }

  TEST_CASE_FIXTURE(registered,
                    "the watch, cache and analytics sections are read and range-checked") {
    auto s = accepted(R"(
[watch]
checkpoint_ms = 5000
sync_interval_ms = 200
read_settle_ms = 0
[cache]
l1_bytes = 1048576
shards = 8
hot_threshold = 3
[analytics]
partitions = 4
linger_ms = 10
retention_hours = 24
)");
    CHECK(s.section<watch_node_settings>().checkpoint_ms == 5000);
    CHECK(s.section<watch_node_settings>().sync_interval_ms == 200);
    CHECK(s.section<watch_node_settings>().read_settle_ms == 0); // reads always ask every holder
    CHECK(s.section<cache_node_settings>().l1_bytes == 1048576);
    CHECK(s.section<cache_node_settings>().shards == 8);
    CHECK(s.section<cache_node_settings>().hot_threshold == 3);
    CHECK(s.section<cache_node_settings>().l2_bytes == 128ull << 20); // the default
    CHECK(s.section<analytics_node_settings>().partitions == 4);
    CHECK(s.section<analytics_node_settings>().linger_ms == 10);
    CHECK(s.section<analytics_node_settings>().retention_hours == 24);
    refused("[watch]\ncheckpoint_ms = 10\n", 2, "watch.checkpoint_ms");
    refused("[cache]\nhot_threshold = 16\n", 2, "cache.hot_threshold");
    refused("[cache]\nshards = 0\n", 2, "cache.shards");
    refused("[analytics]\npartitions = 0\n", 2, "analytics.partitions");
    refused("[analytics]\nsample_rate = \"all\"\n", 2, "analytics.sample_rate");
    refused("[cache]\nsize = 1\n", 2, "cache.size");
  }

  TEST_CASE_FIXTURE(
      registered,
      "hook sections set webhook URLs, timeouts and policies, defaults keep them in process") {
    auto d = accepted("").section<hooks_node_settings>();
    CHECK(d.entitlement.url.empty());
    CHECK(d.entitlement.timeout_ms == 150);
    CHECK(d.entitlement_fail_open);
    CHECK(d.cms.url.empty());
    auto s = accepted(R"(
[hooks]
failure_threshold = 3
open_ms = 2000
threads = 8
max_queued = 1000
[hooks.entitlement]
url = "https://billing.example/entitled"
timeout_ms = 80
ttl_ms = 30000
fail_open = false
[hooks.recommendations]
fallback = ["top-1", "top-2"]
[hooks.cdn_purge]
url = "http://127.0.0.1:9000/purge"
batch = 50
max_attempts = 4
[hooks.cms]
url = "http://cms.internal/changes"
poll_ms = 500
)")
                 .section<hooks_node_settings>();
    CHECK(s.failure_threshold == 3);
    CHECK(s.open_ms == 2000);
    CHECK(s.threads == 8);
    CHECK(s.max_queued == 1000);
    CHECK(s.entitlement.url == "https://billing.example/entitled");
    CHECK(s.entitlement.timeout_ms == 80);
    CHECK(s.entitlement_ttl_ms == 30000);
    CHECK_FALSE(s.entitlement_fail_open);
    CHECK(s.recommendations_fallback == std::vector<std::string>{"top-1", "top-2"});
    CHECK(s.cdn_purge.url == "http://127.0.0.1:9000/purge");
    CHECK(s.cdn_purge_batch == 50);
    CHECK(s.cdn_purge_max_attempts == 4);
    CHECK(s.cms_poll_ms == 500);
  }

  TEST_CASE_FIXTURE(registered, "a hook URL must be http or https with a host") {
    auto err = refused("[hooks.ads]\nurl = \"ftp://ads.example\"\n", 2, "hooks.ads.url");
    CHECK(contains(err.message, "must start with http:// or https://"));
    refused("[hooks.cms]\nurl = \"http://\"\n", 2, "hooks.cms.url");
    refused("[hooks.cms]\nurl = 7\n", 2, "hooks.cms.url");
  }

  TEST_CASE_FIXTURE(registered, "hook timeouts and counts are range-checked") {
    refused("[hooks.entitlement]\ntimeout_ms = 0\n", 2, "hooks.entitlement.timeout_ms");
    refused("[hooks.cdn_purge]\nbatch = 0\n", 2, "hooks.cdn_purge.batch");
    refused("[hooks]\nfailure_threshold = 0\n", 2, "hooks.failure_threshold");
    refused("[hooks]\nthreads = 0\n", 2, "hooks.threads");
  }

  TEST_CASE_FIXTURE(registered, "fail_open is a boolean and the fallback list holds content ids") {
    refused("[hooks.entitlement]\nfail_open = \"yes\"\n", 2, "hooks.entitlement.fail_open");
    refused("[hooks.recommendations]\nfallback = [\"a\", 3]\n", 2,
            "hooks.recommendations.fallback");
    refused("[hooks.recommendations]\nfallback = \"a\"\n", 2, "hooks.recommendations.fallback");
  }

} // TEST_SUITE
