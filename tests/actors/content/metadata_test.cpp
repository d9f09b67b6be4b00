// Content metadata validation and the catalog store (SQLite).

#include "actors/content/metadata.hpp"

#include <filesystem>
#include <string>

#include <doctest/doctest.h>

#include "actors/content/catalog_store.hpp"
#include "actors/content/view_cache.hpp"

using sv::content::apply_result;
using sv::content::catalog_store;
using sv::content::metadata;

namespace {

metadata sample(const std::string& id = "title-1", uint64_t version = 1) {
  metadata m;
  m.set_id(id);
  m.set_version(version);
  m.set_title("The Long Take");
  m.set_description("A film in one shot.");
  m.set_thumbnail_url("https://img.example.com/title-1.jpg");
  m.set_duration_s(5400);
  auto* r = m.add_renditions();
  r->set_id("1080p");
  r->set_codecs("avc1.640028,mp4a.40.2");
  r->set_width(1920);
  r->set_height(1080);
  r->set_bitrate_kbps(6000);
  r->set_average_bitrate_kbps(4500);
  r->set_frame_rate(25);
  r->set_ready(true);
  auto* a = m.add_renditions();
  a->set_id("audio-en");
  a->set_codecs("mp4a.40.2");
  a->set_bitrate_kbps(128);
  m.mutable_availability()->add_regions("eu-west");
  m.mutable_availability()->set_window_start_ms(1'700'000'000'000);
  m.mutable_availability()->set_window_end_ms(1'900'000'000'000);
  m.add_tags("drama");
  return m;
}

} // namespace

TEST_SUITE("actors.content") {
  TEST_CASE("well-formed metadata is accepted") {
    CHECK(sv::content::validate(sample()).empty());
    auto m = sample();
    m.clear_thumbnail_url();
    m.mutable_availability()->set_window_end_ms(0); // open-ended
    CHECK(sv::content::validate(m).empty());
  }

  TEST_CASE("each kind of bad metadata is refused with a reason naming the field") {
    struct bad_case {
      const char* what;
      void (*change)(metadata&);
      const char* reason;
    };
    const bad_case cases[] = {
        {"empty id", [](metadata& m) { m.clear_id(); }, "id: empty"},
        {"id with a space", [](metadata& m) { m.set_id("a b"); }, "id:"},
        {"empty title", [](metadata& m) { m.clear_title(); }, "title: empty"},
        {"huge title", [](metadata& m) { m.set_title(std::string(513, 'x')); }, "title:"},
        {"control character in the title", [](metadata& m) { m.set_title("a\nb"); }, "title:"},
        {"huge description",
         [](metadata& m) { m.set_description(std::string(16 * 1024 + 1, 'x')); }, "description"},
        {"thumbnail not http", [](metadata& m) { m.set_thumbnail_url("ftp://x/y.jpg"); },
         "thumbnail_url"},
        {"unknown codec", [](metadata& m) { m.mutable_renditions(0)->set_codecs("xvid.1"); },
         "unknown codec \"xvid.1\""},
        {"unknown second codec",
         [](metadata& m) { m.mutable_renditions(0)->set_codecs("avc1.640028,mp3"); },
         "unknown codec \"mp3\""},
        {"codec with junk",
         [](metadata& m) { m.mutable_renditions(0)->set_codecs("avc1.64 0028"); }, "codec"},
        {"no codecs", [](metadata& m) { m.mutable_renditions(0)->clear_codecs(); }, "no codecs"},
        {"zero bitrate", [](metadata& m) { m.mutable_renditions(0)->set_bitrate_kbps(0); },
         "bitrate_kbps"},
        {"absurd bitrate",
         [](metadata& m) { m.mutable_renditions(0)->set_bitrate_kbps(1'000'000); }, "bitrate"},
        {"average above peak",
         [](metadata& m) { m.mutable_renditions(0)->set_average_bitrate_kbps(9000); },
         "average_bitrate_kbps"},
        {"width without height", [](metadata& m) { m.mutable_renditions(0)->set_height(0); },
         "resolution"},
        {"duplicate rendition id", [](metadata& m) { m.mutable_renditions(1)->set_id("1080p"); },
         "duplicate id"},
        {"empty rendition id", [](metadata& m) { m.mutable_renditions(1)->clear_id(); },
         "rendition: id"},
        {"frame rate", [](metadata& m) { m.mutable_renditions(0)->set_frame_rate(1000); },
         "frame_rate"},
        {"window ends before it starts",
         [](metadata& m) { m.mutable_availability()->set_window_end_ms(1'600'000'000'000); },
         "window ends before it starts"},
        {"negative window", [](metadata& m) { m.mutable_availability()->set_window_start_ms(-1); },
         "negative window"},
        {"bad region", [](metadata& m) { m.mutable_availability()->add_regions("EU West"); },
         "region \"EU West\""},
        {"empty tag", [](metadata& m) { m.add_tags(""); }, "tags:"},
        {"too many tags",
         [](metadata& m) {
           for (int i = 0; i < 70; ++i) {
             m.add_tags("t");
           }
         },
         "tags: more than 64"},
        {"too many renditions",
         [](metadata& m) {
           for (int i = 0; i < 70; ++i) {
             auto* r = m.add_renditions();
             *r = m.renditions(0);
             r->set_id("r" + std::to_string(i));
           }
         },
         "renditions: more than 64"},
    };
    for (auto& c : cases) {
      INFO(c.what);
      auto m = sample();
      c.change(m);
      auto why = sv::content::validate(m);
      CHECK(why.find(c.reason) != std::string::npos);
    }
  }

  TEST_CASE("codec families are recognised with or without profile data") {
    CHECK(sv::content::known_codec("avc1.640028"));
    CHECK(sv::content::known_codec("hvc1.1.6.L93.B0"));
    CHECK(sv::content::known_codec("opus"));
    CHECK_FALSE(sv::content::known_codec("avc1."));
    CHECK_FALSE(sv::content::known_codec("h264"));
    CHECK_FALSE(sv::content::known_codec(""));
  }

  TEST_CASE("the catalog store keeps only newer versions and survives a reopen") {
    namespace fs = std::filesystem;
    auto dir = fs::path{"content_test_data"};
    fs::remove_all(dir);
    fs::create_directories(dir);
    auto path = (dir / "catalog.db").string();
    {
      catalog_store store{path};
      REQUIRE(store.error().empty());
      CHECK(store.apply(sample("a", 2)) == apply_result::applied);
      CHECK(store.apply(sample("a", 2)) == apply_result::stale); // a replay
      CHECK(store.apply(sample("a", 1)) == apply_result::stale); // an older one, late
      auto newer = sample("a", 3);
      newer.set_title("Director's Cut");
      CHECK(store.apply(newer) == apply_result::applied);
      CHECK(store.apply(sample("b", 1)) == apply_result::applied);
      CHECK(store.version_of("a") == 3);
      CHECK(store.version_of("nope") == 0);
      CHECK(store.size() == 2);
    }
    catalog_store reopened{path};
    REQUIRE(reopened.error().empty());
    auto a = reopened.get("a");
    REQUIRE(a.has_value());
    CHECK(a->version() == 3);
    CHECK(a->title() == "Director's Cut");
    CHECK(a->renditions_size() == 2);
    CHECK_FALSE(reopened.get("nope").has_value());
    auto all = reopened.load_all();
    REQUIRE(all.size() == 2);
    CHECK(all[0].value.id() == "a");
    CHECK(all[1].value.id() == "b");
  }

  TEST_CASE("a store that cannot be opened says why and refuses every write") {
    catalog_store store{"/nonexistent-dir/sub/catalog.db"};
    CHECK_FALSE(store.error().empty());
    CHECK(store.error().find("/nonexistent-dir/sub/catalog.db") != std::string::npos);
    CHECK_FALSE(store.apply(sample()).has_value());
    CHECK_FALSE(store.get("title-1").has_value());
    CHECK(store.version_of("title-1") == 0);
    CHECK(store.load_all().empty());
    CHECK(store.size() == 0);
  }
}

TEST_SUITE("actors.content") {
  TEST_CASE("a fill that read old data before an invalidation cannot re-insert it") {
    sv::content::view_cache cache;
    using sv::content::fill_result;
    CHECK(cache.fill("title-1", "v1 view", 1) == fill_result::stored);
    // A slow fill starts and reads version 1 ...
    // ... meanwhile version 2 is written and the invalidation arrives:
    CHECK(cache.invalidate("title-1", 2));
    CHECK(cache.get("title-1") == nullptr);
    CHECK(cache.fence("title-1") == 2);
    // ... then the slow fill completes with what it read: refused.
    CHECK(cache.fill("title-1", "v1 view", 1) == fill_result::stale);
    CHECK(cache.get("title-1") == nullptr);
    CHECK(cache.stale_fills() == 1);
    // A fill from version 2 is welcome, an equal or older repeat is not.
    CHECK(cache.fill("title-1", "v2 view", 2) == fill_result::stored);
    CHECK(cache.fill("title-1", "v2 again", 2) == fill_result::not_newer);
    REQUIRE(cache.get("title-1") != nullptr);
    CHECK(cache.get("title-1")->value == "v2 view");
    // An invalidation for a version the cache already has keeps the entry.
    CHECK_FALSE(cache.invalidate("title-1", 2));
    CHECK_FALSE(cache.invalidate("other", 5)); // nothing cached: only the fence moves
    CHECK(cache.fence("other") == 5);
    CHECK(cache.fence("never") == 0);
    CHECK(cache.size() == 1);
  }
}

TEST_SUITE("actors.content") {
  TEST_CASE("two contents with the same version end the same on every replica") {
    // Two owners during a view change assigned version 4 to different contents; replicas
    // receive them in either order and must keep the same one.
    auto x = sample("split", 4);
    x.set_title("From owner X");
    auto y = sample("split", 4);
    y.set_title("From owner Y");
    catalog_store first{":memory:"};
    catalog_store second{":memory:"};
    REQUIRE(first.apply(x).has_value());
    first.apply(y);
    REQUIRE(second.apply(y).has_value());
    second.apply(x);
    CHECK(first.get("split")->title() == second.get("split")->title());
    // The same content again changes nothing; a newer version still wins.
    auto kept = *first.get("split");
    CHECK(first.apply(kept) == apply_result::stale);
    CHECK(first.apply(sample("split", 5)) == apply_result::applied);
  }
}
