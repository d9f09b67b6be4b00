// The media service on a node: session opens through the gateway are verified against the
// catalog (each refusal reason comes back to the client as its error code); master
// playlists come through the cache, capped by level and device, and a metadata update
// invalidates them. One node in-process on loopback; every wait is bounded.

#include "actors/media/media_service.hpp"

#include <chrono>
#include <filesystem>
#include <string>

#include <doctest/doctest.h>

#include "tests/support/eventually.hpp"
#include "tests/support/test_nodes.hpp"

#include "actors/cache/cache.hpp"
#include "actors/content/catalog.hpp"
#include "actors/content/content_types.hpp"
#include "actors/media/media_errc.hpp"
#include "actors/session/session_gateway.hpp"
#include "actors/session/session_service.hpp"
#include "caf/scoped_actor.hpp"
#include "runtime/node/node.hpp"
#include "runtime/wire/errc.hpp"
#include "runtime/wire/protobuf.hpp"
#include "tests/support/gateway_call.hpp"

extern "C" const char* __asan_default_options() {
  // Same CAF 0.17.6 BASP shutdown cycle as in the catalog test (see there).
  return "detect_leaks=0";
}

namespace {

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

sv::content::metadata title(const std::string& id) {
  sv::content::metadata m;
  m.set_id(id);
  m.set_title("Title " + id);
  for (auto [name, h, kbps] : {std::tuple{"1080p", 1080u, 6000u}, std::tuple{"720p", 720u, 3000u},
                               std::tuple{"360p", 360u, 800u}}) {
    auto* r = m.add_renditions();
    r->set_id(name);
    r->set_codecs("avc1.640028,mp4a.40.2");
    r->set_width(h * 16 / 9);
    r->set_height(h);
    r->set_bitrate_kbps(kbps);
    r->set_average_bitrate_kbps(kbps * 3 / 4);
    r->set_frame_rate(25);
    r->set_ready(true);
  }
  m.mutable_availability()->add_regions("eu-west");
  return m;
}

size_t streams(const std::string& playlist) {
  size_t n = 0;
  for (size_t i = playlist.find("#EXT-X-STREAM-INF"); i != std::string::npos;
       i = playlist.find("#EXT-X-STREAM-INF", i + 1)) {
    ++n;
  }
  return n;
}

} // namespace

TEST_SUITE("actors.media") {
  TEST_CASE("opens are verified with a reason, playlists are cached and follow the metadata") {
    auto dir = std::string{"media_test_data"};
    std::filesystem::remove_all(dir);
    auto s = sv::test::fast_node_settings("node-a", dir + "/node-a");
    s.flow.dispatch_lag_budget_ms = 60'000; // no degradation: the level is set per call
    s.flow.critical_budget_ms = 60'000;
    sv::node n{s,
               {sv::content::register_message_types, sv::cache::register_message_types,
                sv::session::register_message_types}};
    REQUIRE(n.start().empty());
    {
      sv::content::catalog catalog{n};
      sv::cache::cache cache{n};
      cache.follow(catalog);
      sv::media::media_service media{n, catalog, cache};
      sv::session::service sessions{n};
      sv::session::gateway gateway{n, sessions, media.verifier()};

      REQUIRE(catalog.update(title("open-1")));
      auto later = title("later-1");
      later.mutable_availability()->set_window_start_ms(wall_ms() + 3'600'000);
      REQUIRE(catalog.update(later));
      auto unpackaged = title("raw-1");
      for (auto& r : *unpackaged.mutable_renditions()) {
        r.set_ready(false);
      }
      REQUIRE(catalog.update(unpackaged));

      caf::scoped_actor self{n.system()};
      auto open = [&](uint64_t id, const std::string& content, const std::string& region) {
        sv::session::open_request r;
        r.session_id = id;
        r.user = "u-1";
        r.content = content;
        r.device = "tv";
        r.region = region;
        return sv::test::open_through(self, gateway, r);
      };
      auto first = open(1, "open-1", "eu-west");
      CHECK_MESSAGE(!first, n.system().render(first));
      CHECK(sessions.info(1)); // opened
      CHECK(sv::is(open(2, "open-1", "ap-south"), sv::media::refusal::not_in_region));
      CHECK(sv::is(open(3, "later-1", "eu-west"), sv::media::refusal::outside_window));
      CHECK(sv::is(open(4, "raw-1", "eu-west"), sv::media::refusal::no_ready_rendition));
      CHECK(sv::is(open(5, "nothing-1", "eu-west"), sv::errc::not_found));
      CHECK_FALSE(sessions.info(2)); // refused opens opened nothing
      CHECK_FALSE(sessions.info(5));

      auto full = media.master_playlist("open-1", "tv", 0);
      REQUIRE(full);
      CHECK(streams(*full) == 3);
      CHECK(streams(*media.master_playlist("open-1", "tv", 2)) == 2);
      CHECK(streams(*media.master_playlist("open-1", "mobile", 0)) == 2);
      CHECK(streams(*media.master_playlist("open-1", "tv", 4)) == 1);
      CHECK(sv::is(media.master_playlist("raw-1", "tv", 0).error(),
                   sv::media::refusal::no_ready_rendition));
      CHECK(sv::is(media.master_playlist("nothing-1", "tv", 0).error(), sv::errc::not_found));
      // Served from the cache now: a second read does not go to the catalog.
      auto loads = cache.stats().origin_fetches;
      REQUIRE(media.master_playlist("open-1", "tv", 0));
      CHECK(cache.stats().origin_fetches == loads);
      // A new rendition in the metadata: the cached playlist is invalidated and the next
      // read has it.
      auto more = title("open-1");
      auto* r = more.add_renditions();
      *r = more.renditions(2);
      r->set_id("540p");
      r->set_height(540);
      r->set_width(960);
      r->set_bitrate_kbps(1800);
      REQUIRE(catalog.update(more));
      CHECK(sv::test::eventually([&] {
        auto p = media.master_playlist("open-1", "tv", 0);
        return p && streams(*p) == 4 && p->find("540p/index.m3u8") != std::string::npos;
      }));
    }
    n.stop();
    std::filesystem::remove_all(dir);
  }
}
