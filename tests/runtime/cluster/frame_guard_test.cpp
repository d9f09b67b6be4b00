// The cluster port's frame guard (issue #18): what CAF 0.17 writes for this cluster's
// traffic passes in pieces of any size; what ends a node's BASP broker, an actor, or its
// memory is refused before CAF reads it.

#include "runtime/cluster/frame_guard.hpp"

#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/binary_serializer.hpp"
#include "caf/config_value.hpp"
#include "caf/io/basp/header.hpp"
#include "caf/message.hpp"
#include "caf/node_id.hpp"
#include "caf/system_messages.hpp"
#include "runtime/cluster/cluster.pb.h"
#include "runtime/wire/message_types.hpp"
#include "runtime/wire/protobuf.hpp"

using sv::cluster::check_message_content;
using sv::cluster::frame_guard;
using sv::cluster::guard_refusal;
using buffer = std::vector<char>;
namespace basp = caf::io::basp;

namespace {

struct config : caf::actor_system_config {
  config() {
    sv::wire::register_message_types(*this);
    set("scheduler.max-threads", size_t{1});
    set("logger.console-verbosity", caf::atom("quiet"));
    set("logger.file-verbosity", caf::atom("quiet"));
  }
};

// Never destroyed: torn down by exit handlers after CAF's own statics, an actor system
// crashes in its destructor; the pointers stay reachable, so it is no leak.
caf::actor_system& sys() {
  static auto* cfg = new config;
  static auto* s = new caf::actor_system{*cfg};
  return *s;
}

caf::node_id node(uint8_t seed) {
  caf::node_id::default_data::host_id_type host{};
  for (auto& b : host) {
    b = static_cast<uint8_t>(seed + 1);
  }
  return caf::make_node_id(4242u + seed, host);
}

template <class... Ts>
buffer encode(Ts&&... xs) {
  buffer out;
  caf::binary_serializer sink{sys(), out};
  REQUIRE_FALSE(sink(std::forward<Ts>(xs)...));
  return out;
}

buffer frame(basp::message_type op, const buffer& payload, uint64_t op_data = 0,
             uint64_t source = 0, uint64_t dest = 0) {
  basp::header hdr{op, 0, static_cast<uint32_t>(payload.size()), op_data, source, dest};
  auto out = encode(hdr);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

buffer client_handshake(const caf::node_id& from) {
  return frame(basp::message_type::client_handshake, encode(from));
}

constexpr uint64_t async_id = 0x1000000000000000ull;
constexpr uint64_t response_id = 0x9000000000000007ull;

// A direct message to actor 5: no stream stages, then the content.
buffer direct(const buffer& content, uint64_t id = async_id) {
  auto payload = encode(std::vector<caf::strong_actor_ptr>{});
  payload.insert(payload.end(), content.begin(), content.end());
  return frame(basp::message_type::direct_message, payload, id, 0, 5);
}

buffer content_of(const caf::message& msg) {
  auto copy = msg;
  return encode(copy);
}

// Feeds `bytes` in random pieces of 1..64 bytes; the first refusal.
guard_refusal feed_in_pieces(frame_guard& g, const buffer& bytes, unsigned seed) {
  std::mt19937 rng{seed};
  size_t pos = 0;
  auto why = guard_refusal::none;
  while (pos < bytes.size() && why == guard_refusal::none) {
    auto n = std::min<size_t>(bytes.size() - pos, 1 + rng() % 64);
    why = g.feed(bytes.data() + pos, n);
    pos += n;
  }
  return why;
}

// A fresh accepted connection: the peer's handshake, then `bytes`.
guard_refusal after_handshake(const buffer& bytes, const caf::node_id& peer = node(1)) {
  frame_guard g{{}, true};
  auto stream = client_handshake(peer);
  stream.insert(stream.end(), bytes.begin(), bytes.end());
  return feed_in_pieces(g, stream, 7);
}

// The serialized form of a node id, as the guard compares it.
std::string node_bytes(const caf::node_id& n) {
  auto b = encode(n);
  return std::string{b.begin(), b.end()};
}

} // namespace

TEST_CASE("the cluster's own traffic passes the frame guard in pieces of any size") {
  streamverse::v1::Hello hello;
  hello.set_node_name("node-a");
  hello.set_cluster_address("127.0.0.1:7301");
  streamverse::v1::Gossip gossip;
  gossip.add_members()->set_node_name("node-b");
  auto peer = node(1);
  auto peer_actor = caf::make_message(caf::atom("x"));
  std::vector<caf::message> messages = {
      caf::make_message(hello),
      caf::make_message(gossip, uint64_t{3}),
      caf::make_message(caf::atom("ping"), int32_t{7}, std::string{"text"}, true, 2.5),
      caf::make_message(std::vector<std::string>{"a", "b"}, caf::timespan{5}),
      caf::make_message(),
  };
  buffer stream = client_handshake(peer);
  for (auto& m : messages) {
    auto f = direct(content_of(m));
    stream.insert(stream.end(), f.begin(), f.end());
  }
  // A failed request's answer: a lone error, with a context, as a response.
  auto err = direct(content_of(caf::make_message(
                        caf::make_error(caf::sec::request_timeout, std::string{"late"}))),
                    response_id);
  stream.insert(stream.end(), err.begin(), err.end());
  auto beat = frame(basp::message_type::heartbeat, {});
  stream.insert(stream.end(), beat.begin(), beat.end());
  auto monitor = frame(basp::message_type::monitor_message, encode(peer, node(2)));
  stream.insert(stream.end(), monitor.begin(), monitor.end());
  for (unsigned seed = 1; seed <= 20; ++seed) {
    frame_guard g{{}, true};
    CHECK(feed_in_pieces(g, stream, seed) == guard_refusal::none);
    CHECK(g.handshake_done());
  }
  // The dialing side: the node it dialed opens with its server handshake.
  frame_guard dialed{{}, false};
  auto server = frame(basp::message_type::server_handshake,
                      encode(peer, std::vector<std::string>{"streamverse"}, caf::actor_id{3},
                             std::set<std::string>{}),
                      1);
  CHECK(dialed.feed(server.data(), server.size()) == guard_refusal::none);
  CHECK(dialed.handshake_done());
}

TEST_CASE("the frame guard refuses frames CAF would trust: no handshake first and huge "
          "or invalid headers") {
  auto hello = content_of(caf::make_message(std::string{"hi"}));
  // A message before any handshake (CAF 0.17 would take it).
  {
    frame_guard g{{}, true};
    auto f = direct(hello);
    CHECK(g.feed(f.data(), f.size()) == guard_refusal::no_handshake);
  }
  // The dialing side's handshake arriving at a dialed connection.
  {
    frame_guard g{{}, false};
    auto f = client_handshake(node(1));
    CHECK(g.feed(f.data(), f.size()) == guard_refusal::no_handshake);
  }
  // A header announcing 4 GiB (CAF resizes its buffer to it), before and after the
  // handshake, and a handshake above the handshake limit.
  basp::header huge{basp::message_type::direct_message, 0, 0xFFFFFFFFu, async_id, 0, 5};
  CHECK(after_handshake(encode(huge)) == guard_refusal::frame_too_large);
  basp::header big_hs{basp::message_type::client_handshake, 0, 1u << 20, 0, 0, 0};
  {
    frame_guard g{{}, true};
    auto f = encode(big_hs);
    CHECK(g.feed(f.data(), f.size()) == guard_refusal::frame_too_large);
  }
  // Limits are the settings'.
  {
    sv::cluster::frame_limits small;
    small.max_frame_bytes = 100;
    frame_guard g{small, true};
    auto stream = client_handshake(node(1));
    auto f = direct(content_of(caf::make_message(std::string(200, 'x'))));
    stream.insert(stream.end(), f.begin(), f.end());
    CHECK(g.feed(stream.data(), stream.size()) == guard_refusal::frame_too_large);
  }
  // Operations CAF does not know, and field combinations it would refuse.
  {
    auto bytes = encode(basp::header{basp::message_type::heartbeat, 0, 0, 0, 0, 0});
    bytes[0] = 9;
    CHECK(after_handshake(bytes) == guard_refusal::bad_header);
  }
  CHECK(after_handshake(frame(basp::message_type::heartbeat, buffer(4, 'x')))
        == guard_refusal::bad_header);
  CHECK(after_handshake(frame(basp::message_type::server_handshake, encode(node(2)), 1))
        == guard_refusal::bad_header);
  // A handshake with no payload (CAF 0.17 reads the node id from a missing buffer).
  {
    frame_guard g{{}, true};
    auto f = frame(basp::message_type::client_handshake, {});
    CHECK(g.feed(f.data(), f.size()) == guard_refusal::malformed);
  }
  // The first refusal sticks: nothing after it passes.
  {
    frame_guard g{{}, true};
    auto f = direct(hello);
    CHECK(g.feed(f.data(), f.size()) == guard_refusal::no_handshake);
    auto hs = client_handshake(node(1));
    CHECK(g.feed(hs.data(), hs.size()) == guard_refusal::no_handshake);
  }
}

TEST_CASE("the frame guard refuses contents that end CAF's broker or an actor") {
  // A config_value and stream messages: CAF 0.17 throws on a bad variant index, which
  // ends the BASP broker (fuzz/regressions/fuzz_cluster_message/caf-config-value-throws.bin).
  CHECK(after_handshake(direct(content_of(caf::make_message(caf::config_value{42}))))
        == guard_refusal::forbidden_type);
  // A byte buffer announcing 4 GiB: CAF resizes before it checks the length.
  {
    auto bytes = encode(uint16_t{0}, std::string{"@<>+@charbuf"});
    for (unsigned char c : {0xff, 0xff, 0xff, 0xff, 0x0f}) {
      bytes.push_back(static_cast<char>(c));
    }
    CHECK(after_handshake(direct(bytes)) == guard_refusal::forbidden_type);
  }
  // A lone error that is not a response: CAF ends the actor it reaches.
  auto lone = content_of(caf::make_message(caf::make_error(caf::sec::runtime_error)));
  CHECK(after_handshake(direct(lone)) == guard_refusal::forbidden_type);
  CHECK(after_handshake(direct(lone, response_id)) == guard_refusal::none);
  // Exit and down messages, durations.
  CHECK(after_handshake(direct(content_of(
            caf::make_message(caf::exit_msg{caf::actor_addr{}, caf::exit_reason::kill}))))
        == guard_refusal::forbidden_type);
  CHECK(after_handshake(direct(content_of(
            caf::make_message(caf::down_msg{caf::actor_addr{}, caf::exit_reason::kill}))))
        == guard_refusal::forbidden_type);
  CHECK(after_handshake(
            direct(content_of(caf::make_message(caf::duration{caf::time_unit::seconds, 1}))))
        == guard_refusal::forbidden_type);
  // Nesting: errors whose context holds an error, five deep.
  {
    auto e = caf::make_error(caf::sec::runtime_error);
    for (int i = 0; i < 5; ++i) {
      e = caf::make_error(caf::sec::runtime_error, e);
    }
    CHECK(after_handshake(direct(content_of(caf::make_message(e, 1))))
          == guard_refusal::forbidden_type);
  }
  // Stream stages and stream traffic (this cluster uses no CAF streams).
  {
    auto payload = encode(std::vector<caf::strong_actor_ptr>{});
    payload[0] = 1; // one stage
    auto rest = content_of(caf::make_message(1));
    payload.insert(payload.end(), rest.begin(), rest.end());
    CHECK(after_handshake(frame(basp::message_type::direct_message, payload, async_id, 0, 5))
          == guard_refusal::forbidden_type);
    CHECK(after_handshake(direct(content_of(caf::make_message(1)), 0x2000000000000000ull))
          == guard_refusal::forbidden_type);
  }
  // Bytes that do not parse as a message.
  CHECK(after_handshake(direct(buffer{'\0', '\0', '\x05', '@', '<', '>', '+', 'x'}))
        == guard_refusal::malformed);
  CHECK(after_handshake(direct(encode(uint16_t{0}, std::string{"@<>+@i32+"})))
        == guard_refusal::malformed);
}

TEST_CASE("a link request passes only for an actor on the sending node") {
  auto peer = node(1);
  auto link_to = [](const caf::node_id& where) {
    return encode(uint16_t{0}, std::string{"@<>+@atom+@strong_actor_ptr"}, caf::atom("link"),
                  caf::actor_id{1}, where);
  };
  // CAF casts the named actor to a proxy: an actor of the receiving node is refused.
  CHECK(after_handshake(direct(link_to(node(9))), peer) == guard_refusal::foreign_link);
  CHECK(after_handshake(direct(link_to(peer)), peer) == guard_refusal::none);
  CHECK(check_message_content(link_to(peer).data(), link_to(peer).size(), {}, async_id)
        == guard_refusal::foreign_link);
  auto own = node_bytes(peer);
  CHECK(check_message_content(link_to(peer).data(), link_to(peer).size(), own, async_id)
        == guard_refusal::none);
}
