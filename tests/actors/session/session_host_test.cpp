// A session host on the deterministic scheduler: lifecycle, validation, idle timeout.

#include "actors/session/session_host.hpp"

#include <string>

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
  caf::actor host;
  host_settings settings;

  host_fixture() {
    settings.idle_timeout = 30s;
  }

  void spawn_host() {
    host = spawn_session_host(sys, settings, cell);
  }

  ~host_fixture() {
    if (host) {
      caf::anon_send_exit(host, caf::exit_reason::user_shutdown);
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
    self->send(host, sessions_query());
    sched.run();
    uint64_t n = 0;
    self->receive([&](uint64_t x) { n = x; });
    return n;
  }
};

} // namespace

TEST_SUITE("actors.session") {
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
    CHECK(sv::is(err, sv::errc::unknown_session));
    CHECK(open_sessions() == 0);
  }

  TEST_CASE_FIXTURE(host_fixture, "a heartbeat after close is refused and changes nothing") {
    REQUIRE_FALSE(ask(viewer(7)));
    REQUIRE_FALSE(ask(command{7, command_kind::close, 0}));
    CHECK(sv::is(ask(beat(7, 1000)), sv::errc::session_closed));
    CHECK(sv::is(ask(command{7, command_kind::pause, 0}), sv::errc::session_closed));
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
    CHECK(sv::is(ask(viewer(7, "mallory")), sv::errc::session_exists));
    CHECK(info(7).user == "alice");
  }

  TEST_CASE_FIXTURE(host_fixture, "the entitlement hook can refuse a viewer") {
    settings.entitlement = [](const open_request& r) -> caf::error {
      if (r.subscription < static_cast<uint8_t>(tier::standard)) {
        return sv::make_error(sv::errc::not_entitled, "title-42 needs standard or better");
      }
      return caf::none;
    };
    spawn_host();
    auto cheap = viewer(7);
    cheap.subscription = static_cast<uint8_t>(tier::basic);
    CHECK(sv::is(ask(cheap), sv::errc::not_entitled));
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
    CHECK(sv::is(ask(beat(7, 1)), sv::errc::session_closed));
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
    CHECK(sv::is(ask(beat(1, 0)), sv::errc::unknown_session)); // forgotten
    CHECK(sv::is(ask(beat(3, 0)), sv::errc::session_closed));
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
