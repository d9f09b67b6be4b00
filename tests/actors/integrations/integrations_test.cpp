#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <thread>

#include "actors/integrations/hooks.hpp"
#include "doctest/doctest.h"
#include "runtime/metrics/registry.hpp"
#include "tests/support/http_partner.hpp"

using namespace std::chrono_literals;
using sv::integrations::breaker_state;
using sv::integrations::call_status;
using sv::integrations::hook_clock;

namespace {

using sv::test::partner;

sv::integrations::webhook_settings hook_at(const partner& p, std::chrono::milliseconds timeout) {
  sv::integrations::webhook_settings s;
  s.url = p.url();
  s.timeout = timeout;
  return s;
}

// Waits (bounded) for something another thread does.
template <class F>
bool within(std::chrono::milliseconds limit, F f) {
  auto until = hook_clock::now() + limit;
  while (!f()) {
    if (hook_clock::now() > until) {
      return false;
    }
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

// A blocking answer from an asynchronous API.
template <class T>
struct answer_slot {
  std::mutex mx;
  std::condition_variable cv;
  std::optional<T> value;
  void set(T v) {
    std::lock_guard<std::mutex> lock{mx};
    value = std::move(v);
    cv.notify_all();
  }
  T get() {
    std::unique_lock<std::mutex> lock{mx};
    REQUIRE(cv.wait_for(lock, 5s, [this] { return value.has_value(); }));
    return *value;
  }
};

bool entitled(sv::integrations::entitlements& e, const sv::integrations::entitlement_query& q) {
  answer_slot<bool> slot;
  if (auto now = e.check(q, [&](bool yes) { slot.set(yes); })) {
    return *now;
  }
  return slot.get();
}

sv::integrations::entitlement_query query(std::string user, uint32_t subscription = 2) {
  sv::integrations::entitlement_query q;
  q.user = std::move(user);
  q.content = "premiere-1";
  q.subscription = subscription;
  return q;
}

} // namespace

TEST_SUITE("actors.integrations") {
  TEST_CASE("the breaker opens after its threshold, lets one probe out later, closes on success") {
    sv::integrations::breaker_settings s;
    s.failure_threshold = 3;
    s.open_for = 1000ms;
    sv::integrations::circuit_breaker b{s};
    auto t0 = hook_clock::time_point{} + 1h;
    for (int i = 0; i < 2; ++i) {
      REQUIRE(b.allow(t0));
      b.on_failure(t0);
    }
    CHECK(b.state() == breaker_state::closed);
    b.on_success(); // a success resets the count
    for (int i = 0; i < 3; ++i) {
      REQUIRE(b.allow(t0));
      b.on_failure(t0);
    }
    CHECK(b.state() == breaker_state::open);
    CHECK(b.opened() == 1);
    CHECK_FALSE(b.allow(t0 + 999ms));
    CHECK(b.allow(t0 + 1000ms)); // the probe
    CHECK(b.state() == breaker_state::half_open);
    CHECK_FALSE(b.allow(t0 + 1001ms)); // one probe at a time
    b.on_failure(t0 + 1002ms);         // the probe failed: open again, for open_for
    CHECK(b.state() == breaker_state::open);
    CHECK(b.opened() == 2);
    CHECK_FALSE(b.allow(t0 + 2001ms));
    CHECK(b.allow(t0 + 2002ms));
    b.on_success();
    CHECK(b.state() == breaker_state::closed);
    CHECK(b.allow(t0 + 2003ms));
  }

  TEST_CASE("a call slower than its timeout is answered timed_out and its late result dropped") {
    sv::metrics::registry reg;
    auto s = sv::integrations::guarded("slow", 50ms);
    sv::integrations::hook_guard g{s, &reg};
    std::atomic<bool> go{false};
    std::string why;
    auto began = hook_clock::now();
    auto st = g.call_and_wait(
        [&] {
          within(5s, [&] { return go.load(); });
          return std::string{};
        },
        &why);
    auto waited = hook_clock::now() - began;
    CHECK(st == call_status::timed_out);
    CHECK(why == "no answer within 50 ms");
    CHECK(waited < 2s); // answered at the deadline, not when the work ended
    go = true;
    CHECK(within(5s, [&] { return g.late() == 1; }));
    CHECK(g.count(call_status::timed_out) == 1);
    CHECK(g.count(call_status::ok) == 0);
    auto text = reg.render();
    CHECK(text.find("sv_hook_calls_total{hook=\"slow\",outcome=\"timed_out\"} 1")
          != std::string::npos);
    CHECK(text.find("sv_hook_late_total{hook=\"slow\"} 1") != std::string::npos);
  }

  TEST_CASE("calls beyond the queue bound are refused at once, never queued") {
    auto s = sv::integrations::guarded("busy", 2000ms);
    s.threads = 1;
    s.max_queued = 1;
    sv::integrations::hook_guard g{s, nullptr};
    std::atomic<bool> go{false};
    std::atomic<int> started{0};
    std::atomic<int> answered{0};
    auto work = [&] {
      ++started;
      within(5s, [&] { return go.load(); });
      return std::string{};
    };
    g.call(work, [&](call_status, const std::string&) { ++answered; });
    REQUIRE(within(5s, [&] { return started.load() == 1; }));           // the thread is busy
    g.call(work, [&](call_status, const std::string&) { ++answered; }); // waits
    call_status third = call_status::ok;
    g.call(work, [&](call_status st, const std::string&) { third = st; });
    CHECK(third == call_status::queue_full);
    go = true;
    CHECK(within(5s, [&] { return answered.load() == 2; }));
    CHECK(g.count(call_status::ok) == 2);
    CHECK(g.count(call_status::queue_full) == 1);
  }

  TEST_CASE("entitlement over HTTP: the partner's answer, then the cache until the TTL") {
    partner p;
    p.answer(200, R"({"entitled": true, "plan": "gold"})"); // unknown fields are ignored
    sv::integrations::entitlement_settings s;
    s.ttl = 1h;
    sv::integrations::entitlements e{
        sv::integrations::entitlement_webhook(hook_at(p, s.guard.timeout)), s, nullptr};
    CHECK(entitled(e, query("alice")));
    REQUIRE(p.calls() == 1);
    auto req = p.request(0);
    CHECK(req.method == "POST");
    CHECK(req.path == "/hook");
    CHECK(req.body.find(R"("user":"alice")") != std::string::npos);
    CHECK(req.body.find(R"("content":"premiere-1")") != std::string::npos);
    CHECK(req.body.find(R"("subscription":2)") != std::string::npos);
    CHECK(e.cached(query("alice")) == std::optional<bool>{true});
    CHECK(entitled(e, query("alice")));
    CHECK(p.calls() == 1); // from the cache
    p.answer(200, R"({"entitled": false})");
    CHECK_FALSE(entitled(e, query("bob")));
    CHECK(p.calls() == 2);
    // Zero TTL: every check asks again.
    s.ttl = 0ms;
    s.denied_ttl = 0ms;
    sv::integrations::entitlements fresh{
        sv::integrations::entitlement_webhook(hook_at(p, s.guard.timeout)), s, nullptr};
    CHECK_FALSE(entitled(fresh, query("carol")));
    CHECK_FALSE(entitled(fresh, query("carol")));
    CHECK(p.calls() == 4);
  }

  TEST_CASE("entitlement when the partner fails: the last answer, else the configured default") {
    partner p;
    sv::integrations::entitlement_settings s;
    s.ttl = 0ms; // expired at once, but kept for fallbacks
    s.guard.breaker.failure_threshold = 100;
    sv::integrations::entitlements e{
        sv::integrations::entitlement_webhook(hook_at(p, s.guard.timeout)), s, nullptr};
    p.answer(200, R"({"entitled": true})");
    CHECK(entitled(e, query("alice")));
    p.answer(503, "{}");
    CHECK(entitled(e, query("alice"))); // the expired yes
    CHECK(entitled(e, query("dave")));  // nothing cached: allow_when_unavailable
    CHECK(e.guard().count(call_status::failed) == 2);
    CHECK(e.fallbacks() == 2);
    s.allow_when_unavailable = false;
    sv::integrations::entitlements strict{
        sv::integrations::entitlement_webhook(hook_at(p, s.guard.timeout)), s, nullptr};
    CHECK_FALSE(entitled(strict, query("dave")));
    // Not JSON: a failure too, not an answer.
    p.answer(200, "<html>oops</html>");
    CHECK_FALSE(entitled(strict, query("erin")));
    CHECK(strict.guard().count(call_status::failed) == 2);
  }

  TEST_CASE("entitlement with a partner that hangs: answered at the timeout, the breaker opens") {
    partner p;
    p.answer(200, R"({"entitled": false})");
    p.hold();
    sv::integrations::entitlement_settings s;
    s.guard.timeout = 100ms;
    s.guard.breaker.failure_threshold = 2;
    s.guard.breaker.open_for = 1h;
    // The HTTP limit is longer than the guard's: the guard's timeout decides.
    sv::integrations::entitlements e{sv::integrations::entitlement_webhook(hook_at(p, 2s)), s,
                                     nullptr};
    auto began = hook_clock::now();
    CHECK(entitled(e, query("frank"))); // the default (allow), not the partner's late "no"
    CHECK(hook_clock::now() - began < 3s);
    CHECK(entitled(e, query("grace")));
    CHECK(e.guard().count(call_status::timed_out) == 2);
    CHECK(e.guard().breaker() == breaker_state::open);
    CHECK(entitled(e, query("heidi"))); // not sent: the breaker is open
    CHECK(e.guard().count(call_status::breaker_open) == 1);
    p.release(); // the partner (one request at a time) now reads the two that were sent
    CHECK(within(5s, [&] { return p.calls() == 2; }));
    CHECK(within(5s, [&] { return e.guard().late() == 2; })); // dropped, not answered twice
    CHECK(p.calls() == 2);
  }

  TEST_CASE("recommendations: the partner's list, when shed or slow the last list, else the "
            "fallback") {
    partner p;
    p.answer(200, R"({"contentIds": ["a", "b", "c", "d"]})");
    std::atomic<bool> shed{false};
    sv::integrations::recommendation_settings s;
    s.guard.timeout = 100ms;
    s.fallback = {"popular-1", "popular-2"};
    sv::integrations::recommendations r{sv::integrations::recommendation_webhook(hook_at(p, 2s)), s,
                                        [&] { return shed.load(); }, nullptr};
    auto get = [&](std::string region) {
      sv::integrations::recommendation_query q;
      q.user = "u1";
      q.region = std::move(region);
      q.device = "tv";
      q.limit = 3;
      answer_slot<std::pair<std::vector<std::string>, bool>> slot;
      r.get(q, [&](std::vector<std::string> ids, bool fresh) {
        slot.set({std::move(ids), fresh});
      });
      return slot.get();
    };
    using list = std::vector<std::string>;
    CHECK(get("eu") == std::make_pair(list{"a", "b", "c"}, true)); // cut to the limit
    CHECK(p.request(0).body.find(R"("limit":3)") != std::string::npos);
    shed = true;
    CHECK(get("eu") == std::make_pair(list{"a", "b", "c"}, false)); // last list, no call
    CHECK(get("us") == std::make_pair(list{"popular-1", "popular-2"}, false));
    CHECK(p.calls() == 1);
    CHECK(r.guard().count(call_status::shed) == 2);
    shed = false;
    p.hold();
    CHECK(get("eu") == std::make_pair(list{"a", "b", "c"}, false)); // timed out: last list
    CHECK(r.guard().count(call_status::timed_out) == 1);
    CHECK(r.fallbacks() == 3);
  }

  TEST_CASE("ads: a decision from the partner, no ad when shed, failing or slow") {
    partner p;
    p.answer(200,
             R"({"adId": "ad-7", "mediaUrl": "https://ads.example/7.m3u8", "durationMs": 15000})");
    std::atomic<bool> shed{false};
    sv::integrations::ad_settings s;
    s.guard.timeout = 100ms;
    sv::integrations::ads a{sv::integrations::ad_webhook(hook_at(p, 2s)), s,
                            [&] { return shed.load(); }, nullptr};
    auto decide = [&] {
      sv::integrations::ad_query q;
      q.user = "u1";
      q.content = "premiere-1";
      q.slot = "midroll";
      answer_slot<std::optional<sv::integrations::ad_decision>> slot;
      a.decide(q, [&](std::optional<sv::integrations::ad_decision> d) { slot.set(std::move(d)); });
      return slot.get();
    };
    auto d = decide();
    REQUIRE(d.has_value());
    CHECK(d->ad_id == "ad-7");
    CHECK(d->media_url == "https://ads.example/7.m3u8");
    CHECK(d->duration_ms == 15000);
    CHECK(p.request(0).body.find(R"("slot":"midroll")") != std::string::npos);
    shed = true;
    CHECK_FALSE(decide().has_value());
    CHECK(p.calls() == 1);
    shed = false;
    p.answer(500, "{}");
    CHECK_FALSE(decide().has_value());
    p.answer(200, R"({"adId": ""})"); // the partner's "no ad"
    CHECK_FALSE(decide().has_value());
    p.hold();
    CHECK_FALSE(decide().has_value());
    CHECK(a.guard().count(call_status::failed) == 1);
    CHECK(a.guard().count(call_status::timed_out) == 1);
  }

  TEST_CASE("CDN purges go in deduplicated batches and are retried until the partner takes them") {
    partner p;
    p.then(503, "{}");
    p.then(503, "{}");
    sv::integrations::cdn_purge_settings s;
    s.batch = 3;
    s.linger = 20ms;
    s.backoff = 10ms;
    sv::integrations::cdn_purger c{sv::integrations::cdn_purge_webhook(hook_at(p, 2s)), s, nullptr};
    CHECK(c.purge({"content:1", "content:2", "content:1", "content:3", "content:4"}) == 0);
    REQUIRE(c.drain(5s));
    auto st = c.snapshot();
    CHECK(st.purged == 4); // content:1 once
    CHECK(st.retries == 2);
    CHECK(st.abandoned == 0);
    REQUIRE(p.calls() == 4); // 2 failures, then the batch of 3, then the last key
    CHECK(p.request(0).body == p.request(2).body); // the same batch again
    CHECK(p.request(2).body == R"({"keys":["content:1","content:2","content:3"]})");
    CHECK(p.request(3).body == R"({"keys":["content:4"]})");
  }

  TEST_CASE("CDN purges are bounded: given up after max_attempts, refused when the queue is full") {
    partner p;
    p.answer(400, "{}");
    sv::integrations::cdn_purge_settings s;
    s.batch = 10;
    s.linger = 1ms;
    s.backoff = 1ms;
    s.max_attempts = 3;
    s.max_pending = 2;
    s.guard.breaker.failure_threshold = 100;
    sv::metrics::registry reg;
    sv::integrations::cdn_purger c{sv::integrations::cdn_purge_webhook(hook_at(p, 2s)), s, &reg};
    CHECK(c.purge({"content:1", "content:2", "content:3"}) == 1);
    REQUIRE(c.drain(5s));
    auto st = c.snapshot();
    CHECK(st.dropped == 1);
    CHECK(st.abandoned == 2);
    CHECK(st.purged == 0);
    CHECK(p.calls() == 3);
    auto text = reg.render();
    CHECK(text.find("sv_cdn_purge_keys_total{result=\"abandoned\"} 2") != std::string::npos);
    CHECK(text.find("sv_cdn_purge_keys_total{result=\"dropped\"} 1") != std::string::npos);
  }

  TEST_CASE("CMS ingest applies each page in order and keeps its cursor across restarts") {
    partner p;
    p.respond([](const sv::metrics::http_request& r) -> sv::metrics::http_response {
      if (r.body == "{}") {
        return {200, "application/json", R"({"items": [{"id": "t1", "title": "One"},
                   {"id": "t2", "title": "Two"}], "nextCursor": "c2"})"};
      }
      if (r.body == R"({"cursor":"c2"})") {
        return {
            200, "application/json",
            R"({"items": [{"id": "bad"}, {"id": "t3", "title": "Three"}], "nextCursor": "c3"})"};
      }
      return {200, "application/json", R"({"items": [], "nextCursor": "c3"})"};
    });
    auto file = std::string{"integrations_test_cursor"};
    std::remove(file.c_str());
    std::mutex mx;
    std::vector<std::string> seen;
    std::atomic<int> refusals_left{1};
    sv::integrations::cms_settings s;
    s.poll = 10ms;
    s.cursor_file = file;
    auto apply = [&](const sv::content::metadata& m) {
      if (m.id() == "bad") {
        return sv::integrations::apply_result::rejected;
      }
      if (m.id() == "t3" && refusals_left.fetch_sub(1) > 0) {
        return sv::integrations::apply_result::try_later; // e.g. the catalog unavailable
      }
      std::lock_guard<std::mutex> lock{mx};
      seen.push_back(m.id() + "=" + m.title());
      return sv::integrations::apply_result::applied;
    };
    {
      sv::integrations::cms_ingest ingest{sv::integrations::cms_webhook(hook_at(p, 2s)), apply,
                                          [] { return true; }, s, nullptr};
      REQUIRE(within(5s, [&] { return ingest.snapshot().cursor == "c3"; }));
      auto st = ingest.snapshot();
      CHECK(st.applied == 3);
      CHECK(st.rejected == 2); // "bad" came twice: its page was polled again for t3
    }
    CHECK(seen == std::vector<std::string>{"t1=One", "t2=Two", "t3=Three"});
    CHECK(p.request(0).body == R"({})"); // the empty cursor: from the start
    CHECK(p.request(1).body == R"({"cursor":"c2"})");
    CHECK(p.request(2).body == R"({"cursor":"c2"})"); // again after try_later
    // A restart starts after the kept cursor; an inactive node does not poll.
    auto before = p.calls();
    std::atomic<bool> active{false};
    sv::integrations::cms_ingest again{sv::integrations::cms_webhook(hook_at(p, 2s)), apply,
                                       [&] { return active.load(); }, s, nullptr};
    CHECK(again.snapshot().cursor == "c3");
    active = true;
    again.poll_now();
    REQUIRE(within(5s, [&] { return p.calls() > before; }));
    CHECK(p.request(before).body == R"({"cursor":"c3"})");
    std::remove(file.c_str());
  }

  TEST_CASE("recommendations and ads: a timeout opens the breaker, then the fallback comes "
            "without a call") {
    partner p;
    p.hold();
    std::atomic<bool> shed{false};
    sv::integrations::recommendation_settings rs;
    rs.guard.timeout = 50ms;
    rs.guard.breaker.failure_threshold = 1;
    rs.guard.breaker.open_for = 1h;
    rs.fallback = {"popular-1"};
    sv::integrations::recommendations r{sv::integrations::recommendation_webhook(hook_at(p, 2s)),
                                        rs, [&] { return shed.load(); }, nullptr};
    sv::integrations::ad_settings as;
    as.guard = rs.guard;
    as.guard.name = "ads";
    sv::integrations::ads a{sv::integrations::ad_webhook(hook_at(p, 2s)), as,
                            [&] { return shed.load(); }, nullptr};
    for (int i = 0; i < 3; ++i) {
      answer_slot<std::vector<std::string>> ids;
      r.get({"u1", "eu", "tv", 5},
            [&](std::vector<std::string> v, bool) { ids.set(std::move(v)); });
      CHECK(ids.get() == std::vector<std::string>{"popular-1"});
      answer_slot<bool> got_ad;
      a.decide({},
               [&](std::optional<sv::integrations::ad_decision> d) { got_ad.set(d.has_value()); });
      CHECK_FALSE(got_ad.get());
    }
    CHECK(r.guard().count(call_status::timed_out) == 1);
    CHECK(r.guard().count(call_status::breaker_open) == 2);
    CHECK(r.guard().breaker() == breaker_state::open);
    CHECK(a.guard().count(call_status::timed_out) == 1);
    CHECK(a.guard().count(call_status::breaker_open) == 2);
    p.release();
    CHECK(within(5s, [&] { return p.calls() == 2; })); // one each: the rest never went out
    CHECK(p.calls() == 2);
  }

  TEST_CASE("CDN purges wait out an open breaker without using up attempts, then go through") {
    partner p;
    p.hold();
    sv::integrations::cdn_purge_settings s;
    s.linger = 1ms;
    s.backoff = 1ms;
    s.max_attempts = 2;
    s.guard.timeout = 50ms;
    s.guard.breaker.failure_threshold = 1;
    s.guard.breaker.open_for = 100ms;
    sv::integrations::cdn_purger c{sv::integrations::cdn_purge_webhook(hook_at(p, 2s)), s, nullptr};
    c.purge({"content:9"});
    REQUIRE(within(5s, [&] { return c.guard().count(call_status::breaker_open) >= 1; }));
    CHECK(c.guard().count(call_status::timed_out) == 1);
    CHECK(c.snapshot().abandoned == 0);
    CHECK(c.snapshot().pending == 1);
    p.release(); // the partner answers again: the probe after open_for takes the batch
    REQUIRE(c.drain(10s));
    CHECK(c.snapshot().purged == 1);
    CHECK(c.snapshot().abandoned == 0);
    CHECK(c.guard().breaker() == breaker_state::closed);
  }

  TEST_CASE("CMS polls that time out open the breaker and keep the cursor until the feed answers") {
    partner p;
    p.respond([](const sv::metrics::http_request& r) -> sv::metrics::http_response {
      if (r.body == "{}") {
        return {200, "application/json",
                R"({"items": [{"id": "t1", "title": "One"}], "nextCursor": "c1"})"};
      }
      return {200, "application/json", R"({"items": [], "nextCursor": "c1"})"};
    });
    p.hold();
    sv::integrations::cms_settings s;
    s.poll = 5ms;
    s.guard.timeout = 50ms;
    s.guard.breaker.failure_threshold = 1;
    s.guard.breaker.open_for = 100ms;
    std::atomic<int> applied{0};
    sv::integrations::cms_ingest ingest{sv::integrations::cms_webhook(hook_at(p, 2s)),
                                        [&](const sv::content::metadata&) {
                                          ++applied;
                                          return sv::integrations::apply_result::applied;
                                        },
                                        [] { return true; }, s, nullptr};
    REQUIRE(within(5s, [&] { return ingest.guard().count(call_status::breaker_open) >= 1; }));
    CHECK(ingest.guard().count(call_status::timed_out) == 1);
    CHECK(ingest.snapshot().cursor.empty());
    CHECK(applied == 0);
    p.release();
    REQUIRE(within(10s, [&] { return ingest.snapshot().cursor == "c1"; }));
    CHECK(applied == 1);
  }

  TEST_CASE("in-process defaults: entitlement by tier tag, a fixed list, no ads, no CDN") {
    sv::content::metadata m;
    m.set_id("t");
    CHECK(sv::integrations::required_tier(m) == 0);
    m.add_tags("drama");
    m.add_tags("tier:standard");
    CHECK(sv::integrations::required_tier(m) == 2);
    sv::integrations::entitlements e{sv::integrations::tier_entitlement(), {}, nullptr};
    auto q = query("ivan", 1);
    q.required = 2;
    CHECK_FALSE(entitled(e, q));
    q.subscription = 3;
    CHECK(entitled(e, q));
    // The in-process rule only computes: answered at once, no queue, no callback.
    bool called_back = false;
    auto now = e.check(query("judy", 3), [&](bool) { called_back = true; });
    CHECK(now == std::optional<bool>{true});
    CHECK_FALSE(called_back);
    CHECK(e.guard().count(call_status::ok) == 3);
    std::vector<std::string> ids;
    sv::integrations::recommendation_query rq;
    rq.limit = 1;
    CHECK(sv::integrations::static_recommendations({"x", "y"})->recommend(rq, ids).empty());
    CHECK(ids == std::vector<std::string>{"x"});
    sv::integrations::ad_decision d{"old", "", 1};
    CHECK(sv::integrations::no_ads()->decide({}, d).empty());
    CHECK(d.ad_id.empty());
    CHECK(sv::integrations::no_cdn()->purge({"content:t"}).empty());
    sv::integrations::pushed_cms feed;
    m.set_title("T");
    feed.push(m);
    sv::integrations::cms_page page;
    CHECK(feed.poll("", page).empty());
    CHECK(page.items.size() == 1);
    CHECK(feed.poll(page.next_cursor, page).empty());
    CHECK(page.items.empty());
    CHECK_FALSE(feed.poll("x1", page).empty());
  }

  TEST_CASE("the entitlement cache holds at most max_entries answers") {
    sv::integrations::entitlement_settings s;
    s.max_entries = 8;
    sv::integrations::entitlements e{sv::integrations::tier_entitlement(), s, nullptr};
    for (int i = 0; i < 20; ++i) {
      CHECK(entitled(e, query("user-" + std::to_string(i))));
    }
    int kept = 0;
    for (int i = 0; i < 20; ++i) {
      kept += e.cached(query("user-" + std::to_string(i))).has_value() ? 1 : 0;
    }
    CHECK(kept > 0);
    CHECK(kept <= 8);
    CHECK(e.cached(query("user-19")).has_value()); // the newest answer is kept
  }

  TEST_CASE("webhook URLs must be http or https with a host") {
    CHECK(sv::integrations::check_webhook_url("http://127.0.0.1:8080/purge").empty());
    CHECK(sv::integrations::check_webhook_url("https://billing.example/check").empty());
    CHECK_FALSE(sv::integrations::check_webhook_url("ftp://x/y").empty());
    CHECK_FALSE(sv::integrations::check_webhook_url("http://").empty());
    CHECK_FALSE(sv::integrations::check_webhook_url("billing.example").empty());
  }
}
