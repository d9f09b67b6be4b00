// The positions store: newer wins, appended then compacted, nothing lost across a restart.

#include "actors/media/watch_store.hpp"

#include <filesystem>
#include <string>

#include <doctest/doctest.h>

using sv::media::watch_entry;
using sv::media::watch_store;

namespace {

std::string fresh(const std::string& name) {
  auto dir = std::filesystem::path{"watch_store_test_data"} / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return (dir / "watch_state.db").string();
}

watch_entry at(const std::string& user, int64_t position, int64_t event_ms,
               const std::string& device = "tv") {
  return {user, "premiere-1", device, position, event_ms};
}

} // namespace

TEST_SUITE("actors.media") {
  TEST_CASE("the newer report wins, before and after compaction, whatever the order") {
    auto path = fresh("newer");
    watch_store s{path};
    REQUIRE(s.error().empty());
    CHECK(*s.record(at("u-1", 5000, 100)));
    CHECK_FALSE(*s.record(at("u-1", 1000, 50))); // older: changes nothing
    CHECK(s.get("u-1", "premiere-1")->position_ms == 5000);
    REQUIRE(s.compact());
    CHECK(s.pending() == 0);
    CHECK(s.get("u-1", "premiere-1")->position_ms == 5000);
    // Older than the compacted entry: taken into the log, loses at the next compaction.
    s.record(at("u-1", 2000, 60));
    CHECK(s.get("u-1", "premiere-1")->position_ms == 5000);
    REQUIRE(s.compact());
    CHECK(s.get("u-1", "premiere-1")->position_ms == 5000);
    // Same time: the device name decides, the same way everywhere.
    s.record(at("u-1", 7000, 100, "web"));
    CHECK(s.get("u-1", "premiere-1")->position_ms == 7000);
    CHECK_FALSE(s.get("u-2", "premiere-1"));
  }

  TEST_CASE("positions not compacted yet survive a crash, and a restart compacts them") {
    auto path = fresh("restart");
    {
      watch_store s{path, 1'000'000};
      REQUIRE(s.record_all({at("u-1", 1000, 10), at("u-2", 2000, 20), at("u-1", 3000, 30)}));
      CHECK(s.pending() == 2);
      // No destructor run (a crash): simulated by copying the files while open.
      std::filesystem::copy(std::filesystem::path{path}.parent_path(),
                            std::filesystem::path{path}.parent_path().string() + "-crash",
                            std::filesystem::copy_options::recursive
                                | std::filesystem::copy_options::overwrite_existing);
    }
    auto crashed = std::filesystem::path{path}.parent_path().string() + "-crash/watch_state.db";
    watch_store again{crashed};
    REQUIRE(again.error().empty());
    CHECK(again.pending() == 2);
    CHECK(again.get("u-1", "premiere-1")->position_ms == 3000);
    CHECK(again.get("u-2", "premiere-1")->position_ms == 2000);
    std::filesystem::remove_all(std::filesystem::path{crashed}.parent_path());
  }

  TEST_CASE("the store compacts by itself once enough positions are in memory") {
    auto path = fresh("auto");
    watch_store s{path, 3};
    REQUIRE(s.record_all({at("a", 1, 1), at("b", 1, 1)}));
    CHECK(s.pending() == 2);
    REQUIRE(s.record_all({at("c", 1, 1)}));
    CHECK(s.pending() == 0);
    CHECK(s.get("c", "premiere-1")->position_ms == 1);
  }
}
