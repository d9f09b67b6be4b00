// Real-time windows against a brute-force computation over the same events: equal when
// nothing is sampled, within stated bounds when 1 in 4 sessions' heartbeats are kept.

#include "actors/analytics/realtime.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <doctest/doctest.h>

namespace {

using sv::analytics::realtime;
using sv::analytics::viewer_event;
using sv::analytics::window_stats;
namespace v1 = streamverse::v1;

constexpr int64_t now = 1'800'000'030'500; // ms

// `sessions` sessions of two titles in two regions over the last 70 s: a start each (with
// a startup time), heartbeats every 2 s carrying a bitrate and watch time, some rebuffers
// and errors. Seeded.
std::vector<viewer_event> traffic(size_t sessions, uint32_t seed) {
  std::mt19937 rng{seed};
  std::vector<viewer_event> out;
  for (size_t s = 0; s < sessions; ++s) {
    auto content = "title-" + std::to_string(rng() % 2);
    auto region = rng() % 2 == 0 ? "eu-west" : "us-east";
    auto begin = now - 70'000 + static_cast<int64_t>(rng() % 60'000);
    auto end = std::min(now, begin + 5'000 + static_cast<int64_t>(rng() % 40'000));
    auto base = [&](v1::ViewerEventType type, int64_t at) {
      viewer_event e;
      e.set_event_id("e" + std::to_string(out.size()));
      e.set_session_id("s" + std::to_string(seed) + "-" + std::to_string(s));
      e.set_user_id("u");
      e.set_content_id(content);
      e.set_region(region);
      e.set_type(type);
      e.set_timestamp_ms(at);
      return e;
    };
    auto start = base(v1::EVENT_START, begin);
    start.set_startup_ms(200 + static_cast<uint32_t>(rng() % 3000));
    out.push_back(start);
    for (auto t = begin + 2000; t <= end; t += 2000) {
      auto hb = base(v1::EVENT_HEARTBEAT, t);
      hb.set_bitrate_kbps(500 + static_cast<uint32_t>(rng() % 14'000));
      hb.set_watched_ms(2000);
      out.push_back(hb);
      if (rng() % 20 == 0) {
        auto rb = base(v1::EVENT_REBUFFER_END, t);
        rb.set_rebuffer_ms(100 + static_cast<uint32_t>(rng() % 900));
        out.push_back(rb);
      }
      if (rng() % 50 == 0) {
        out.push_back(base(v1::EVENT_ERROR, t));
      }
    }
  }
  return out;
}

// The same figures computed directly from the events.
window_stats brute(const std::vector<viewer_event>& events, const std::string& content,
                   const std::string& region, int64_t window_s) {
  window_stats w;
  auto now_s = now / 1000;
  std::set<std::string> sessions;
  sv::analytics::startup_histogram startup{};
  double errors = 0;
  double watched = 0;
  double rebuffer = 0;
  double with_bitrate = 0;
  for (auto& e : events) {
    auto at = e.timestamp_ms() / 1000;
    if (e.content_id() != content || e.region() != region || at <= now_s - window_s || at > now_s) {
      continue;
    }
    sessions.insert(e.session_id());
    w.events += 1;
    watched += e.watched_ms();
    if (e.type() == v1::EVENT_START) {
      ++w.starts;
      ++startup[sv::analytics::startup_bucket(e.startup_ms())];
    } else if (e.type() == v1::EVENT_REBUFFER_END) {
      rebuffer += e.rebuffer_ms();
    } else if (e.type() == v1::EVENT_ERROR) {
      errors += 1;
    }
    if (e.bitrate_kbps() > 0) {
      auto& b = sv::analytics::bitrate_bounds_kbps;
      w.bitrate_mix[static_cast<size_t>(std::lower_bound(b.begin(), b.end(), e.bitrate_kbps())
                                        - b.begin())] += 1;
      with_bitrate += 1;
    }
  }
  w.concurrent_viewers = static_cast<double>(sessions.size());
  w.startup_p50_ms = sv::analytics::startup_quantile(startup, 0.5);
  w.startup_p95_ms = sv::analytics::startup_quantile(startup, 0.95);
  w.rebuffer_ratio = rebuffer / (watched + rebuffer);
  w.error_rate = errors / w.events;
  for (auto& x : w.bitrate_mix) {
    x /= with_bitrate;
  }
  return w;
}

} // namespace

TEST_SUITE("actors.analytics") {
  TEST_CASE("unsampled windows equal a brute-force computation") {
    auto events = traffic(3000, 1);
    realtime rt;
    for (auto& e : events) {
      rt.add(e, 1, now);
    }
    for (auto window : {1, 10, 60}) {
      for (auto& [content, region] : rt.keys()) {
        CAPTURE(window);
        auto got = rt.query(content, region, std::chrono::seconds{window}, now);
        auto want = brute(events, content, region, window);
        CHECK(got.concurrent_viewers == want.concurrent_viewers);
        CHECK(got.events == want.events);
        CHECK(got.starts == want.starts);
        CHECK(got.startup_p50_ms == want.startup_p50_ms);
        CHECK(got.startup_p95_ms == want.startup_p95_ms);
        CHECK(got.rebuffer_ratio == doctest::Approx(want.rebuffer_ratio).epsilon(1e-12));
        CHECK(got.error_rate == doctest::Approx(want.error_rate).epsilon(1e-12));
        for (size_t b = 0; b < got.bitrate_mix.size(); ++b) {
          CHECK(got.bitrate_mix[b] == doctest::Approx(want.bitrate_mix[b]).epsilon(1e-12));
        }
      }
    }
    CHECK(rt.keys().size() == 4);
  }

  TEST_CASE("sampled windows stay within their error bounds") {
    // 1 in 4 sessions' heartbeats kept, 60,000 sessions (about 15,000 per title and region
    // in 60 s): the viewer estimate's relative standard error is sqrt(3 / 15000) = 1.4%; the
    // bound checked is 6% (over 4 standard errors), rates within 5% of themselves.
    auto events = traffic(60'000, 2);
    realtime rt;
    size_t passed = 0;
    for (auto& e : events) {
      if (realtime::keep_sampled(e, 4)) {
        rt.add(e, 4, now);
        ++passed;
      }
    }
    CHECK(passed < events.size() / 2); // sampling did drop most heartbeats
    for (auto& [content, region] : rt.keys()) {
      auto got = rt.query(content, region, std::chrono::seconds{60}, now);
      auto want = brute(events, content, region, 60);
      CAPTURE(content);
      CAPTURE(region);
      CHECK(std::abs(got.concurrent_viewers / want.concurrent_viewers - 1) < 0.06);
      CHECK(std::abs(got.events / want.events - 1) < 0.05);
      CHECK(std::abs(got.error_rate / want.error_rate - 1) < 0.05);
      CHECK(std::abs(got.rebuffer_ratio / want.rebuffer_ratio - 1) < 0.05);
      // Starts are never sampled: exact.
      CHECK(got.starts == want.starts);
      CHECK(got.startup_p50_ms == want.startup_p50_ms);
      CHECK(got.startup_p95_ms == want.startup_p95_ms);
    }
  }

  TEST_CASE("events older than the longest window only count in history") {
    realtime rt;
    viewer_event e;
    e.set_session_id("s");
    e.set_content_id("t");
    e.set_region("r");
    e.set_type(v1::EVENT_START);
    e.set_timestamp_ms(now - 61'000);
    rt.add(e, 1, now);
    CHECK(rt.query("t", "r", std::chrono::seconds{60}, now).events == 0);
    e.set_timestamp_ms(now - 59'000);
    rt.add(e, 1, now);
    CHECK(rt.query("t", "r", std::chrono::seconds{60}, now).events == 1);
    CHECK(rt.query("t", "r", std::chrono::seconds{10}, now).events == 0);
  }
}

TEST_CASE("real-time windows are bounded: idle pairs are dropped and new pairs beyond the "
          "bound are not counted") {
  realtime live;
  live.set_max_series(2);
  auto event = [](const std::string& content, int64_t at) {
    viewer_event e;
    e.set_event_id("e-" + content + std::to_string(at));
    e.set_session_id("s-1");
    e.set_user_id("u");
    e.set_content_id(content);
    e.set_region("eu-west");
    e.set_type(v1::EVENT_START);
    e.set_timestamp_ms(at);
    return e;
  };
  live.add(event("a", now), 1, now);
  live.add(event("b", now), 1, now);
  live.add(event("made-up", now), 1, now); // no room: not counted
  CHECK(live.series_count() == 2);
  CHECK(live.dropped_events() == 1);
  CHECK(live.query("made-up", "eu-west", std::chrono::seconds{60}, now).events == 0);
  CHECK(live.query("a", "eu-west", std::chrono::seconds{60}, now).events == 1);
  // A minute later "a" and "b" are idle: a new title gets their room.
  auto later = now + 61'000;
  live.add(event("c", later), 1, later);
  CHECK(live.series_count() == 1);
  CHECK(live.query("c", "eu-west", std::chrono::seconds{60}, later).events == 1);
  CHECK(live.dropped_events() == 1);
}
