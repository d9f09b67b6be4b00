#include "actors/services/node_services.hpp"
#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include "actors/analytics/events.hpp"
#include "actors/session/session_protocol.hpp"
#include "actors/session/session_types.hpp"
#include "caf/all.hpp"
#include "caf/detail/dynamic_message_data.hpp"
#include "caf/io/all.hpp"
#include "runtime/wire/message_types.hpp"
#include "runtime/wire/protobuf.hpp"
#include "tests/support/proto_fill.hpp"

// Every message type a full node registers crosses the network intact: one actor system
// publishes an echo actor, another sends it one value of each registered type (protobuf
// messages with every field set, other types as they come) and compares what comes back,
// byte for byte in CAF's binary format.

namespace {

struct full_config : caf::actor_system_config {
  full_config() {
    load<caf::io::middleman>();
    sv::wire::register_message_types(*this);
    for (auto& add : sv::node_services::message_types()) {
      add(*this);
    }
    set("scheduler.max-threads", size_t{1});
    set("logger.console-verbosity", caf::atom("quiet"));
  }
};

// A value with every field set, for each registered type that is not a protobuf message
// (those are filled through reflection).
std::map<std::string, caf::message> samples() {
  using namespace sv::session;
  open_request o{41, "user-1", "title-1", "tv", "eu-west", 2, -5};
  heartbeat_report h{41, 120'000, 4500, 8000, 3, -7};
  command c{41, command_kind::seek, 90'000};
  session_info i;
  i.session_id = 41;
  i.user = "user-1";
  i.content = "title-1";
  i.device = "tv";
  i.region = "eu-west";
  i.subscription = 2;
  i.paused = true;
  i.position_ms = 120'000;
  i.bitrate_kbps = 4500;
  i.buffer_ms = 8000;
  i.dropped_frames = 3;
  i.heartbeats = 9;
  i.seeks = 2;
  i.quality_changes = 1;
  item_result r{7, 250, "no such session", caf::atom("svsession")};
  edge_batch b;
  b.budget_ms = 1500;
  b.sent_at_ms = 1'700'000'000'000;
  b.opens = {o, o};
  b.heartbeats = {h};
  b.commands = {c};
  edge_answer a;
  a.results = {r, item_result{}};
  sv::analytics::viewer_event e;
  sv::test::fill(e, 0);
  return {
      {"sv.session.open_request", caf::make_message(o)},
      {"sv.session.heartbeat", caf::make_message(h)},
      {"sv.session.command", caf::make_message(c)},
      {"sv.session.session_info", caf::make_message(i)},
      {"sv.session.item_result", caf::make_message(r)},
      {"std::vector<sv.session.item_result>", caf::make_message(a.results)},
      {"sv.session.edge_batch", caf::make_message(b)},
      {"sv.session.edge_answer", caf::make_message(a)},
      {"std::vector<streamverse.v1.ViewerEvent>",
       caf::make_message(std::vector<sv::analytics::viewer_event>{e, e})},
  };
}

std::vector<char> bytes_of(caf::actor_system& sys, caf::message& m) {
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  auto err = sink(m);
  REQUIRE_FALSE(err);
  return buf;
}

} // namespace

TEST_SUITE("actors.services") {

  TEST_CASE("every registered message type round-trips between two actor systems") {
    full_config server_cfg;
    caf::actor_system server{server_cfg};
    auto echo = server.spawn([](caf::event_based_actor* self) -> caf::behavior {
      self->set_default_handler(
          [](caf::scheduled_actor*, caf::message_view& x) -> caf::result<caf::message> {
            // Wrapped, so that the client takes any content with one handler.
            return caf::make_message(caf::ok_atom::value, x.move_content_to_message());
          });
      return {[](caf::ok_atom) {
      }};
    });
    auto port = server.middleman().publish(echo, 0, "127.0.0.1");
    REQUIRE(port);
    full_config client_cfg;
    caf::actor_system client{client_cfg};
    auto proxy = client.middleman().remote_actor("127.0.0.1", *port);
    REQUIRE(proxy);
    auto* pool = google::protobuf::DescriptorPool::generated_pool();
    std::set<std::string> names;
    for (auto& kvp : client_cfg.value_factories_by_name) {
      auto& n = kvp.first;
      // CAF's own ("@..."), and the vector and stream of every type that CAF adds itself.
      auto caf_added = n[0] == '@' || n.rfind("stream<", 0) == 0 || n.rfind("dictionary<", 0) == 0
                       || n == "settings" || n.rfind("std::vector<", 0) == 0;
      if (!caf_added || samples().count(n) != 0) {
        names.insert(n);
      }
    }
    // The node registers its services' messages, not only the cluster's.
    CHECK(names.count("streamverse.v1.CacheGet") == 1);
    CHECK(names.count("streamverse.v1.EventBatch") == 1);
    CHECK(names.count("sv.session.edge_batch") == 1);
    size_t protobuf_types = 0;
    caf::scoped_actor self{client};
    for (auto& name : names) {
      CAPTURE(name);
      auto value = client_cfg.value_factories_by_name.at(name)();
      REQUIRE(value != nullptr);
      if (auto* d = pool->FindMessageTypeByName(name); d != nullptr) {
        // Registered under its descriptor's name: the value is that generated class.
        auto* m = static_cast<google::protobuf::Message*>(value->get_mutable());
        REQUIRE(m->GetDescriptor() == d);
        sv::test::fill(*m, 0);
        ++protobuf_types;
      }
      // What message_builder does inside (its emplace of a type-erased value is private).
      caf::detail::dynamic_message_data::elements elems;
      elems.push_back(std::move(value));
      caf::message sent{
          caf::message::data_ptr{new caf::detail::dynamic_message_data(std::move(elems)), false}};
      auto expected = bytes_of(client, sent);
      bool answered = false;
      self->request(*proxy, std::chrono::seconds{5}, sent)
          .receive(
              [&](caf::ok_atom, caf::message& back) {
                answered = true;
                CHECK(back.size() == 1);
                CHECK(bytes_of(client, back) == expected);
              },
              [&](caf::error& err) { FAIL_CHECK(client.render(err)); });
      CHECK(answered);
    }
    CHECK(protobuf_types >= 20);
    CHECK(names.size() == protobuf_types + samples().size());
    MESSAGE(names.size(), " registered types, ", protobuf_types, " of them protobuf messages");
    caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
  }

} // TEST_SUITE
