#include "runtime/config/node_settings.hpp"
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include <unistd.h>

#include "runtime/config/section.hpp"
#include "tests/support/config_checks.hpp"

// Line numbers: TOML lines count from 1. Most texts below are raw strings that start with a
// newline right after R"( so line 1 is that empty line and the first TOML line is line 2.

using sv::config::config_error;
using sv::config::load_string;
using sv::config::log_format;
using sv::config::node_settings;
using sv::config::parse_host_port;
using sv::test::accepted;
using sv::test::refused;
using sv::test::source;

namespace {

// A file name in the temp directory that parallel test runs do not share.
std::string temp_config_path(const std::string& stem) {
  auto name = stem + "." + std::to_string(::getpid()) + ".toml";
  return (std::filesystem::temp_directory_path() / name).string();
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

} // namespace

TEST_SUITE("runtime.config") {

  TEST_CASE("a full valid config with every key is loaded with each value") {
    auto s = accepted(R"(
[node]
name = "node-x.1_A"
data_dir = "/var/lib/streamverse"
scheduler_threads = 8

[cluster]
bind = "0.0.0.0"
port = 7200
seeds = ["127.0.0.1:7101", "node-b.local:7102", "[::1]:7103"]
heartbeat_interval_ms = 250
connection_timeout_ms = 2000
seed_retry_ms = 750

[metrics]
bind = "0.0.0.0"
port = 9200

[log]
level = "debug"
format = "json"
status_interval_ms = 1000

[flow.watermarks]
critical = 10000
interactive = 2000
best_effort = 300
bulk = 50
)");
    CHECK(s.name == "node-x.1_A");
    CHECK(s.data_dir == "/var/lib/streamverse");
    CHECK(s.scheduler_threads == 8);
    CHECK(s.bind_address == "0.0.0.0");
    CHECK(s.cluster_port == 7200);
    REQUIRE(s.seeds.size() == 3);
    CHECK(s.seeds[0].host == "127.0.0.1");
    CHECK(s.seeds[0].port == 7101);
    CHECK(s.seeds[1].host == "node-b.local");
    CHECK(s.seeds[1].port == 7102);
    CHECK(s.seeds[2].host == "::1");
    CHECK(s.seeds[2].port == 7103);
    CHECK(s.heartbeat_interval_ms == 250);
    CHECK(s.connection_timeout_ms == 2000);
    CHECK(s.seed_retry_ms == 750);
    CHECK(s.metrics_bind_address == "0.0.0.0");
    CHECK(s.metrics_port == 9200);
    CHECK(s.log_level == "debug");
    CHECK(s.log_format_value == log_format::json);
    CHECK(s.status_interval_ms == 1000);
    CHECK(s.watermarks.critical == 10000);
    CHECK(s.watermarks.interactive == 2000);
    CHECK(s.watermarks.best_effort == 300);
    CHECK(s.watermarks.bulk == 50);
    CHECK(s.source == source);
  }

  TEST_CASE("an empty file gives every default") {
    auto s = accepted("");
    CHECK(s.name == "streamverse");
    CHECK(s.data_dir == "data");
    CHECK(s.scheduler_threads == 2);
    CHECK(s.bind_address == "127.0.0.1");
    CHECK(s.cluster_port == 7100);
    CHECK(s.seeds.empty());
    CHECK(s.heartbeat_interval_ms == 500);
    CHECK(s.connection_timeout_ms == 3000);
    CHECK(s.seed_retry_ms == 500);
    CHECK(s.metrics_bind_address == "127.0.0.1");
    CHECK(s.metrics_port == 0);
    CHECK(s.log_level == "info");
    CHECK(s.log_format_value == log_format::text);
    CHECK(s.status_interval_ms == 0);
    CHECK(s.watermarks.critical == 8192);
    CHECK(s.watermarks.interactive == 1024);
    CHECK(s.watermarks.best_effort == 256);
    CHECK(s.watermarks.bulk == 128);
    CHECK(s.source == source);
  }

  TEST_CASE("a file with only comments and empty sections gives every default") {
    auto s = accepted(R"(
# nothing set
[node]
[cluster]
[flow.watermarks]
)");
    CHECK(s.name == "streamverse");
    CHECK(s.cluster_port == 7100);
    CHECK(s.watermarks.bulk == 128);
  }

  TEST_CASE("load_file reads a file and records its path as the source") {
    auto path = temp_config_path("sv_node_settings_test_ok");
    {
      std::ofstream out{path, std::ios::binary | std::ios::trunc};
      REQUIRE(out);
      out << "[node]\nname = \"from-file\"\n\n[cluster]\nport = 7155\n";
    }
    auto result = sv::config::load_file(path);
    std::remove(path.c_str());
    REQUIRE(result);
    CHECK(result.settings->name == "from-file");
    CHECK(result.settings->cluster_port == 7155);
    CHECK(result.settings->source == path);
  }

  TEST_CASE("load_file reports errors with the file's path as the file name") {
    auto path = temp_config_path("sv_node_settings_test_bad");
    {
      std::ofstream out{path, std::ios::binary | std::ios::trunc};
      REQUIRE(out);
      out << "[node]\nname = \"ok\"\n\n[cluster]\nport = 70000\n";
    }
    auto result = sv::config::load_file(path);
    std::remove(path.c_str());
    REQUIRE_FALSE(result);
    REQUIRE(result.error);
    CHECK(result.error->file == path);
    CHECK(result.error->line == 5);
    CHECK(result.error->key == "cluster.port");
    CHECK(result.error->to_string() == path + ":5: cluster.port: 70000 is out of range (0..65535)");
  }

  TEST_CASE("a missing file is refused with its path, line 0 and no key") {
    const std::string path = "/nonexistent-streamverse-dir/node.toml";
    auto result = sv::config::load_file(path);
    REQUIRE_FALSE(result);
    REQUIRE(result.error);
    CHECK(result.error->file == path);
    CHECK(result.error->line == 0);
    CHECK(result.error->key == "");
    CHECK(contains(result.error->message, "cannot read config file"));
    // With line 0 and no key, to_string is "FILE: MESSAGE".
    auto prefix = path + ": cannot read config file: ";
    CHECK(result.error->to_string().substr(0, prefix.size()) == prefix);
  }

  TEST_CASE("a TOML syntax error is refused with the line it is on and no key") {
    SUBCASE("a value that is not a value") {
      auto err = refused(R"(
[node]
name = "node-a"
scheduler_threads = = 2
)",
                         4, "");
      CHECK(contains(err.message, "TOML syntax error"));
    }
    SUBCASE("an unterminated table header") {
      auto err = refused(R"(
[node]
name = "node-a"

[cluster
port = 7101
)",
                         5, "");
      CHECK(contains(err.message, "TOML syntax error"));
    }
    SUBCASE("a key given twice") {
      auto err = refused(R"(
[node]
name = "node-a"
name = "node-b"
)",
                         4, "");
      CHECK(contains(err.message, "TOML syntax error"));
    }
  }

  TEST_CASE("an unknown top-level key is refused with its line and name") {
    // Top-level keys come before the first [section]; later ones would belong to it.
    auto err = refused(R"(
# a comment
colour = "blue"

[node]
name = "node-a"
)",
                       3, "colour");
    CHECK(contains(err.message, "unknown key"));
  }

  TEST_CASE("an unknown key inside a known section is refused with its line and dotted name") {
    SUBCASE("in [cluster]") {
      auto err = refused(R"(
[cluster]
port = 7101
sedes = ["127.0.0.1:7102"]
)",
                         4, "cluster.sedes");
      CHECK(contains(err.message, "unknown key"));
    }
    SUBCASE("in [flow.watermarks]") {
      auto err = refused(R"(
[flow.watermarks]
critical = 9000
urgent = 10000
)",
                         4, "flow.watermarks.urgent");
      CHECK(contains(err.message, "unknown key"));
    }
    SUBCASE("in [flow], which only holds [flow.watermarks]") {
      auto err = refused(R"(
[flow]
credits = 5
)",
                         3, "flow.credits");
      CHECK(contains(err.message, "unknown key"));
    }
  }

  TEST_CASE("an unknown section is refused at its header with its name") {
    auto err = refused(R"(
[node]
name = "node-a"

[storage]
path = "x"
)",
                       5, "storage");
    CHECK(contains(err.message, "unknown key"));
  }

  TEST_CASE("a known section given as a plain value is refused as the wrong type") {
    // No leading newline here: the key is on line 1.
    auto err = refused("cluster = 7100\n", 1, "cluster");
    CHECK(err.message == "expected a table, got an integer");
  }

  TEST_CASE("a string for cluster.port is refused as the wrong type") {
    auto err = refused(R"(
[cluster]
bind = "127.0.0.1"
port = "7101"
)",
                       4, "cluster.port");
    CHECK(err.message == "expected an integer, got a string");
  }

  TEST_CASE("an integer for log.level is refused as the wrong type") {
    auto err = refused(R"(
[log]
level = 3
)",
                       3, "log.level");
    CHECK(err.message == "expected a string, got an integer");
  }

  TEST_CASE("a table where a key is expected is refused as the wrong type") {
    SUBCASE("an inline table") {
      auto err = refused(R"(
[cluster]
port = { value = 7101 }
)",
                         3, "cluster.port");
      CHECK(err.message == "expected an integer, got a table");
    }
    SUBCASE("a table header") {
      auto err = refused(R"(
[node]
name = "node-a"

[node.data_dir]
path = "data"
)",
                         5, "node.data_dir");
      CHECK(err.message == "expected a string, got a table");
    }
  }

  TEST_CASE("a floating-point number for an integer key is refused as the wrong type") {
    auto err = refused(R"(
[node]
scheduler_threads = 2.0
)",
                       3, "node.scheduler_threads");
    CHECK(err.message == "expected an integer, got a floating-point number");
  }

  TEST_CASE("cluster.port outside 0..65535 is refused") {
    SUBCASE("70000") {
      auto err = refused(R"(
[cluster]
port = 70000
)",
                         3, "cluster.port");
      CHECK(err.message == "70000 is out of range (0..65535)");
    }
    SUBCASE("-1") {
      auto err = refused(R"(
[cluster]
port = -1
)",
                         3, "cluster.port");
      CHECK(err.message == "-1 is out of range (0..65535)");
    }
    SUBCASE("the bounds 0 and 65535 are accepted") {
      CHECK(accepted("[cluster]\nport = 0\n").cluster_port == 0);
      CHECK(accepted("[cluster]\nport = 65535\n").cluster_port == 65535);
    }
  }

  TEST_CASE("metrics.port outside 0..65535 is refused") {
    SUBCASE("70000") {
      auto err = refused(R"(
[metrics]
bind = "127.0.0.1"
port = 70000
)",
                         4, "metrics.port");
      CHECK(err.message == "70000 is out of range (0..65535)");
    }
    SUBCASE("-1") {
      auto err = refused(R"(
[metrics]
port = -1
)",
                         3, "metrics.port");
      CHECK(err.message == "-1 is out of range (0..65535)");
    }
    SUBCASE("the bounds 0 and 65535 are accepted") {
      CHECK(accepted("[metrics]\nport = 0\n").metrics_port == 0);
      CHECK(accepted("[metrics]\nport = 65535\n").metrics_port == 65535);
    }
  }

  TEST_CASE("a seed that is not host:port is refused with its entry index") {
    // Each text has the bad seed as entry 1, after a good one.
    auto text = [](const std::string& seed) {
      return "\n[cluster]\nport = 7101\nseeds = [\"127.0.0.1:7102\", \"" + seed + "\"]\n";
    };
    std::string bad;
    std::string why;
    SUBCASE("no colon") {
      bad = "nohost";
      why = "\"nohost\" is not host:port";
    }
    SUBCASE("no port") {
      bad = "host:";
      why = "\"host:\" has no valid port";
    }
    SUBCASE("port above 65535") {
      bad = "host:99999";
      why = "\"host:99999\": port 99999 is out of range (1..65535)";
    }
    SUBCASE("no host") {
      bad = ":7100";
      why = "\":7100\" has no valid host";
    }
    SUBCASE("two colons without brackets") {
      bad = "a:b:c";
      why = "\"a:b:c\" is not host:port";
    }
    SUBCASE("port 0") {
      bad = "host:0";
      why = "\"host:0\": port 0 is out of range (1..65535)";
    }
    auto err = refused(text(bad), 4, "cluster.seeds");
    CHECK(err.message == "entry 1: " + why);
  }

  TEST_CASE("a seed entry that is not a string is refused with its entry index") {
    auto err = refused(R"(
[cluster]
seeds = ["127.0.0.1:7102", 7103]
)",
                       3, "cluster.seeds");
    CHECK(err.message == "entry 1: expected a \"host:port\" string, got an integer");
  }

  TEST_CASE("cluster.seeds that is not an array is refused") {
    auto err = refused(R"(
[cluster]
seeds = "127.0.0.1:7102"
)",
                       3, "cluster.seeds");
    CHECK(contains(err.message, "expected an array"));
    CHECK(contains(err.message, "got a string"));
  }

  TEST_CASE("cluster.dial_via maps addresses to the ones dialed instead") {
    auto s = accepted(R"(
[cluster]
seeds = ["127.0.0.1:7102"]
dial_via = { "127.0.0.1:7102" = "127.0.0.1:27102", "10.0.0.3:7103" = "relay.local:9000" }
)");
    REQUIRE(s.dial_via.size() == 2);
    std::map<std::string, std::string> got;
    for (auto& [from, to] : s.dial_via) {
      got[from.to_string()] = to.to_string();
    }
    CHECK(got
          == std::map<std::string, std::string>{{"127.0.0.1:7102", "127.0.0.1:27102"},
                                                {"10.0.0.3:7103", "relay.local:9000"}});
    CHECK(accepted("[cluster]\nport = 7101\n").dial_via.empty());
  }

  TEST_CASE("a bad cluster.dial_via is refused with the entry at fault") {
    CHECK(contains(refused("[cluster]\ndial_via = [\"a:1\"]\n", 2, "cluster.dial_via").message,
                   "expected a table"));
    CHECK(refused("[cluster]\ndial_via = { \"a:1\" = \"b:\" }\n", 2, "cluster.dial_via").message
          == "\"a:1\": \"b:\" has no valid port");
    CHECK(refused("[cluster]\ndial_via = { \"nohost\" = \"b:1\" }\n", 2, "cluster.dial_via").message
          == "key \"nohost\" is not host:port");
    CHECK(refused("[cluster]\ndial_via = { \"a:1\" = 2 }\n", 2, "cluster.dial_via").message
          == "\"a:1\": expected a \"host:port\" string, got an integer");
  }

  TEST_CASE("IPv4, host name and bracketed IPv6 seeds are accepted in order") {
    auto s = accepted(R"(
[cluster]
seeds = ["127.0.0.1:7100", "node-b.local:7101", "[::1]:7100"]
)");
    REQUIRE(s.seeds.size() == 3);
    CHECK(s.seeds[0].host == "127.0.0.1");
    CHECK(s.seeds[0].port == 7100);
    CHECK(s.seeds[1].host == "node-b.local");
    CHECK(s.seeds[1].port == 7101);
    CHECK(s.seeds[2].host == "::1");
    CHECK(s.seeds[2].port == 7100);
    CHECK(accepted("[cluster]\nseeds = []\n").seeds.empty());
  }

  TEST_CASE("parse_host_port splits host and port and says why it refuses") {
    std::string why;
    SUBCASE("accepted forms") {
      auto v4 = parse_host_port("127.0.0.1:7100", why);
      REQUIRE(v4);
      CHECK(v4->host == "127.0.0.1");
      CHECK(v4->port == 7100);
      CHECK(v4->to_string() == "127.0.0.1:7100");

      auto name = parse_host_port("node-b.local:7101", why);
      REQUIRE(name);
      CHECK(name->host == "node-b.local");
      CHECK(name->port == 7101);
      CHECK(name->to_string() == "node-b.local:7101");

      auto v6 = parse_host_port("[::1]:7100", why);
      REQUIRE(v6);
      CHECK(v6->host == "::1");
      CHECK(v6->port == 7100);
      CHECK(v6->to_string() == "[::1]:7100");

      auto top = parse_host_port("h:65535", why);
      REQUIRE(top);
      CHECK(top->port == 65535);
    }
    SUBCASE("refused forms") {
      CHECK_FALSE(parse_host_port("nohost", why));
      CHECK(why == "\"nohost\" is not host:port");
      CHECK_FALSE(parse_host_port("host:", why));
      CHECK(why == "\"host:\" has no valid port");
      CHECK_FALSE(parse_host_port("host:99999", why));
      CHECK(why == "\"host:99999\": port 99999 is out of range (1..65535)");
      CHECK_FALSE(parse_host_port(":7100", why));
      CHECK(why == "\":7100\" has no valid host");
      CHECK_FALSE(parse_host_port("a:b:c", why));
      CHECK(why == "\"a:b:c\" is not host:port");
      CHECK_FALSE(parse_host_port("host:123456", why));
      CHECK(why == "\"host:123456\" has no valid port");
      CHECK_FALSE(parse_host_port("host:7x", why));
      CHECK(why == "\"host:7x\" has no valid port");
      CHECK_FALSE(parse_host_port("::1:7100", why));
      CHECK(why == "\"::1:7100\" is not host:port");
      CHECK_FALSE(parse_host_port("[::1]", why));
      CHECK(why == "\"[::1]\" is not host:port (IPv6 needs [addr]:port)");
      CHECK_FALSE(parse_host_port("[::1:7100", why));
      CHECK(why == "\"[::1:7100\" is not host:port (IPv6 needs [addr]:port)");
      CHECK_FALSE(parse_host_port("bad_host:7100", why));
      CHECK(why == "\"bad_host:7100\" has no valid host");
      CHECK_FALSE(parse_host_port("", why));
      CHECK(why == "\"\" is not host:port");
    }
  }

  TEST_CASE("node.name with characters outside A-Z a-z 0-9 . _ - is refused") {
    std::string name;
    SUBCASE("a space") {
      name = "node a";
    }
    SUBCASE("a slash") {
      name = "node/a";
    }
    SUBCASE("a colon") {
      name = "node:a";
    }
    SUBCASE("empty") {
      name = "";
    }
    auto err = refused("\n[node]\nname = \"" + name + "\"\n", 3, "node.name");
    CHECK(err.message == "\"" + name + "\" is not a node name (1-64 of A-Z a-z 0-9 . _ -)");
  }

  TEST_CASE("node.name longer than 64 characters is refused") {
    auto name64 = std::string(64, 'n');
    CHECK(accepted("[node]\nname = \"" + name64 + "\"\n").name == name64);
    auto name65 = std::string(65, 'n');
    auto err = refused("\n[node]\nname = \"" + name65 + "\"\n", 3, "node.name");
    CHECK(contains(err.message, "is not a node name"));
  }

  TEST_CASE("node.region and node.zone are read, checked like names, and a zone needs a region") {
    auto s = accepted("[node]\nregion = \"eu-west\"\nzone = \"1a\"\n");
    CHECK(s.region == "eu-west");
    CHECK(s.zone == "1a");
    CHECK(accepted("").region.empty());
    auto bad = refused("\n[node]\nregion = \"eu west\"\n", 3, "node.region");
    CHECK(bad.message == "\"eu west\" is not a region name (1-64 of A-Z a-z 0-9 . _ -)");
    auto lonely = refused("\n[node]\nzone = \"1a\"\n", 3, "node.zone");
    CHECK(lonely.message == "a zone needs node.region");
  }

  TEST_CASE("the remote failure-detector thresholds have defaults and their own checks") {
    auto d = accepted("");
    CHECK(d.remote_suspect_after_ms == 2000);
    CHECK(d.remote_down_after_ms == 3000);
    auto s = accepted("[cluster]\nremote_suspect_after_ms = 4000\nremote_down_after_ms = 6000\n");
    CHECK(s.remote_suspect_after_ms == 4000);
    CHECK(s.remote_down_after_ms == 6000);
    auto err = refused("\n[cluster]\ngossip_interval_ms = 500\nremote_suspect_after_ms = 500\n", 4,
                       "cluster.remote_suspect_after_ms");
    CHECK(err.message
          == "remote_suspect_after_ms (500) must be larger than gossip_interval_ms (500)");
  }

  TEST_CASE("an empty node.data_dir is refused") {
    auto err = refused(R"(
[node]
data_dir = ""
)",
                       3, "node.data_dir");
    CHECK(err.message == "must not be empty");
  }

  TEST_CASE("node.scheduler_threads outside 1..256 is refused") {
    SUBCASE("0") {
      auto err = refused(R"(
[node]
name = "node-a"
scheduler_threads = 0
)",
                         4, "node.scheduler_threads");
      CHECK(err.message == "0 is out of range (1..256)");
    }
    SUBCASE("257") {
      auto err = refused(R"(
[node]
scheduler_threads = 257
)",
                         3, "node.scheduler_threads");
      CHECK(err.message == "257 is out of range (1..256)");
    }
    SUBCASE("the bounds 1 and 256 are accepted") {
      CHECK(accepted("[node]\nscheduler_threads = 1\n").scheduler_threads == 1);
      CHECK(accepted("[node]\nscheduler_threads = 256\n").scheduler_threads == 256);
    }
  }

  TEST_CASE("cluster.bind that is neither an IP address nor a host name is refused") {
    auto err = refused(R"(
[cluster]
bind = "local host"
)",
                       3, "cluster.bind");
    CHECK(err.message == "\"local host\" is not an IP address or host name");
    CHECK(accepted("[cluster]\nbind = \"::1\"\n").bind_address == "::1");
    CHECK(accepted("[cluster]\nbind = \"node-a.local\"\n").bind_address == "node-a.local");
  }

  TEST_CASE("metrics.bind that is not an IPv4 address is refused") {
    SUBCASE("a host name") {
      auto err = refused(R"(
[metrics]
bind = "localhost"
)",
                         3, "metrics.bind");
      CHECK(err.message == "\"localhost\" is not an IPv4 address");
    }
    SUBCASE("an IPv6 address") {
      auto err = refused(R"(
[metrics]
bind = "::1"
)",
                         3, "metrics.bind");
      CHECK(err.message == "\"::1\" is not an IPv4 address");
    }
  }

  TEST_CASE("millisecond settings outside their ranges are refused") {
    SUBCASE("cluster.heartbeat_interval_ms below 10") {
      auto err =
          refused("\n[cluster]\nheartbeat_interval_ms = 9\n", 3, "cluster.heartbeat_interval_ms");
      CHECK(err.message == "9 ms is out of range (10..60000)");
    }
    SUBCASE("cluster.connection_timeout_ms above 600000") {
      auto err = refused("\n[cluster]\nconnection_timeout_ms = 600001\n", 3,
                         "cluster.connection_timeout_ms");
      CHECK(err.message == "600001 ms is out of range (20..600000)");
    }
    SUBCASE("cluster.seed_retry_ms below 10") {
      auto err = refused("\n[cluster]\nseed_retry_ms = 0\n", 3, "cluster.seed_retry_ms");
      CHECK(err.message == "0 ms is out of range (10..60000)");
    }
    SUBCASE("log.status_interval_ms above one hour") {
      auto err = refused("\n[log]\nstatus_interval_ms = 3600001\n", 3, "log.status_interval_ms");
      CHECK(err.message == "3600001 ms is out of range (0..3600000)");
    }
  }

  TEST_CASE("a log.level outside trace, debug, info, warn, error, critical, off is refused") {
    SUBCASE("warning") {
      auto err = refused("\n[log]\nlevel = \"warning\"\n", 3, "log.level");
      CHECK(err.message
            == "\"warning\" is not one of trace, debug, info, warn, error, critical, off");
    }
    SUBCASE("upper case INFO") {
      auto err = refused("\n[log]\nlevel = \"INFO\"\n", 3, "log.level");
      CHECK(contains(err.message, "\"INFO\" is not one of"));
    }
    SUBCASE("every listed level is accepted") {
      for (auto level : {"trace", "debug", "info", "warn", "error", "critical", "off"}) {
        CAPTURE(level);
        CHECK(accepted(std::string{"[log]\nlevel = \""} + level + "\"\n").log_level == level);
      }
    }
  }

  TEST_CASE("a log.format other than text or json is refused") {
    auto err = refused(R"(
[log]
level = "info"
format = "xml"
)",
                       4, "log.format");
    CHECK(err.message == "\"xml\" is not one of text, json");
    CHECK(accepted("[log]\nformat = \"text\"\n").log_format_value == log_format::text);
    CHECK(accepted("[log]\nformat = \"json\"\n").log_format_value == log_format::json);
  }

  TEST_CASE("a heartbeat interval not below the connection timeout is refused") {
    SUBCASE("equal: blamed on connection_timeout_ms when the file sets it") {
      auto err = refused(R"(
[cluster]
heartbeat_interval_ms = 1000
connection_timeout_ms = 1000
)",
                         4, "cluster.connection_timeout_ms");
      CHECK(err.message
            == "connection_timeout_ms (1000) must be larger than heartbeat_interval_ms (1000)");
    }
    SUBCASE("larger: blamed on connection_timeout_ms when the file sets it") {
      auto err = refused(R"(
[cluster]
connection_timeout_ms = 400
)",
                         3, "cluster.connection_timeout_ms");
      CHECK(err.message
            == "connection_timeout_ms (400) must be larger than heartbeat_interval_ms (500)");
    }
    SUBCASE("larger: blamed on heartbeat_interval_ms when only it is set") {
      auto err = refused(R"(
[cluster]
port = 7101
heartbeat_interval_ms = 5000
)",
                         4, "cluster.heartbeat_interval_ms");
      CHECK(err.message
            == "connection_timeout_ms (3000) must be larger than heartbeat_interval_ms (5000)");
    }
    SUBCASE("one millisecond apart is accepted") {
      auto s = accepted("[cluster]\nheartbeat_interval_ms = 999\nconnection_timeout_ms = 1000\n");
      CHECK(s.heartbeat_interval_ms == 999);
      CHECK(s.connection_timeout_ms == 1000);
    }
  }

  TEST_CASE("metrics.port equal to cluster.port is refused at metrics.port") {
    SUBCASE("both set") {
      auto err = refused(R"(
[cluster]
port = 7101

[metrics]
port = 7101
)",
                         6, "metrics.port");
      CHECK(err.message == "must differ from cluster.port (7101)");
    }
    SUBCASE("metrics.port equal to the default cluster.port") {
      auto err = refused("\n[metrics]\nport = 7100\n", 3, "metrics.port");
      CHECK(err.message == "must differ from cluster.port (7100)");
    }
    SUBCASE("both 0 is accepted: metrics off, cluster port picked at start") {
      auto s = accepted("[cluster]\nport = 0\n[metrics]\nport = 0\n");
      CHECK(s.cluster_port == 0);
      CHECK(s.metrics_port == 0);
    }
  }

  TEST_CASE("watermarks out of order are refused and name the key that breaks the order") {
    SUBCASE("bulk above best_effort, both set: blamed on bulk") {
      auto err = refused(R"(
[flow.watermarks]
best_effort = 200
bulk = 300
)",
                         4, "flow.watermarks.bulk");
      CHECK(err.message
            == "flow.watermarks.bulk (300) must not exceed flow.watermarks.best_effort (200)");
    }
    SUBCASE("bulk above the default best_effort") {
      auto err = refused("\n[flow.watermarks]\nbulk = 257\n", 3, "flow.watermarks.bulk");
      CHECK(err.message
            == "flow.watermarks.bulk (257) must not exceed flow.watermarks.best_effort (256)");
    }
    SUBCASE("critical below the default interactive: blamed on critical") {
      auto err = refused("\n[flow.watermarks]\ncritical = 1000\n", 3, "flow.watermarks.critical");
      CHECK(
          err.message
          == "flow.watermarks.interactive (1024) must not exceed flow.watermarks.critical (1000)");
    }
    SUBCASE("equal watermarks are accepted") {
      auto s = accepted(
          "[flow.watermarks]\ncritical = 100\ninteractive = 100\nbest_effort = 100\nbulk = 100\n");
      CHECK(s.watermarks.critical == 100);
      CHECK(s.watermarks.bulk == 100);
    }
  }

  TEST_CASE("a watermark outside 1..10000000 is refused") {
    SUBCASE("0") {
      auto err = refused("\n[flow.watermarks]\nbulk = 0\n", 3, "flow.watermarks.bulk");
      CHECK(err.message == "0 is out of range (1..10000000)");
    }
    SUBCASE("10000001") {
      auto err =
          refused("\n[flow.watermarks]\ncritical = 10000001\n", 3, "flow.watermarks.critical");
      CHECK(err.message == "10000001 is out of range (1..10000000)");
    }
    SUBCASE("a string") {
      auto err = refused("\n[flow.watermarks]\ninteractive = \"1024\"\n", 3,
                         "flow.watermarks.interactive");
      CHECK(err.message == "expected an integer, got a string");
    }
  }

  TEST_CASE("a directory given as the config file is refused, not read as empty") {
    auto dir = std::filesystem::temp_directory_path().string();
    auto result = sv::config::load_file(dir);
    REQUIRE_FALSE(result);
    CHECK(result.error->file == dir);
    CHECK(result.error->line == 0);
    CHECK(contains(result.error->message, "is a directory"));
  }

  TEST_CASE("of several problems the one first in the file is reported") {
    // toml++ visits keys by name ("cluster" before "node"); the report follows the file.
    auto err = refused("[node]\nname = \"bad name\"\n[cluster]\nport = 70000\n", 2, "node.name");
    CHECK(contains(err.message, "bad name"));
  }

  TEST_CASE("the flow control section is read into the settings") {
    auto s = accepted(R"([flow]
monitor_interval_ms = 50
dispatch_lag_budget_ms = 20
critical_budget_ms = 80
critical_backlog_budget_us = 250
[flow.degrader]
enter = [0.5, 0.6, 0.8, 1.2]
exit_gap = 0.1
exit_utilization = 1.5
hold_ms = 2000
[flow.levels]
l1 = ["bulk"]
l2 = ["bulk"]
l3 = ["bulk", "best_effort"]
l4 = ["bulk", "best_effort", "interactive"]
)");
    CHECK(s.flow.monitor_interval_ms == 50);
    CHECK(s.flow.dispatch_lag_budget_ms == 20);
    CHECK(s.flow.critical_budget_ms == 80);
    CHECK(s.flow.critical_backlog_budget_us == 250);
    CHECK(accepted("").flow.critical_backlog_budget_us == 1000);
    refused("[flow]\ncritical_backlog_budget_us = -1\n", 2, "flow.critical_backlog_budget_us");
    CHECK(s.flow.enter[0] == doctest::Approx(0.5));
    CHECK(s.flow.enter[3] == doctest::Approx(1.2));
    CHECK(s.flow.exit_gap == doctest::Approx(0.1));
    CHECK(s.flow.exit_utilization == doctest::Approx(1.5));
    CHECK(accepted("").flow.exit_utilization == doctest::Approx(0.9));
    refused("[flow.degrader]\nexit_utilization = -0.1\n", 2, "flow.degrader.exit_utilization");
    refused("[flow.degrader]\nexit_utilization = \"high\"\n", 2, "flow.degrader.exit_utilization");
    CHECK(s.flow.hold_ms == 2000);
    CHECK(s.flow.sheds[1] == std::vector<std::string>{"bulk"});
    CHECK(s.flow.sheds[3].size() == 3);
  }

  TEST_CASE("mutual TLS needs all three files, each readable") {
    auto s = accepted("[cluster]\ntls_certificate = \"/dev/null\"\ntls_key = \"/dev/null\"\n"
                      "tls_ca = \"/dev/null\"\n");
    CHECK(s.tls_certificate == "/dev/null");
    CHECK(s.tls_ca == "/dev/null");
    CHECK(accepted("").tls_certificate.empty()); // plain TCP by default
    auto partial = refused("[cluster]\ntls_key = \"/dev/null\"\n", 2, "cluster.tls_key");
    CHECK(contains(partial.message, "needs all of"));
    auto missing = refused("[cluster]\ntls_ca = \"/nonexistent/ca.pem\"\n", 2, "cluster.tls_ca");
    CHECK(contains(missing.message, "cannot read"));
    refused("[cluster]\ntls_certificate = \"\"\n", 2, "cluster.tls_certificate");
  }

  TEST_CASE("node.max_throughput is read and range-checked") {
    CHECK(accepted("").max_throughput == 64);
    CHECK(accepted("[node]\nmax_throughput = 0\n").max_throughput == 0);
    refused("[node]\nmax_throughput = -5\n", 2, "node.max_throughput");
  }

  TEST_CASE("degrader entry points must be four ascending numbers") {
    refused("[flow.degrader]\nenter = [0.5, 0.4, 0.8, 1.0]\n", 2, "flow.degrader.enter");
    refused("[flow.degrader]\nenter = [0.5, 0.6]\n", 2, "flow.degrader.enter");
    refused("[flow.degrader]\nenter = [0.5, \"x\", 0.8, 1.0]\n", 2, "flow.degrader.enter");
    CHECK(accepted("[flow.degrader]\nenter = [1, 2, 3, 4]\n").flow.enter[3] == 4);
  }

  TEST_CASE("the exit gap must be a number below the first entry point") {
    refused("[flow.degrader]\nexit_gap = \"wide\"\n", 2, "flow.degrader.exit_gap");
    refused("[flow.degrader]\nexit_gap = 1.5\n", 2, "flow.degrader.exit_gap");
    auto err = refused("[flow.degrader]\nexit_gap = 0.7\n", 2, "flow.degrader.exit_gap");
    CHECK(contains(err.message, "must be below the first entry point"));
  }

  TEST_CASE("a level may not shed critical, an unknown class, or less than the level below") {
    refused("[flow.levels]\nl4 = [\"critical\"]\n", 2, "flow.levels.l4");
    refused("[flow.levels]\nl1 = [\"everything\"]\n", 2, "flow.levels.l1");
    refused("[flow.levels]\nl2 = \"bulk\"\n", 2, "flow.levels.l2");
    auto err =
        refused("[flow.levels]\nl1 = [\"bulk\"]\nl2 = [\"best_effort\"]\n", 3, "flow.levels.l2");
    CHECK(contains(err.message, "must shed bulk because l1 does"));
  }

  TEST_CASE("a section registered by a module is validated like the runtime's own") {
    struct widget_settings {
      uint32_t count = 3;
      bool shiny = false;
      std::string url;
      std::vector<std::string> names;
      uint32_t inner_ms = 10;
    };
    sv::config::section<widget_settings>{"widgets"}
        .integer("count", 1, 9, &widget_settings::count)
        .boolean("shiny", &widget_settings::shiny)
        .text("url",
              [](widget_settings& w, const std::string& v) -> std::string {
                if (v.empty()) {
                  return "must not be empty";
                }
                w.url = v;
                return {};
              })
        .strings("names", "widget names", &widget_settings::names)
        .integer("inner.wait_ms", 0, 100, &widget_settings::inner_ms, " ms")
        .add();
    // Defaults when absent, values when set, nested tables included.
    CHECK(accepted("").section<widget_settings>().count == 3);
    auto s = accepted(R"(
[widgets]
count = 7
shiny = true
url = "x"
names = ["a", "b"]
[widgets.inner]
wait_ms = 40
)");
    auto& w = s.section<widget_settings>();
    CHECK(w.count == 7);
    CHECK(w.shiny);
    CHECK(w.url == "x");
    CHECK(w.names == std::vector<std::string>{"a", "b"});
    CHECK(w.inner_ms == 40);
    // Each rule refuses with FILE:LINE: KEY.
    auto err = refused("[widgets]\ncount = 10\n", 2, "widgets.count");
    CHECK(err.message == "10 is out of range (1..9)");
    err = refused("[widgets]\ncount = \"7\"\n", 2, "widgets.count");
    CHECK(err.message == "expected an integer, got a string");
    refused("[widgets]\nshiny = 1\n", 2, "widgets.shiny");
    err = refused("[widgets]\nurl = \"\"\n", 2, "widgets.url");
    CHECK(err.message == "must not be empty");
    err = refused("[widgets]\nnames = [\"a\", 2]\n", 2, "widgets.names");
    CHECK(contains(err.message, "widget names"));
    err = refused("[widgets.inner]\nwait_ms = 101\n", 2, "widgets.inner.wait_ms");
    CHECK(err.message == "101 ms is out of range (0..100)");
    refused("[widgets]\ncolour = \"red\"\n", 2, "widgets.colour");
    refused("[widgets.outer]\nx = 1\n", 1, "widgets.outer");
    // An unregistered section is still unknown.
    refused("[gadgets]\nx = 1\n", 1, "gadgets");
  }

} // TEST_SUITE
