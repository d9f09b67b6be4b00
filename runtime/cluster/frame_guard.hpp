#pragma once

// The cluster port's gatekeeper (issue #18): checks the bytes of every connection on the
// way into CAF 0.17's BASP, before CAF trusts them. CAF 0.17 sizes its read buffer from a
// frame header's payload length (a header announcing 4 GiB allocates 4 GiB), lets the
// first frame of a connection be anything, and some of its built-in types end the BASP
// broker (and with it every link of the node) when decoded from hostile bytes: a
// config_value or stream message with a bad variant index throws, a byte buffer is resized
// to an announced length before the length is checked, nested messages recurse without a
// bound, and a link request naming a local actor is cast to a proxy.
//
// A frame_guard follows one connection's incoming byte stream frame by frame and refuses
// (and the connection is then closed) when:
// - a header is not one CAF would accept, or announces more than the limit;
// - the first frame is not the handshake the connection's side expects, or is large;
// - a message's content holds a type outside the allow-list (the node's own protobuf
//   types and CAF's plain built-ins: integers, strings, atoms, actor handles, errors),
//   is nested deeper than 3, carries stream stages or stream traffic, is a lone error
//   that is not a response (CAF ends the receiving actor), or does not parse; or a link
//   request names an actor that is not on the sending node.
// The checks only read; bytes that pass are handed to CAF unchanged.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sv::cluster {

enum class guard_refusal : uint8_t {
  none,
  bad_header,        // an operation or field combination CAF would refuse anyway
  frame_too_large,   // a payload length above the limit
  no_handshake,      // the first frame is not the expected handshake
  forbidden_type,    // a type outside the allow-list, stream stages, or nesting too deep
  malformed,         // a payload that does not parse
  foreign_link,      // a link request naming an actor that is not on the sending node
  connection_limit,  // (accepting) too many connections
  handshake_timeout, // (sweeping) no handshake within the deadline
  pending_limit      // (accepting) the oldest connection still without handshake, pushed out
};

constexpr size_t guard_refusal_count = 10;

/// A short name for metrics labels and logs.
const char* to_string(guard_refusal r);

struct frame_limits {
  /// Largest payload of a frame after the handshake.
  uint32_t max_frame_bytes = 16u << 20;
  /// Largest payload of a connection's first frame (the handshake).
  uint32_t max_handshake_bytes = 64u << 10;
};

/// Checks one connection's incoming bytes, fed in stream order in pieces of any size.
class frame_guard {
public:
  /// `accepted`: the other side dialed us (it must open with a client handshake);
  /// otherwise we dialed it (it must open with a server handshake).
  frame_guard(frame_limits limits, bool accepted);

  /// Checks the next bytes; the first refusal sticks.
  guard_refusal feed(const char* data, size_t size);

  /// Whether the other side's handshake has passed.
  bool handshake_done() const {
    return peer_node_.size() > 0;
  }

  guard_refusal refusal() const {
    return refusal_;
  }

  /// The largest payload announced on this connection so far (to size the limit by).
  uint32_t largest_payload() const {
    return largest_;
  }

private:
  guard_refusal on_header();
  guard_refusal on_payload();

  frame_limits limits_;
  bool accepted_;
  guard_refusal refusal_ = guard_refusal::none;
  std::vector<char> header_;
  std::vector<char> payload_;
  uint8_t operation_ = 0;
  uint32_t payload_len_ = 0;
  uint64_t op_data_ = 0;
  uint32_t largest_ = 0;
  bool in_payload_ = false;
  // The other side's node id as it was written in its handshake.
  std::string peer_node_;
};

/// Checks a message's content as CAF 0.17 writes it (type names, then each element).
/// `sender_node`: the serialized node id of the node that sent it (link requests must name
/// one of its actors); empty when unknown (then no link request passes). `message_id`: the
/// BASP header's operation data (a lone error passes only in a response).
guard_refusal check_message_content(const char* data, size_t size, std::string_view sender_node,
                                    uint64_t message_id);

} // namespace sv::cluster
