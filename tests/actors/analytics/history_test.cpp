// The historical path: validation, exactly-once batches, rollups equal to a brute-force
// computation, recovery after the writing process is killed mid-batch, retention.

#include "actors/analytics/history_store.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <doctest/doctest.h>

namespace {

using sv::analytics::event_batch;
using sv::analytics::event_block;
using sv::analytics::history_store;
using sv::analytics::viewer_event;
namespace v1 = streamverse::v1;

constexpr int64_t now = 1'800'000'000'000; // a fixed "now" (ms)

viewer_event event(const std::string& id, v1::ViewerEventType type, int64_t at = now) {
  viewer_event e;
  e.set_event_id(id);
  e.set_session_id("s-" + id);
  e.set_user_id("u-1");
  e.set_content_id("premiere");
  e.set_region("eu-west");
  e.set_device("tv");
  e.set_type(type);
  e.set_timestamp_ms(at);
  return e;
}

std::string fresh_dir(const std::string& name) {
  auto dir = std::filesystem::path{"analytics_test_data"} / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return (dir / "history.db").string();
}

// Events over three minutes, four titles, two regions, every type; seeded.
std::vector<viewer_event> sample_events(size_t n, uint32_t seed) {
  std::mt19937 rng{seed};
  std::vector<viewer_event> out;
  const v1::ViewerEventType types[] = {
      v1::EVENT_START,        v1::EVENT_HEARTBEAT,      v1::EVENT_REBUFFER_START,
      v1::EVENT_REBUFFER_END, v1::EVENT_QUALITY_CHANGE, v1::EVENT_ERROR,
      v1::EVENT_STOP};
  for (size_t i = 0; i < n; ++i) {
    auto e = event("e" + std::to_string(seed) + "-" + std::to_string(i), types[rng() % 7],
                   now - 180'000 + static_cast<int64_t>(rng() % 180'000));
    e.set_content_id("title-" + std::to_string(rng() % 4));
    e.set_region(rng() % 2 == 0 ? "eu-west" : "us-east");
    e.set_startup_ms(static_cast<uint32_t>(rng() % 4000));
    e.set_rebuffer_ms(static_cast<uint32_t>(rng() % 3000));
    e.set_watched_ms(static_cast<uint32_t>(rng() % 10'000));
    out.push_back(e);
  }
  return out;
}

event_batch batch_of(const std::string& producer, uint64_t seq, std::vector<viewer_event> es) {
  event_batch b;
  b.set_producer_id(producer);
  b.set_sequence(seq);
  for (auto& e : es) {
    *b.add_events() = std::move(e);
  }
  return b;
}

// The store's rollups equal a brute-force computation over `events`.
void check_rollups(const history_store& h, const std::vector<viewer_event>& events) {
  struct expect {
    uint64_t views = 0, watch = 0, rebuffer = 0, errors = 0, events = 0;
    std::vector<uint32_t> startups;
  };
  std::map<std::tuple<int64_t, std::string, std::string>, expect> want;
  for (auto& e : events) {
    auto& x = want[{e.timestamp_ms() / 60'000 * 60'000, e.content_id(), e.region()}];
    ++x.events;
    x.watch += e.watched_ms();
    if (e.type() == v1::EVENT_START) {
      ++x.views;
      x.startups.push_back(e.startup_ms());
    } else if (e.type() == v1::EVENT_REBUFFER_END) {
      x.rebuffer += e.rebuffer_ms();
    } else if (e.type() == v1::EVENT_ERROR) {
      ++x.errors;
    }
  }
  auto bucket_bound = [](std::vector<uint32_t> v, double q) -> uint32_t {
    if (v.empty()) {
      return 0;
    }
    std::sort(v.begin(), v.end());
    auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
    auto value = v[std::max<size_t>(rank, 1) - 1];
    auto& b = sv::analytics::startup_bounds_ms;
    auto i = std::lower_bound(b.begin(), b.end(), value);
    return i == b.end() ? 2 * b.back() : *i;
  };
  auto rows = h.rollups();
  REQUIRE(rows.size() == want.size());
  for (auto& r : rows) {
    auto& x = want[{r.minute_ms, r.content, r.region}];
    CHECK(r.views == x.views);
    CHECK(r.watch_ms == x.watch);
    CHECK(r.rebuffer_ms == x.rebuffer);
    CHECK(r.errors == x.errors);
    CHECK(r.events == x.events);
    CHECK(r.startup_p50_ms == bucket_bound(x.startups, 0.5));
    CHECK(r.startup_p95_ms == bucket_bound(x.startups, 0.95));
  }
}

} // namespace

TEST_SUITE("actors.analytics") {
  TEST_CASE("bad events are refused with the field at fault") {
    using sv::analytics::validate;
    CHECK(validate(event("a", v1::EVENT_START), now).empty());
    auto unknown = event("a", v1::EVENT_START);
    unknown.set_type(static_cast<v1::ViewerEventType>(9));
    CHECK(validate(unknown, now).rfind("type:", 0) == 0);
    CHECK(validate(event("a", v1::EVENT_UNKNOWN), now).rfind("type:", 0) == 0);
    CHECK(validate(event("a", v1::EVENT_START, now + 301'000), now).rfind("timestamp_ms:", 0) == 0);
    CHECK(validate(event("a", v1::EVENT_START, now - 301'000), now).rfind("timestamp_ms:", 0) == 0);
    CHECK(validate(event("a", v1::EVENT_START, now + 299'000), now).empty());
    auto no_session = event("a", v1::EVENT_START);
    no_session.clear_session_id();
    CHECK(validate(no_session, now) == "session_id: missing");
    CHECK(validate(event("", v1::EVENT_START), now) == "event_id: missing");
    auto long_region = event("a", v1::EVENT_START);
    long_region.set_region(std::string(129, 'r'));
    CHECK(validate(long_region, now) == "region: longer than 128 bytes");
  }

  TEST_CASE("a batch is stored once however often it is sent, and bad events never") {
    auto path = fresh_dir("once");
    auto good = sample_events(50, 1);
    auto mixed = good;
    mixed.push_back(event("late", v1::EVENT_START, now - 3'600'000));
    mixed.push_back(event("", v1::EVENT_HEARTBEAT));
    {
      history_store h{path};
      REQUIRE(h.error().empty());
      auto r = h.append(batch_of("node-a#1", 7, mixed), now);
      REQUIRE(r);
      CHECK_FALSE(r->duplicate);
      CHECK(r->stored == 50);
      CHECK(r->refused == 2);
      CHECK(r->refused_by_field["timestamp_ms"] == 1);
      CHECK(r->refused_by_field["event_id"] == 1);
      auto again = h.append(batch_of("node-a#1", 7, mixed), now);
      REQUIRE(again);
      CHECK(again->duplicate);
      CHECK(again->stored == 0);
      CHECK(h.event_count() == 50);
      // Another producer's batch with the same sequence is a different batch.
      REQUIRE(h.append(batch_of("node-b#1", 7, sample_events(5, 2)), now));
      CHECK(h.event_count() == 55);
    }
    history_store reopened{path};
    CHECK(reopened.has_batch("node-a#1", 7));
    REQUIRE(reopened.append(batch_of("node-a#1", 7, mixed), now)->duplicate);
    CHECK(reopened.event_count() == 55);
    CHECK(reopened.batch_count() == 2);
  }

  TEST_CASE("per-minute rollups equal a brute-force computation over the same events") {
    auto path = fresh_dir("rollups");
    auto events = sample_events(3000, 3);
    history_store h{path};
    for (size_t i = 0; i < events.size(); i += 250) {
      std::vector<viewer_event> part(events.begin() + static_cast<std::ptrdiff_t>(i),
                                     events.begin() + static_cast<std::ptrdiff_t>(i + 250));
      REQUIRE(h.append(batch_of("p", i / 250 + 1, part), now));
      if (i == 1500) {
        REQUIRE(h.flush_rollups()); // rows written in two steps add up
      }
    }
    REQUIRE(h.flush_rollups());
    check_rollups(h, events);
  }

  TEST_CASE("a read-only store reads every event, changes nothing and refuses writes") {
    auto path = fresh_dir("read-only");
    auto events = sample_events(10, 5);
    {
      history_store h{path};
      REQUIRE(h.append(batch_of("p", 1, events), now));
    }
    sv::analytics::history_settings ro;
    ro.read_only = true;
    history_store r{path, ro};
    REQUIRE(r.error().empty());
    CHECK(r.read_all().size() == events.size());
    CHECK(r.batch_count() == 1);
    CHECK_FALSE(r.append(batch_of("p", 2, events), now));
    history_store missing{path + ".nothing-here", ro};
    CHECK_FALSE(missing.error().empty());
    CHECK_FALSE(std::filesystem::exists(path + ".nothing-here"));
  }

  TEST_CASE("batches held for another region go there once, only they are released here, "
            "and survive a reopen") {
    auto holder_path = fresh_dir("away-holder");
    auto home_path = fresh_dir("away-home");
    auto events = sample_events(1200, 11);
    std::vector<event_block> blocks;
    {
      history_store holder{holder_path};
      for (size_t i = 0; i < events.size(); i += 200) {
        auto b = sv::analytics::to_block(
            batch_of("edge", i / 200 + 1,
                     {events.begin() + static_cast<std::ptrdiff_t>(i),
                      events.begin() + static_cast<std::ptrdiff_t>(i + 200)}));
        // Batches 2 and 5 are held for eu-west, 4 for ap-south; the others are at home.
        auto seq = i / 200 + 1;
        b.set_home_region(seq == 2 || seq == 5 ? "eu-west" : seq == 4 ? "ap-south" : "");
        blocks.push_back(b);
        REQUIRE(holder.append(b, now));
      }
      CHECK(holder.away() == std::map<std::string, uint64_t>{{"ap-south", 1}, {"eu-west", 2}});
    }
    history_store holder{holder_path}; // the home column is durable
    REQUIRE(holder.error().empty());
    CHECK(holder.away() == std::map<std::string, uint64_t>{{"ap-south", 1}, {"eu-west", 2}});
    CHECK(holder.batches_of_home("", 10, size_t{1} << 20).empty());
    auto page = holder.batches_of_home("eu-west", 10, size_t{1} << 20);
    REQUIRE(page.size() == 2);
    CHECK(page[0].second.sequence() == 2);
    CHECK(page[1].second.sequence() == 5);
    CHECK(page[0].second.home_region() == "eu-west");
    // The home region's store had batch 5 already (its acknowledgement was lost).
    history_store home{home_path};
    auto five = blocks[4];
    five.clear_home_region();
    REQUIRE(home.append(five, now));
    std::vector<event_block> given;
    for (auto& [id, b] : page) {
      b.clear_home_region(); // as the home region's service does
      given.push_back(b);
    }
    CHECK(*home.adopt(given, now) == 1);
    CHECK(home.away().empty());
    // Released at the holder up to the page's last row: only eu-west's, although batches 3
    // and 4 have smaller row ids.
    auto released = holder.release_home("eu-west", page.back().first);
    REQUIRE(released);
    CHECK(*released == 2);
    CHECK(holder.batch_count() == 4);
    CHECK(holder.away() == std::map<std::string, uint64_t>{{"ap-south", 1}});
    CHECK(*holder.release_home("", 1'000'000) == 0); // "" is never away
    // Rollups exact on both sides.
    REQUIRE(holder.flush_rollups());
    REQUIRE(home.flush_rollups());
    std::vector<viewer_event> kept;
    std::vector<viewer_event> moved;
    for (size_t i = 0; i < events.size(); ++i) {
      auto seq = i / 200 + 1;
      (seq == 2 || seq == 5 ? moved : kept).push_back(events[i]);
    }
    check_rollups(holder, kept);
    check_rollups(home, moved);
    // The in-region handoff's pages carry the home region along.
    auto all = holder.batches_after(0, 10, size_t{1} << 20);
    REQUIRE(all.size() == 4);
    CHECK(all[2].second.home_region() == "ap-south");
  }

  TEST_CASE("a title's rollups over a range of minutes, with their startup histograms") {
    auto path = fresh_dir("range");
    auto events = sample_events(2000, 13);
    history_store h{path};
    REQUIRE(h.append(batch_of("p", 1, events), now));
    REQUIRE(h.flush_rollups());
    auto from = (now - 120'000) / 60'000 * 60'000;
    auto rows = h.rollups("title-2", from, from + 60'000);
    REQUIRE_FALSE(rows.empty());
    uint64_t want = 0;
    for (auto& e : events) {
      want += e.content_id() == "title-2" && e.timestamp_ms() >= from
                      && e.timestamp_ms() < from + 60'000
                  ? 1
                  : 0;
    }
    uint64_t got = 0;
    for (auto& r : rows) {
      CHECK(r.content == "title-2");
      CHECK(r.minute_ms == from);
      got += r.events;
      uint64_t starts = 0;
      for (auto n : r.startup) {
        starts += n;
      }
      CHECK(starts == r.views);
      CHECK(sv::analytics::startup_quantile(r.startup, 0.5) == r.startup_p50_ms);
    }
    CHECK(got == want);
    CHECK(h.rollups("title-2", from, from).empty());
    CHECK(h.rollups("no-such-title", 0, now * 2).empty());
  }

  TEST_CASE("handing batches to a partition's owner: each once there, rollups exact on both") {
    auto giver_path = fresh_dir("giver");
    auto owner_path = fresh_dir("owner");
    auto events = sample_events(3000, 5);
    history_store giver{giver_path};
    history_store owner{owner_path};
    std::vector<event_batch> batches;
    for (size_t i = 0; i < events.size(); i += 250) {
      batches.push_back(batch_of("p", i / 250 + 1,
                                 {events.begin() + static_cast<std::ptrdiff_t>(i),
                                  events.begin() + static_cast<std::ptrdiff_t>(i + 250)}));
      REQUIRE(giver.append(batches.back(), now));
    }
    // Batch 3 reached the owner too (its acknowledgement from the giver was lost).
    REQUIRE(owner.append(batches[2], now));
    // A first page: 5 batches, then deleted at the giver.
    auto page = giver.batches_after(0, 5, size_t{1} << 20);
    REQUIRE(page.size() == 5);
    std::vector<event_block> first;
    for (auto& [id, b] : page) {
      first.push_back(b);
    }
    auto adopted = owner.adopt(first, now);
    REQUIRE(adopted);
    CHECK(*adopted == 4); // batch 3 was there
    auto released = giver.release(page.back().first);
    REQUIRE(released);
    CHECK(*released == 5);
    CHECK(giver.batch_count() == 7);
    REQUIRE(giver.flush_rollups());
    check_rollups(giver, {events.begin() + 1250, events.end()});
    // Adopting the same page again (a crash before the release) changes nothing.
    CHECK(*owner.adopt(first, now) == 0);
    // The rest, in pages limited by bytes (at least one batch each).
    int pages = 0;
    for (auto rest = giver.batches_after(0, 100, 1); !rest.empty() && pages < 20;
         rest = giver.batches_after(0, 100, 1), ++pages) {
      CHECK(rest.size() == 1);
      REQUIRE(owner.adopt({rest.front().second}, now));
      REQUIRE(giver.release(rest.back().first));
    }
    CHECK(pages == 7);
    CHECK(giver.batch_count() == 0);
    CHECK(giver.rollups().empty());
    CHECK(owner.batch_count() == 12);
    CHECK(owner.event_count() == 3000);
    REQUIRE(owner.flush_rollups());
    check_rollups(owner, events);
    // Adopted batches are known by producer and sequence: a resend is a duplicate.
    CHECK(owner.append(batches[7], now)->duplicate);
  }

  TEST_CASE("after SIGKILL mid-write every acknowledged event is stored exactly once") {
    auto path = fresh_dir("kill");
    int acks[2];
    REQUIRE(::pipe(acks) == 0);
    auto child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      ::close(acks[0]);
      history_store h{path};
      for (uint64_t seq = 1; seq < 100'000; ++seq) {
        if (!h.append(batch_of("writer", seq, sample_events(200, static_cast<uint32_t>(seq))),
                      now)) {
          ::_exit(3);
        }
        // Acknowledged only now that the append returned (durable).
        if (::write(acks[1], &seq, sizeof(seq)) != sizeof(seq)) {
          ::_exit(4);
        }
      }
      ::_exit(0);
    }
    ::close(acks[1]);
    std::set<uint64_t> acked;
    uint64_t seq = 0;
    while (acked.size() < 40 && ::read(acks[0], &seq, sizeof(seq)) == sizeof(seq)) {
      acked.insert(seq);
    }
    ::kill(child, SIGKILL);
    while (::read(acks[0], &seq, sizeof(seq)) == sizeof(seq)) {
      acked.insert(seq); // sent before the kill landed
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    ::close(acks[0]);
    REQUIRE(WIFSIGNALED(status));
    REQUIRE(acked.size() >= 40);

    history_store h{path};
    REQUIRE(h.error().empty());
    for (auto s : acked) {
      CHECK(h.has_batch("writer", s));
    }
    auto all = h.read_all();
    std::set<std::string> ids;
    for (auto& e : all) {
      ids.insert(e.event_id());
    }
    CHECK(ids.size() == all.size()); // no event twice
    CHECK(all.size() >= acked.size() * 200);
    CHECK(all.size() == h.batch_count() * 200); // only whole batches
    // The rollups cover every stored event once (those the killed writer had not flushed
    // were rolled up again on open).
    uint64_t rolled = 0;
    for (auto& r : h.rollups()) {
      rolled += r.events;
    }
    CHECK(rolled == all.size());
  }

  TEST_CASE("retention deletes old batches and rollups") {
    auto path = fresh_dir("retention");
    sv::analytics::history_settings s;
    s.retention_ms = 3'600'000;
    history_store h{path, s};
    REQUIRE(h.append(batch_of("p", 1, {event("old", v1::EVENT_START, now)}), now));
    REQUIRE(h.append(batch_of("p", 2, {event("new", v1::EVENT_START, now + 7'200'000)}),
                     now + 7'200'000));
    CHECK(h.purge(now + 7'200'000) == 1);
    CHECK(h.batch_count() == 1);
    CHECK(h.rollups().size() == 1);
    CHECK(h.read_all().front().event_id() == "new");
  }
}
