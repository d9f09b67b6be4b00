// The cluster endpoint's hello protocol, driven deterministically by the test kit.

#include "runtime/cluster/endpoint.hpp"
#include "runtime/cluster/peer_directory.hpp"

#include <map>
#include <utility>
#include <variant>
#include <vector>

#include "runtime/cluster/cluster.pb.h"
#include "runtime/metrics/registry.hpp"
#include "runtime/testkit/testkit.hpp"
#include "runtime/wire/protobuf.hpp"

using streamverse::v1::Hello;

namespace {

Hello hello_from(const std::string& name, uint64_t incarnation = 1,
                 uint32_t protocol = sv::cluster::protocol_version) {
  Hello h;
  h.set_node_name(name);
  h.set_version("test");
  h.set_protocol(protocol);
  h.set_cluster_address("127.0.0.1:1");
  h.set_incarnation(incarnation);
  return h;
}

// A peer's endpoint as the peer directory sees it: its lookups answer with itself.
caf::behavior fake_peer(caf::event_based_actor* self) {
  return {
      [self](sv::cluster::lookup_atom, caf::atom_value) {
        return caf::actor_cast<caf::actor>(self);
      },
      [](const Hello&) {}, // the endpoint's answer to our hello
  };
}

// An actor that looks peers up through a peer_directory: `(name, connect_wait_ms, tag)`
// reports `(tag, found)` to `report`.
struct directory_state {
  sv::cluster::peer_directory<caf::stateful_actor<directory_state>> dir{caf::atom("svc")};
};

caf::behavior directory_user(caf::stateful_actor<directory_state>* self, caf::actor ep,
                             caf::actor report) {
  return {
      [=](const std::string& name, int64_t wait_ms, int64_t tag) {
        self->state.dir.with(
            self, ep, name, std::chrono::milliseconds{1000},
            [=](const caf::actor&) { self->send(report, tag, true); },
            [=](const caf::error&) { self->send(report, tag, false); },
            std::chrono::milliseconds{wait_ms});
      },
  };
}

struct endpoint_fixture : sv::testkit::fixture {
  sv::metrics::registry reg;
  std::shared_ptr<sv::cluster::peer_table> peers = std::make_shared<sv::cluster::peer_table>();
  sv::cluster::endpoint_actor ep;

  endpoint_fixture() {
    sv::cluster::endpoint_settings es;
    es.node_name = "node-a";
    es.version = "1.2.3";
    es.incarnation = 100;
    es.region = "eu-west";
    es.zone = "1a";
    ep = sv::cluster::spawn_endpoint(sys, es, peers, reg);
    sv::cluster::start_endpoint(ep, "127.0.0.1:7101");
    sched.run();
  }

  ~endpoint_fixture() {
    // The endpoint points into `reg`: stop it before the members go away.
    caf::anon_send_exit(ep, caf::exit_reason::user_shutdown);
    sched.run();
  }

  // Sends `h` from `from` and returns the endpoint's answer.
  std::variant<Hello, caf::error> say_hello(caf::scoped_actor& from, const Hello& h) {
    from->send(ep, h);
    sched.run();
    std::variant<Hello, caf::error> answer = caf::error{};
    from->receive([&](const Hello& reply) { answer = reply; },
                  [&](caf::error& err) { answer = err; });
    return answer;
  }

  // Asks for `name`'s endpoint; the answer that is there once every queued message ran
  // (time stands still).
  std::variant<caf::actor, caf::error> ask_peer(const std::string& name, uint64_t wait_ms) {
    self->send(ep, sv::cluster::peer_atom::value, name, wait_ms);
    sched.run();
    std::variant<caf::actor, caf::error> answer = caf::error{};
    self->receive([&](const caf::actor& a) { answer = a; }, [&](caf::error& err) { answer = err; },
                  caf::after(std::chrono::seconds{0}) >> [] { FAIL("no answer"); });
    return answer;
  }

  // The error the endpoint answered with, now in the mailbox (time stands still).
  caf::error next_error() {
    caf::error seen;
    self->receive([](const caf::actor&) {}, [&](caf::error& err) { seen = err; },
                  caf::after(std::chrono::seconds{0}) >> [] { FAIL("no answer"); });
    return seen;
  }

  static bool is_unavailable(const std::variant<caf::actor, caf::error>& answer) {
    return std::holds_alternative<caf::error>(answer)
           && sv::is(std::get<caf::error>(answer), sv::errc::unavailable);
  }

  // A gossip from node-b that lists `name` in `state` (without an address: nobody dials it).
  void gossip_about(const std::string& name, streamverse::v1::MemberState state) {
    streamverse::v1::Gossip g;
    g.set_from("node-b");
    auto* m = g.add_members();
    m->set_node_name(name);
    m->set_version("test");
    m->set_incarnation(1);
    m->set_state(state);
    self->send(ep, g);
    sched.run();
  }

  void gossip_up(const std::string& name) {
    gossip_about(name, streamverse::v1::MEMBER_UP);
  }

  using reports = std::vector<std::pair<int64_t, bool>>;

  // Every (tag, found) a directory_user reported so far (time stands still).
  reports drain_reports() {
    reports got;
    for (bool more = true; more;) {
      self->receive([&](int64_t tag, bool found) { got.emplace_back(tag, found); },
                    caf::after(std::chrono::seconds{0}) >> [&] { more = false; });
    }
    return got;
  }

  struct two_lookup_reports {
    reports before, after;
  };

  // Two lookups of node-c (a member gossip reports up, not connected yet) through one
  // peer directory, tag 1 with connect wait `first_ms`, then tag 2 with `second_ms`: what
  // was reported before node-c connects, and after.
  two_lookup_reports two_lookups(int64_t first_ms, int64_t second_ms) {
    auto dir = sys.spawn(directory_user, caf::actor_cast<caf::actor>(ep),
                         caf::actor_cast<caf::actor>(self));
    gossip_up("node-c");
    self->send(dir, std::string{"node-c"}, first_ms, int64_t{1});
    self->send(dir, std::string{"node-c"}, second_ms, int64_t{2});
    sched.run();
    two_lookup_reports seen;
    seen.before = drain_reports();
    auto fake = sys.spawn(fake_peer);
    caf::send_as(fake, ep, hello_from("node-c"));
    sched.run();
    seen.after = drain_reports();
    caf::anon_send_exit(dir, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(fake, caf::exit_reason::user_shutdown);
    sched.run();
    return seen;
  }

  double refusals() {
    return static_cast<double>(reg.counter_metric("sv_cluster_peer_refusals_total", "").value());
  }
};

} // namespace

TEST_SUITE("runtime.cluster") {

  TEST_CASE_FIXTURE(endpoint_fixture, "a hello is answered with this node's hello and recorded") {
    auto answer = say_hello(self, hello_from("node-b"));
    REQUIRE(std::holds_alternative<Hello>(answer));
    auto& reply = std::get<Hello>(answer);
    CHECK(reply.node_name() == "node-a");
    CHECK(reply.version() == "1.2.3");
    CHECK(reply.protocol() == sv::cluster::protocol_version);
    CHECK(reply.cluster_address() == "127.0.0.1:7101");
    CHECK(reply.incarnation() == 100);
    CHECK(reply.region() == "eu-west");
    CHECK(reply.zone() == "1a");
    auto known = peers->snapshot();
    REQUIRE(known.size() == 1);
    CHECK(known[0].name == "node-b");
    CHECK(known[0].address == "127.0.0.1:1");
  }

  TEST_CASE_FIXTURE(endpoint_fixture, "a peer's region from its hello is in the member list") {
    auto h = hello_from("node-b");
    h.set_region("us-east");
    REQUIRE(std::holds_alternative<Hello>(say_hello(self, h)));
    std::map<std::string, std::string> region_of;
    for (auto& m : peers->members()) {
      region_of[m.name] = m.region;
    }
    CHECK(region_of["node-a"] == "eu-west");
    CHECK(region_of["node-b"] == "us-east");
  }

  TEST_CASE_FIXTURE(endpoint_fixture, "a hello of another protocol generation is refused") {
    auto answer = say_hello(self, hello_from("node-b", 1, sv::cluster::protocol_version + 1));
    REQUIRE(std::holds_alternative<caf::error>(answer));
    CHECK(sv::is(std::get<caf::error>(answer), sv::errc::protocol_mismatch));
    CHECK(peers->size() == 0);
    CHECK(refusals() == 1);
  }

  TEST_CASE_FIXTURE(endpoint_fixture, "a hello that claims this node's name is refused") {
    auto answer = say_hello(self, hello_from("node-a"));
    REQUIRE(std::holds_alternative<caf::error>(answer));
    CHECK(sv::is(std::get<caf::error>(answer), sv::errc::duplicate_node_name));
    CHECK(peers->size() == 0);
  }

  TEST_CASE_FIXTURE(endpoint_fixture, "a hello without a node name is refused") {
    auto answer = say_hello(self, hello_from(""));
    REQUIRE(std::holds_alternative<caf::error>(answer));
    CHECK(sv::is(std::get<caf::error>(answer), sv::errc::invalid_argument));
    CHECK(peers->size() == 0);
  }

  TEST_CASE_FIXTURE(endpoint_fixture,
                    "a second process under a live peer's name is refused unless it is newer") {
    REQUIRE(std::holds_alternative<Hello>(say_hello(self, hello_from("node-b", 5))));
    caf::scoped_actor impostor{sys};
    auto answer = say_hello(impostor, hello_from("node-b", 5));
    REQUIRE(std::holds_alternative<caf::error>(answer));
    CHECK(sv::is(std::get<caf::error>(answer), sv::errc::duplicate_node_name));
    // A restart of node-b (higher incarnation) replaces the old entry at once.
    caf::scoped_actor restarted{sys};
    REQUIRE(std::holds_alternative<Hello>(say_hello(restarted, hello_from("node-b", 6))));
    auto known = peers->snapshot();
    REQUIRE(known.size() == 1);
    CHECK(known[0].incarnation == 6);
  }

  TEST_CASE_FIXTURE(endpoint_fixture, "the same peer saying hello twice stays one peer") {
    REQUIRE(std::holds_alternative<Hello>(say_hello(self, hello_from("node-b"))));
    REQUIRE(std::holds_alternative<Hello>(say_hello(self, hello_from("node-b"))));
    CHECK(peers->size() == 1);
  }

  TEST_CASE_FIXTURE(endpoint_fixture, "a peer that goes down leaves the peer table") {
    {
      caf::scoped_actor peer{sys};
      REQUIRE(std::holds_alternative<Hello>(say_hello(peer, hello_from("node-c"))));
      CHECK(peers->size() == 1);
    } // the peer's actor terminates here; the endpoint monitors it
    sched.run();
    CHECK(peers->size() == 0);
  }

  TEST_CASE_FIXTURE(endpoint_fixture, "a connected peer's endpoint is answered at once") {
    caf::scoped_actor peer{sys};
    REQUIRE(std::holds_alternative<Hello>(say_hello(peer, hello_from("node-b"))));
    auto answer = ask_peer("node-b", 1000);
    REQUIRE(std::holds_alternative<caf::actor>(answer));
    CHECK(std::get<caf::actor>(answer) == caf::actor_cast<caf::actor>(peer));
  }

  TEST_CASE_FIXTURE(endpoint_fixture,
                    "a member gossip reports up is waited for until it connects, within the wait") {
    gossip_up("node-c");
    self->send(ep, sv::cluster::peer_atom::value, std::string{"node-c"}, uint64_t{1000});
    sched.run();
    CHECK(self->mailbox().empty()); // not connected yet: no answer
    sched.advance_time(std::chrono::milliseconds{500});
    sched.run();
    CHECK(self->mailbox().empty());
    caf::scoped_actor peer{sys};
    REQUIRE(std::holds_alternative<Hello>(say_hello(peer, hello_from("node-c"))));
    caf::actor got;
    self->receive([&](const caf::actor& a) { got = a; }, [](caf::error&) {},
                  caf::after(std::chrono::seconds{0}) >> [] { FAIL("no answer"); });
    CHECK(got == caf::actor_cast<caf::actor>(peer));
    sched.advance_time(std::chrono::milliseconds{1000}); // the wait's end finds nobody waiting
    sched.run();
    CHECK(self->mailbox().empty());
  }

  TEST_CASE_FIXTURE(endpoint_fixture,
                    "a member that never connects is unavailable when the wait ends") {
    gossip_up("node-c");
    self->send(ep, sv::cluster::peer_atom::value, std::string{"node-c"}, uint64_t{1000});
    sched.run();
    CHECK(self->mailbox().empty());
    sched.advance_time(std::chrono::milliseconds{1000});
    sched.run();
    CHECK(sv::is(next_error(), sv::errc::unavailable));
  }

  TEST_CASE_FIXTURE(endpoint_fixture, "a stranger is answered unavailable at once") {
    auto stranger = ask_peer("node-x", 1000);
    CHECK(is_unavailable(stranger));
  }

  TEST_CASE_FIXTURE(endpoint_fixture,
                    "a member not connected is unavailable at once without a wait") {
    gossip_up("node-c");
    auto no_wait = ask_peer("node-c", 0);
    CHECK(is_unavailable(no_wait));
  }

  TEST_CASE_FIXTURE(endpoint_fixture, "a suspect member is not waited for") {
    {
      caf::scoped_actor peer{sys};
      REQUIRE(std::holds_alternative<Hello>(say_hello(peer, hello_from("node-d"))));
    } // its connection is lost: suspect
    sched.run();
    auto suspect = ask_peer("node-d", 1000);
    CHECK(is_unavailable(suspect));
  }

  TEST_CASE_FIXTURE(endpoint_fixture,
                    "a wait ends at once when the member waited for leaves, before its bound") {
    gossip_up("node-c");
    self->send(ep, sv::cluster::peer_atom::value, std::string{"node-c"}, uint64_t{60'000});
    sched.run();
    CHECK(self->mailbox().empty());
    gossip_about("node-c", streamverse::v1::MEMBER_LEAVING);
    CHECK(sv::is(next_error(), sv::errc::unavailable));
  }

  TEST_CASE_FIXTURE(endpoint_fixture,
                    "a peer lookup that does not wait is not held up by one that waits") {
    auto seen = two_lookups(500, 0);
    CHECK(seen.before == reports{{2, false}}); // at once, while 1 waits
    CHECK(seen.after == reports{{1, true}});
  }

  TEST_CASE_FIXTURE(endpoint_fixture,
                    "a peer lookup that waits, queued behind one that did not, waits after it") {
    auto seen = two_lookups(0, 500);
    CHECK(seen.before == reports{{1, false}}); // 2 waits for the connection
    CHECK(seen.after == reports{{2, true}});
  }

  TEST_CASE_FIXTURE(endpoint_fixture, "an undecodable message is answered with an error") {
    self->send(caf::actor_cast<caf::actor>(ep), caf::make_message());
    sched.run();
    caf::error seen;
    self->receive([&](caf::error& err) { seen = err; });
    CHECK(sv::is(seen, sv::errc::undecodable_payload));
  }

} // TEST_SUITE
