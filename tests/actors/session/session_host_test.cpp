// A session host on the deterministic scheduler: lifecycle, validation, idle timeout.

#include "actors/session/session_host.hpp"

#include <string>

#include "actors/media/media_errc.hpp"
#include "actors/session/session_errc.hpp"
#include "runtime/flow/load_cell.hpp"
#include "runtime/testkit/testkit.hpp"

using namespace std::chrono_literals;
using namespace sv::session;

namespace {

open_request viewer(uint64_t id, std::string user = "alice") {
  open_request r;
  r.session_id = id;
  r.user = std::move(user);
  r.content = "title-42";
  r.device = "tv";
  r.region = "eu-west";
  r.subscription = static_cast<uint8_t>(tier::premium);
  return r;
}

heartbeat_report beat(uint64_t id, int64_t position_ms, int64_t bitrate_kbps = 4500) {
  heartbeat_report h;
  h.session_id = id;
  h.position_ms = position_ms;
  h.bitrate_kbps = bitrate_kbps;
  h.buffer_ms = 8000;
  h.dropped_frames = 3;
  return h;
}

struct host_fixture : sv::testkit::fixture {
  std::shared_ptr<sv::flow::load_cell> cell = std::make_shared<sv::flow::load_cell>();
  host_actor host;
  host_settings settings;

  host_fixture() {
    settings.idle_timeout = 30s;
  }

  void spawn_host() {
    host = spawn_session_host(sys, settings, cell);
  }

  ~host_fixture() {
    if (host) {
      caf::anon_send_exit(caf::actor_cast<caf::actor>(host), caf::exit_reason::user_shutdown);
      sched.run();
    }
  }

  // Sends `x` and returns the host's error, or none when it answered with a value.
  template <class T>
  caf::error ask(T x) {
    if (!host) {
      spawn_host();
    }
    self->send(host, std::move(x));
    sched.run();
    caf::error result;
    self->receive([](uint64_t) {}, [](caf::ok_atom) {}, [&](caf::error& err) { result = err; });
    return result;
  }

  session_info info(uint64_t id) {
    self->send(host, caf::get_atom::value, id);
    sched.run();
    session_info out;
    self->receive([&](const session_info& x) { out = x; },
                  [&](caf::error& err) { FAIL("info failed: " << render(err)); });
    return out;
  }

  uint64_t open_sessions() {
    self->send(host, sessions_atom::value);
    sched.run();
    uint64_t n = 0;
    self->receive([&](uint64_t x) { n = x; });
    return n;
  }

  // The host's clock (virtual time), as a batch deadline is given.
  int64_t host_now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               sched.clock().now().time_since_epoch())
        .count();
  }

  // A part of `items` results, due `budget` from now on the host's clock.
  std::shared_ptr<batch_join> join_of(size_t items, std::chrono::milliseconds budget,
                                      int* completed) {
    return std::make_shared<batch_join>(items, host_now_ns() + budget.count() * 1'000'000, 4,
                                        [completed](batch_join&) { ++*completed; });
  }

  // A part of `join` for the host, its items still to fill in.
  static host_work part_of(const std::shared_ptr<batch_join>& join) {
    host_work w;
    w.join = join;
    w.part = join->add_part();
    return w;
  }
};

// Blocks from a host's outputs, as the test sees them.
struct captured {
  std::vector<session_event_block> events;
  std::vector<position_block> positions;
};

// Stands in for the service that keeps positions: records each block of closing positions
// and holds its answer until it gets an ok_atom (then answers the oldest held ok).
struct keeper_log {
  std::vector<position_block> blocks;
  std::vector<caf::typed_response_promise<caf::ok_atom>> pending;
};

caf::actor spawn_keeper(caf::actor_system& sys, std::shared_ptr<keeper_log> log) {
  return sys.spawn([log](caf::event_based_actor* self) -> caf::behavior {
    return {
        [self, log](positions_durable_atom, const position_block& b) -> caf::result<caf::ok_atom> {
          log->blocks.push_back(b);
          log->pending.push_back(self->make_response_promise<caf::ok_atom>());
          return log->pending.back();
        },
        [log](caf::ok_atom) {
          if (!log->pending.empty()) {
            log->pending.front().deliver(caf::ok_atom::value);
            log->pending.erase(log->pending.begin());
          }
        }};
  });
}

} // namespace

TEST_SUITE("actors.session") {
  TEST_CASE_FIXTURE(host_fixture,
                    "a close is answered once its last position is confirmed kept, and "
                    "unavailable when that is not confirmed in time") {
    auto kept = std::make_shared<keeper_log>();
    auto seen = std::make_shared<captured>();
    settings.outputs.positions = [seen](position_block&& b) {
      seen->positions.push_back(std::move(b));
    };
    auto keeper = spawn_keeper(sys, kept);
    settings.outputs.durable_positions = keeper;
    settings.outputs.durable_timeout = 2s;
    settings.outputs.flush_interval = 20ms;
    spawn_host();
    REQUIRE_FALSE(ask(viewer(7)));
    REQUIRE_FALSE(ask(beat(7, 61'000)));
    REQUIRE_FALSE(ask(viewer(8, "bob")));
    REQUIRE_FALSE(ask(beat(8, 5'000)));
    // A part closing alice's session, with a heartbeat of bob's: its answer waits.
    int completed = 0;
    auto join = join_of(2, 1000ms, &completed);
    auto w = part_of(join);
    w.heartbeats = {beat(8, 6'000)};
    w.heartbeats_at = {0};
    w.commands = {command{7, command_kind::close, 0}};
    w.commands_at = {1};
    join->finish(); // the dispatcher's hold
    caf::anon_send(host, std::move(w));
    sched.run();
    REQUIRE(kept->blocks.size() == 1);
    auto& b = kept->blocks.front();
    REQUIRE(b.positions.size() == 1);
    CHECK(b.positions[0].position_ms == 61'000);
    CHECK(b.text.get(b.positions[0].user) == "alice");
    CHECK(completed == 0);
    caf::anon_send(keeper, caf::ok_atom::value);
    sched.run();
    CHECK(completed == 1);
    CHECK(join->results()[0].ok());
    CHECK(join->results()[1].ok());
    // The closing position went only that way.
    advance_time(20ms);
    sched.run();
    for (auto& blk : seen->positions) {
      for (auto& p : blk.positions) {
        CHECK(p.position_ms != 61'000);
      }
    }
    // Not confirmed within durable_timeout: the close is refused unavailable, and the
    // session is closed all the same.
    self->send(host, command{8, command_kind::close, 0});
    sched.run();
    REQUIRE(kept->blocks.size() == 2);
    advance_time(2s);
    sched.run();
    caf::error refused;
    self->receive([](caf::ok_atom) {}, [&](caf::error& err) { refused = err; });
    CHECK(sv::is(refused, sv::errc::unavailable));
    CHECK(render(refused).find("not confirmed held") != std::string::npos);
    // ... and its position still goes the usual way.
    bool usual = false;
    for (auto& blk : seen->positions) {
      for (auto& p : blk.positions) {
        usual = usual || p.position_ms == 6'000;
      }
    }
    CHECK(usual);
    CHECK(sv::is(ask(beat(8, 7'000)), sv::session::session_errc::session_closed));
    // A session that reported no position has nothing to store: closed at once.
    REQUIRE_FALSE(ask(viewer(9, "carol")));
    REQUIRE_FALSE(ask(command{9, command_kind::close, 0}));
    CHECK(kept->blocks.size() == 2);
    // The keeper still holds an answer (a reference to itself): it must be told to go.
    caf::anon_send_exit(keeper, caf::exit_reason::user_shutdown);
    sched.run();
  }

  TEST_CASE_FIXTURE(host_fixture,
                    "a host that stops while a close waits for its position still answers the "
                    "batch, the close refused") {
    auto kept = std::make_shared<keeper_log>();
    auto keeper = spawn_keeper(sys, kept);
    settings.outputs.durable_positions = keeper;
    spawn_host();
    REQUIRE_FALSE(ask(viewer(7)));
    REQUIRE_FALSE(ask(beat(7, 9'000)));
    int completed = 0;
    auto join = join_of(1, 1000ms, &completed);
    auto w = part_of(join);
    w.commands = {command{7, command_kind::close, 0}};
    w.commands_at = {0};
    join->finish(); // the dispatcher's hold
    caf::anon_send(host, std::move(w));
    sched.run();
    REQUIRE(kept->blocks.size() == 1);
    CHECK(completed == 0);
    caf::anon_send_exit(caf::actor_cast<caf::actor>(host), caf::exit_reason::user_shutdown);
    sched.run();
    host = host_actor{};
    CHECK(completed == 1);
    CHECK(join->results()[0].code == static_cast<uint8_t>(sv::errc::unavailable));
    caf::anon_send_exit(keeper, caf::exit_reason::user_shutdown);
    sched.run();
  }

  TEST_CASE_FIXTURE(host_fixture, "a batch part is applied item by item, each result in its slot") {
    spawn_host();
    int completed = 0;
    auto join = join_of(4, 1000ms, &completed);
    auto w = part_of(join);
    w.opens = {viewer(7), viewer(8)};
    w.opens_at = {0, 1};
    w.heartbeats = {beat(7, 5000), beat(99, 1)};
    w.heartbeats_at = {2, 3};
    join->finish(); // the dispatcher's hold
    CHECK(completed == 0);
    caf::anon_send(host, std::move(w));
    sched.run();
    CHECK(completed == 1);
    auto& rs = join->results();
    CHECK(rs[0].ok());
    CHECK(rs[1].ok());
    CHECK(rs[2].ok());
    CHECK(rs[3].code == static_cast<uint8_t>(sv::session::session_errc::unknown_session));
    CHECK(rs[3].detail.find("99") != std::string::npos);
    CHECK(info(7).position_ms == 5000);
    CHECK(open_sessions() == 2);
  }

  TEST_CASE_FIXTURE(host_fixture,
                    "a part taken up after its deadline is refused whole and changes nothing") {
    spawn_host();
    int completed = 0;
    auto join = join_of(2, 5ms, &completed);
    auto w = part_of(join);
    w.opens = {viewer(7)};
    w.opens_at = {0};
    w.commands = {command{7, command_kind::pause, 0}};
    w.commands_at = {1};
    join->finish();
    advance_time(10ms); // it waited in the queue past its deadline
    caf::anon_send(host, std::move(w));
    sched.run();
    CHECK(completed == 1);
    for (auto& r : join->results()) {
      CHECK(r.code == static_cast<uint8_t>(sv::errc::overloaded));
      CHECK(r.retry_after_ms >= 50);
    }
    CHECK(open_sessions() == 0);
  }

  TEST_CASE_FIXTURE(host_fixture, "a part its gateway expired is never applied") {
    spawn_host();
    int completed = 0;
    auto join = join_of(1, 1000ms, &completed);
    auto w = part_of(join);
    w.opens = {viewer(7)};
    w.opens_at = {0};
    REQUIRE(join->expire(w.part)); // the gateway answered it (overloaded) first
    join->results()[0].code = static_cast<uint8_t>(sv::errc::overloaded);
    join->finish(); // the gateway's finish for the expired part
    join->finish(); // the dispatcher's hold
    CHECK(completed == 1);
    caf::anon_send(host, std::move(w));
    sched.run();
    CHECK(completed == 1);
    CHECK(open_sessions() == 0);
    CHECK_FALSE(join->take(0)); // and no host can take it any more
  }

  TEST_CASE_FIXTURE(host_fixture,
                    "events leave in blocks, numbered per session, and name each string once") {
    auto seen = std::make_shared<captured>();
    settings.outputs.events = [seen](session_event_block&& b) {
      seen->events.push_back(std::move(b));
    };
    settings.outputs.flush_interval = 20ms;
    settings.source_prefix = "node-x#1";
    spawn_host();
    REQUIRE_FALSE(ask(viewer(7)));
    REQUIRE_FALSE(ask(beat(7, 1000)));
    REQUIRE_FALSE(ask(viewer(8, "bob")));
    REQUIRE_FALSE(ask(command{7, command_kind::quality, 2500}));
    REQUIRE_FALSE(ask(command{7, command_kind::close, 0}));
    CHECK(seen->events.empty()); // buffered until the flush
    advance_time(20ms);
    sched.run();
    REQUIRE(seen->events.size() == 1);
    auto& b = seen->events.front();
    CHECK(b.source == "node-x#1/host-0");
    REQUIRE(b.events.size() == 5);
    using k = session_event;
    CHECK(b.events[0].kind == k::opened);
    CHECK(b.events[1].kind == k::heartbeat);
    CHECK(b.events[2].kind == k::opened);
    CHECK(b.events[3].kind == k::quality_change);
    CHECK(b.events[4].kind == k::closed);
    // Session 7: events 1, 2, 3, 4; session 8: event 1.
    CHECK(b.events[0].seq == 1);
    CHECK(b.events[1].seq == 2);
    CHECK(b.events[2].seq == 1);
    CHECK(b.events[4].seq == 4);
    CHECK(b.events[1].position_ms == 1000);
    CHECK(b.text.get(b.events[2].user) == "bob");
    CHECK(b.text.get(b.events[4].content) == "title-42");
    CHECK(b.text.get(b.events[4].region) == "eu-west");
    // "title-42", "tv" and "eu-west" once each, the user per event.
    CHECK(b.text.size() == std::string{"title-42tveu-west"}.size() + 5 * 5 - 2);
  }

  TEST_CASE_FIXTURE(host_fixture,
                    "a block is handed on as soon as it is full, without waiting for the flush") {
    auto seen = std::make_shared<captured>();
    settings.outputs.events = [seen](session_event_block&& b) {
      seen->events.push_back(std::move(b));
    };
    settings.outputs.block_items = 3;
    spawn_host();
    REQUIRE_FALSE(ask(viewer(7)));
    REQUIRE_FALSE(ask(beat(7, 1)));
    CHECK(seen->events.empty());
    REQUIRE_FALSE(ask(beat(7, 2)));
    REQUIRE(seen->events.size() == 1);
    CHECK(seen->events.front().events.size() == 3);
  }

  TEST_CASE_FIXTURE(host_fixture,
                    "positions are recorded at most once per checkpoint interval, and always at "
                    "pause, seek and close") {
    auto seen = std::make_shared<captured>();
    settings.outputs.positions = [seen](position_block&& b) {
      seen->positions.push_back(std::move(b));
    };
    settings.outputs.checkpoint_interval = 30s;
    settings.outputs.flush_interval = 20ms;
    settings.idle_timeout = 120s;
    spawn_host();
    auto recorded = [&] {
      advance_time(20ms); // the flush
      sched.run();
      std::vector<int64_t> xs;
      for (auto& b : seen->positions) {
        for (auto& p : b.positions) {
          xs.push_back(p.position_ms);
        }
      }
      seen->positions.clear();
      return xs;
    };
    REQUIRE_FALSE(ask(viewer(7)));
    // Heartbeats every 10 s: only one in three is a checkpoint.
    for (int i = 1; i <= 6; ++i) {
      advance_time(10s);
      sched.run();
      REQUIRE_FALSE(ask(beat(7, i * 10'000)));
    }
    // Two checkpoints, 30 s apart (where in the interval the first falls depends on the
    // session: sessions opened together do not all checkpoint together).
    auto first = recorded();
    REQUIRE(first.size() == 2);
    CHECK(first[1] - first[0] == 30'000);
    REQUIRE_FALSE(ask(command{7, command_kind::seek, 500'000}));
    REQUIRE_FALSE(ask(command{7, command_kind::pause, 0}));
    REQUIRE_FALSE(ask(command{7, command_kind::close, 0}));
    CHECK(recorded() == std::vector<int64_t>{500'000, 500'000, 500'000});
    // A session that reported no position (a player reopening after its node failed, and
    // closing at once) records nothing: a 0 would overwrite the user's real progress.
    REQUIRE_FALSE(ask(viewer(11, "dave")));
    REQUIRE_FALSE(ask(command{11, command_kind::pause, 0}));
    REQUIRE_FALSE(ask(command{11, command_kind::close, 0}));
    CHECK(recorded().empty());
    // A position as the player reported it, with the names it needs for resume.
    REQUIRE_FALSE(ask(viewer(9, "carol")));
    REQUIRE_FALSE(ask(beat(9, 1'000)));
    REQUIRE_FALSE(ask(command{9, command_kind::pause, 0}));
    advance_time(20ms);
    sched.run();
    REQUIRE(seen->positions.size() == 1);
    auto& b = seen->positions.front();
    REQUIRE(b.positions.size() == 1);
    CHECK(b.positions[0].position_ms == 1'000);
    CHECK(b.text.get(b.positions[0].user) == "carol");
    CHECK(b.text.get(b.positions[0].content) == "title-42");
    CHECK(b.text.get(b.positions[0].device) == "tv");
  }

  TEST_CASE_FIXTURE(host_fixture, "what a host buffered is handed on when it stops") {
    auto seen = std::make_shared<captured>();
    settings.outputs.events = [seen](session_event_block&& b) {
      seen->events.push_back(std::move(b));
    };
    spawn_host();
    REQUIRE_FALSE(ask(viewer(7)));
    CHECK(seen->events.empty());
    caf::anon_send_exit(caf::actor_cast<caf::actor>(host), caf::exit_reason::user_shutdown);
    sched.run();
    host = host_actor{};
    REQUIRE(seen->events.size() == 1);
    CHECK(seen->events.front().events.size() == 1);
  }

  TEST_CASE("item results carry the StreamVerse code, the hint and the text, and back") {
    auto r = to_result(sv::make_overloaded("critical", 120ms));
    CHECK(r.code == static_cast<uint8_t>(sv::errc::overloaded));
    CHECK(r.retry_after_ms == 120);
    CHECK(r.detail == "critical");
    auto back = to_error(r);
    CHECK(sv::is(back, sv::errc::overloaded));
    CHECK(sv::retry_after(back) == std::chrono::milliseconds{120});
    auto e =
        to_result(sv::make_error(sv::media::refusal::not_in_region, "t is not available in mars"));
    CHECK(e.detail == "t is not available in mars");
    CHECK(sv::is(to_error(e), sv::media::refusal::not_in_region));
    CHECK(to_result(caf::none).ok());
    CHECK_FALSE(to_error(item_result{}));
    auto other = to_result(caf::make_error(caf::sec::request_timeout));
    CHECK(other.code == static_cast<uint8_t>(sv::errc::unavailable));
  }

  TEST_CASE_FIXTURE(host_fixture, "an opened session reports what it was opened with") {
    REQUIRE_FALSE(ask(viewer(7)));
    auto s = info(7);
    CHECK(s.session_id == 7);
    CHECK(s.user == "alice");
    CHECK(s.content == "title-42");
    CHECK(s.device == "tv");
    CHECK(s.region == "eu-west");
    CHECK(s.subscription == static_cast<uint8_t>(tier::premium));
    CHECK(s.heartbeats == 0);
    CHECK(open_sessions() == 1);
  }

  TEST_CASE_FIXTURE(host_fixture,
                    "heartbeats, seeks, quality changes and pauses update the session") {
    REQUIRE_FALSE(ask(viewer(7)));
    REQUIRE_FALSE(ask(beat(7, 12'000)));
    REQUIRE_FALSE(ask(beat(7, 14'000, 6000)));
    REQUIRE_FALSE(ask(command{7, command_kind::seek, 600'000}));
    REQUIRE_FALSE(ask(command{7, command_kind::quality, 2500}));
    REQUIRE_FALSE(ask(command{7, command_kind::pause, 0}));
    auto s = info(7);
    CHECK(s.heartbeats == 2);
    CHECK(s.position_ms == 600'000);
    CHECK(s.bitrate_kbps == 2500);
    CHECK(s.buffer_ms == 8000);
    CHECK(s.dropped_frames == 3);
    CHECK(s.seeks == 1);
    CHECK(s.quality_changes == 1);
    CHECK(s.paused);
    REQUIRE_FALSE(ask(command{7, command_kind::resume, 0}));
    CHECK_FALSE(info(7).paused);
  }

  TEST_CASE_FIXTURE(host_fixture, "a heartbeat for an unknown session is refused") {
    auto err = ask(beat(99, 1000));
    CHECK(sv::is(err, sv::session::session_errc::unknown_session));
    CHECK(open_sessions() == 0);
  }

  TEST_CASE_FIXTURE(host_fixture, "a heartbeat after close is refused and changes nothing") {
    REQUIRE_FALSE(ask(viewer(7)));
    REQUIRE_FALSE(ask(command{7, command_kind::close, 0}));
    CHECK(sv::is(ask(beat(7, 1000)), sv::session::session_errc::session_closed));
    CHECK(
        sv::is(ask(command{7, command_kind::pause, 0}), sv::session::session_errc::session_closed));
    CHECK(open_sessions() == 0);
  }

  TEST_CASE_FIXTURE(host_fixture, "negative positions and absurd bitrates are refused") {
    REQUIRE_FALSE(ask(viewer(7)));
    REQUIRE_FALSE(ask(beat(7, 5000)));
    auto err = ask(beat(7, -1));
    CHECK(sv::is(err, sv::errc::invalid_argument));
    CHECK(render(err).find("position_ms -1") != std::string::npos);
    CHECK(sv::is(ask(beat(7, 6000, 900'000)), sv::errc::invalid_argument));
    CHECK(sv::is(ask(command{7, command_kind::seek, -5}), sv::errc::invalid_argument));
    CHECK(sv::is(ask(command{7, command_kind::quality, 10'000'000}), sv::errc::invalid_argument));
    auto s = info(7); // unchanged by any of the refused requests
    CHECK(s.position_ms == 5000);
    CHECK(s.bitrate_kbps == 4500);
    CHECK(s.heartbeats == 1);
    CHECK(s.seeks == 0);
  }

  TEST_CASE_FIXTURE(host_fixture, "opens with oversized, empty or unknown fields are refused") {
    CHECK(sv::is(ask(viewer(7, std::string(129, 'u'))), sv::errc::invalid_argument));
    CHECK(sv::is(ask(viewer(8, "")), sv::errc::invalid_argument));
    auto bad_tier = viewer(9);
    bad_tier.subscription = 17;
    CHECK(sv::is(ask(bad_tier), sv::errc::invalid_argument));
    CHECK(sv::is(ask(viewer(0)), sv::errc::invalid_argument));
    CHECK(open_sessions() == 0);
    CHECK_FALSE(ask(viewer(10, std::string(128, 'u')))); // exactly at the limit
  }

  TEST_CASE_FIXTURE(host_fixture, "opening a session that is already open is refused") {
    REQUIRE_FALSE(ask(viewer(7)));
    CHECK(sv::is(ask(viewer(7, "mallory")), sv::session::session_errc::session_exists));
    CHECK(info(7).user == "alice");
  }

  TEST_CASE_FIXTURE(host_fixture, "the entitlement hook can refuse a viewer") {
    settings.entitlement = [](const open_request& r) -> caf::error {
      if (r.subscription < static_cast<uint8_t>(tier::standard)) {
        return sv::make_error(sv::media::refusal::not_entitled,
                              "title-42 needs standard or better");
      }
      return caf::none;
    };
    spawn_host();
    auto cheap = viewer(7);
    cheap.subscription = static_cast<uint8_t>(tier::basic);
    CHECK(sv::is(ask(cheap), sv::media::refusal::not_entitled));
    CHECK_FALSE(ask(viewer(8)));
    CHECK(open_sessions() == 1);
  }

  TEST_CASE_FIXTURE(host_fixture, "a session without heartbeats is closed after the idle timeout") {
    REQUIRE_FALSE(ask(viewer(7)));
    REQUIRE_FALSE(ask(viewer(8)));
    // Session 8 keeps beating every 20 s; session 7 falls silent.
    for (int i = 0; i < 3; ++i) {
      advance_time(20s);
      sched.run();
      REQUIRE_FALSE(ask(beat(8, 1000 * i)));
    }
    CHECK(open_sessions() == 1);
    CHECK(sv::is(ask(beat(7, 1)), sv::session::session_errc::session_closed));
    CHECK_FALSE(ask(beat(8, 5000)));
  }

  TEST_CASE_FIXTURE(host_fixture, "a session id can be opened again after it was closed") {
    REQUIRE_FALSE(ask(viewer(7)));
    REQUIRE_FALSE(ask(command{7, command_kind::close, 0}));
    REQUIRE_FALSE(ask(viewer(7, "bob")));
    CHECK(info(7).user == "bob");
    CHECK_FALSE(ask(beat(7, 10)));
  }

  TEST_CASE_FIXTURE(host_fixture, "closed ids are remembered only up to the configured number") {
    settings.closed_memory = 2;
    spawn_host();
    for (uint64_t id = 1; id <= 3; ++id) {
      REQUIRE_FALSE(ask(viewer(id)));
      REQUIRE_FALSE(ask(command{id, command_kind::close, 0}));
    }
    CHECK(sv::is(ask(beat(1, 0)), sv::session::session_errc::unknown_session)); // forgotten
    CHECK(sv::is(ask(beat(3, 0)), sv::session::session_errc::session_closed));
  }

  TEST_CASE_FIXTURE(host_fixture, "every request is taken off the host's load cell") {
    spawn_host();
    cell->on_enqueue();
    cell->on_enqueue();
    REQUIRE_FALSE(ask(viewer(7)));
    REQUIRE_FALSE(ask(beat(7, 0)));
    CHECK(cell->depth() == 0);
  }
}
