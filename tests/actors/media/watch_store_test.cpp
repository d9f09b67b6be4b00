// The positions store: newer wins, appended then compacted, nothing lost across a restart.

#include "actors/media/watch_store.hpp"

#include <filesystem>
#include <string>

#include <doctest/doctest.h>
#include <sqlite3.h>

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
      auto u2 = at("u-2", 2000, 20);
      u2.region = "ap-south";
      REQUIRE(s.record_all({at("u-1", 1000, 10), u2, at("u-1", 3000, 30)}));
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
    CHECK(again.get("u-2", "premiere-1")->region == "ap-south"); // from the log
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

  TEST_CASE("each position keeps its user's home region, also in a store made before regions") {
    auto path = fresh("region");
    {
      // The tables as an earlier build made them, with a row in each.
      sqlite3* db = nullptr;
      REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
      REQUIRE(
          sqlite3_exec(db,
                       "CREATE TABLE positions (user TEXT NOT NULL, content TEXT NOT NULL,"
                       " position_ms INTEGER NOT NULL, event_ms INTEGER NOT NULL,"
                       " device TEXT NOT NULL, PRIMARY KEY (user, content)) WITHOUT ROWID;"
                       "CREATE TABLE position_log (id INTEGER PRIMARY KEY, user TEXT NOT NULL,"
                       " content TEXT NOT NULL, position_ms INTEGER NOT NULL,"
                       " event_ms INTEGER NOT NULL, device TEXT NOT NULL);"
                       "INSERT INTO positions VALUES ('old', 'premiere-1', 100, 1, 'tv');"
                       "INSERT INTO position_log VALUES (1, 'logged', 'premiere-1', 200, 2, 'tv');",
                       nullptr, nullptr, nullptr)
          == SQLITE_OK);
      sqlite3_close(db);
    }
    {
      watch_store s{path, 1'000'000};
      REQUIRE(s.error().empty());
      CHECK(s.get("old", "premiere-1")->position_ms == 100);
      CHECK(s.get("old", "premiere-1")->region.empty()); // not known: the node's region
      CHECK(s.get("logged", "premiere-1")->position_ms == 200);
      auto eu = at("eu", 300, 3);
      eu.region = "eu-west";
      auto us = at("us", 400, 4);
      us.region = "us-east";
      REQUIRE(s.record_all({eu, us}));
      CHECK(s.get("eu", "premiere-1")->region == "eu-west"); // in memory, and in the log
    }
    watch_store again{path, 1'000'000};
    REQUIRE(again.error().empty());
    CHECK(again.get("eu", "premiere-1")->region == "eu-west"); // compacted at the close
    auto all = again.all();
    REQUIRE(all);
    CHECK(all->size() == 4);
    for (auto& e : *all) {
      CHECK(e.region == (e.user == "eu" ? "eu-west" : e.user == "us" ? "us-east" : ""));
    }
  }
}
