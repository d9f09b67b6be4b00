// Protobuf messages as CAF payloads between two actor systems over loopback.

#include <chrono>
#include <string>

#include <google/protobuf/util/message_differencer.h>

#include <doctest/doctest.h>

#include "caf/all.hpp"
#include "caf/io/all.hpp"
#include "runtime/wire/message_type_list.hpp"
#include "runtime/wire/message_types.hpp"
#include "runtime/wire/undecodable.hpp"
#include "tests/support/proto_fill.hpp"

// A domain module's error codes, as actors/session and actors/media declare theirs.
enum class test_errc : uint8_t { broken = 1, missing = 2 };

const char* to_string(test_errc x) {
  switch (x) {
  case test_errc::broken:
    return "broken";
  case test_errc::missing:
    return "missing";
  }
  return nullptr;
}

template <>
struct sv::error_domain<test_errc> {
  static constexpr caf::atom_value category = caf::atom("svtest");
  static const char* name(test_errc x) {
    return to_string(x);
  }
};

namespace {

using google::protobuf::Message;
using sv::test::fill;

constexpr auto timeout = std::chrono::seconds(5);

// A stand-in for "streamverse.v1.Hello" that puts arbitrary bytes on the wire.
struct raw_payload {
  std::string bytes;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, raw_payload& x) {
  return f(caf::meta::type_name("raw_payload"), x.bytes);
}

// Sends back whatever it receives; answers an undecodable message with an error.
template <class... Ts>
caf::behavior echo(caf::event_based_actor*) {
  return {
      [](const Ts& x) {
        return x;
      }...,
      []() -> caf::error { return sv::wire::undecodable("wire test echo"); },
  };
}

template <class... Ts>
caf::behavior echo_all(caf::event_based_actor* self, sv::wire::type_list<Ts...>) {
  return echo<Ts...>(self);
}

struct system_config : caf::actor_system_config {
  explicit system_config(bool real_types = true) {
    load<caf::io::middleman>();
    if (real_types) {
      sv::wire::register_message_types(*this);
    } else {
      sv::add_error_category(*this);
      // The same wire name as the real message, but the bytes are ours to choose.
      add_message_type<raw_payload>("streamverse.v1.Hello");
    }
    set("scheduler.max-threads", size_t{1});
    set("logger.console-verbosity", caf::atom("quiet"));
  }
};

// Two actor systems, each with its own middleman; `server` publishes an echo actor on an
// ephemeral loopback port and `client` holds a proxy to it.
struct two_systems {
  system_config server_cfg;
  caf::actor_system server{server_cfg};
  caf::actor echo_actor = server.spawn([](caf::event_based_actor* self) {
    return echo_all(self, sv::wire::cluster_message_types{});
  });
  uint16_t port = 0;

  two_systems() {
    auto p = server.middleman().publish(echo_actor, 0, "127.0.0.1");
    REQUIRE(p);
    port = *p;
  }

  ~two_systems() {
    caf::anon_send_exit(echo_actor, caf::exit_reason::user_shutdown);
  }

  caf::actor connect(caf::actor_system& client) {
    auto proxy = client.middleman().remote_actor("127.0.0.1", port);
    REQUIRE(proxy);
    return *proxy;
  }
};

template <class T>
void round_trip(caf::actor_system& client, const caf::actor& proxy) {
  T sent;
  fill(sent, 0);
  REQUIRE(sent.ByteSizeLong() > 0);
  caf::scoped_actor self{client};
  bool answered = false;
  self->request(proxy, timeout, sent)
      .receive(
          [&](const T& got) {
            answered = true;
            INFO(T::descriptor()->full_name());
            CHECK(google::protobuf::util::MessageDifferencer::Equals(sent, got));
          },
          [&](caf::error& err) {
            FAIL(T::descriptor()->full_name() << ": " << client.render(err));
          });
  CHECK(answered);
}

template <class... Ts>
void round_trip_all(caf::actor_system& client, const caf::actor& proxy,
                    sv::wire::type_list<Ts...>) {
  (round_trip<Ts>(client, proxy), ...);
}

} // namespace

TEST_SUITE("runtime.wire") {

  TEST_CASE("every registered message type crosses between two actor systems intact") {
    two_systems env;
    system_config client_cfg;
    caf::actor_system client{client_cfg};
    auto proxy = env.connect(client);
    auto before = sv::wire::counters().decoded.load();
    round_trip_all(client, proxy, sv::wire::cluster_message_types{});
    // Each round trip decodes twice (request on the server, reply on the client).
    CHECK(sv::wire::counters().decoded.load() - before >= 2);
  }

  TEST_CASE("a corrupt payload is answered with undecodable_payload and the link survives") {
    two_systems env;
    system_config bad_cfg{false};
    caf::actor_system bad{bad_cfg};
    auto proxy = env.connect(bad);
    auto failures_before = sv::wire::counters().decode_failures.load();
    auto undecodable_before = sv::wire::undecodable_count();
    caf::scoped_actor self{bad};
    // 0x0a = field 1, length-delimited; length 0x7f runs past the end: a truncated message.
    raw_payload corrupt{std::string{"\x0a\x7f\x01", 3}};
    caf::error seen;
    self->request(proxy, timeout, corrupt)
        .receive([&](const raw_payload&) { FAIL("a corrupt payload was echoed"); },
                 [&](caf::error& err) { seen = err; });
    CHECK(sv::is(seen, sv::errc::undecodable_payload));
    CHECK(bad.render(seen).find("undecodable_payload") != std::string::npos);
    CHECK(sv::wire::counters().decode_failures.load() == failures_before + 1);
    CHECK(sv::wire::undecodable_count() == undecodable_before + 1);
    // The connection is still usable: a well-formed Hello from a healthy system works.
    system_config good_cfg;
    caf::actor_system good{good_cfg};
    round_trip<streamverse::v1::Hello>(good, env.connect(good));
  }

  TEST_CASE("a domain's error codes have their own category, name and refusal status") {
    system_config cfg;
    sv::add_error_domain<test_errc>(cfg, "test");
    caf::actor_system sys{cfg};
    auto err = sv::make_error(test_errc::broken, "part 7");
    CHECK(sv::is(err, test_errc::broken));
    CHECK_FALSE(sv::is(err, test_errc::missing));
    // Same code number, other category: not the runtime's code 1.
    CHECK_FALSE(sv::is(err, sv::errc::undecodable_payload));
    CHECK(err.category() == caf::atom("svtest"));
    CHECK(sys.render(err) == "test: broken (part 7)");
    CHECK(sys.render(sv::make_error(test_errc::missing)) == "test: missing");
    CHECK(sys.render(sv::make_domain_error(caf::atom("svtest"), 9, {})) == "test: code 9");
    // A domain's answer is a refusal (passed on by relays); CAF's own errors are not.
    CHECK(sv::is_refusal(err));
    CHECK(sv::is_refusal(sv::make_error(sv::errc::unavailable)));
    CHECK_FALSE(sv::is_refusal(caf::make_error(caf::sec::request_timeout)));
    CHECK_FALSE(sv::is_refusal(sv::make_domain_error(caf::atom("other"), 1, {})));
  }

  TEST_CASE("StreamVerse errors render by name with their context") {
    system_config cfg;
    caf::actor_system sys{cfg};
    auto err = sv::make_error(sv::errc::overloaded, "retry in 50 ms");
    CHECK(sv::is(err, sv::errc::overloaded));
    CHECK_FALSE(sv::is(err, sv::errc::invalid_argument));
    CHECK(sys.render(err) == "streamverse: overloaded (retry in 50 ms)");
    CHECK(sys.render(sv::make_error(sv::errc::duplicate_node_name))
          == "streamverse: duplicate_node_name");
    CHECK(sv::to_string(sv::errc::version_conflict) == "version_conflict");
    CHECK(sv::to_string(sv::errc::not_found) == "not_found");
    CHECK(sv::to_string(sv::errc::unavailable) == "unavailable");
    CHECK(sv::to_string(static_cast<sv::errc>(200)) == "errc(200)");
    auto over = sv::make_overloaded("bulk", std::chrono::milliseconds{75});
    CHECK(sys.render(over) == "streamverse: overloaded (bulk, retry after 75 ms)");
    REQUIRE(sv::retry_after(over).has_value());
    CHECK(*sv::retry_after(over) == std::chrono::milliseconds{75});
    CHECK_FALSE(sv::retry_after(err).has_value()); // overloaded, but no hint attached
    CHECK_FALSE(sv::retry_after(sv::make_error(sv::errc::invalid_argument)).has_value());
  }

  TEST_CASE("an actor with answer_undecodable refuses what it does not know without rendering "
            "it (CAF renders a duration with a bad unit out of bounds)") {
    system_config cfg;
    caf::actor_system sys{cfg};
    auto a = sys.spawn([](caf::event_based_actor* self) -> caf::behavior {
      sv::wire::answer_undecodable(self, "wire test");
      return {[](int32_t x) {
        return x;
      }};
    });
    // What fuzz_cluster_message found
    // (fuzz/regressions/fuzz_cluster_message/caf-duration-bad-unit.bin): CAF decodes any unit, and
    // its default handler (print_and_drop) would render this and crash.
    caf::duration bad;
    bad.unit = static_cast<caf::time_unit>(0x7fffffff); // far past the table of names
    bad.count = 1;
    caf::scoped_actor self{sys};
    caf::error seen;
    self->request(a, timeout, bad)
        .receive([&](caf::duration&) { FAIL("echoed"); }, [&](caf::error& err) { seen = err; });
    CHECK(seen == caf::sec::unexpected_message);
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  }

} // TEST_SUITE
