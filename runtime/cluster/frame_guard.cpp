#include "runtime/cluster/frame_guard.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include "caf/atom.hpp"

namespace sv::cluster {

namespace {

// BASP 0.17 operations (caf/io/basp/message_type.hpp).
constexpr uint8_t op_server_handshake = 0;
constexpr uint8_t op_client_handshake = 1;
constexpr uint8_t op_direct_message = 2;
constexpr uint8_t op_routed_message = 3;
constexpr uint8_t op_monitor_message = 4;
constexpr uint8_t op_down_message = 5;
constexpr uint8_t op_heartbeat = 6;

// operation, two padding bytes, flags, payload length (32 bit), operation data, source
// and destination actor (64 bit each), in network byte order.
constexpr size_t header_size = 32;

// Errors nest messages (their context): deeper than this is refused.
constexpr int max_depth = 3;

// caf::message_id: the response flag (the top bit) and the category (the next but one
// two bits: 0 urgent, 1 normal, 2 and 3 stream traffic).
constexpr uint64_t response_flag = 0x8000000000000000ull;

constexpr uint64_t atom_bits(caf::atom_value a) {
  return static_cast<uint64_t>(a);
}

// Reads CAF 0.17's binary format (big-endian integers, varint sequence lengths).
class reader {
public:
  reader(const char* data, size_t size) : pos_(data), end_(data + size) {}

  size_t remaining() const {
    return static_cast<size_t>(end_ - pos_);
  }

  const char* pos() const {
    return pos_;
  }

  bool skip(size_t n) {
    if (n > remaining()) {
      return false;
    }
    pos_ += n;
    return true;
  }

  bool u8(uint8_t& x) {
    if (remaining() < 1) {
      return false;
    }
    x = static_cast<uint8_t>(*pos_++);
    return true;
  }

  bool u16(uint16_t& x) {
    uint64_t v = 0;
    if (!big_endian(2, v)) {
      return false;
    }
    x = static_cast<uint16_t>(v);
    return true;
  }

  bool u64(uint64_t& x) {
    return big_endian(8, x);
  }

  // CAF writes sequence sizes as a varint of at most 5 bytes.
  bool length(size_t& x) {
    uint64_t v = 0;
    for (int n = 0; n < 5; ++n) {
      uint8_t b = 0;
      if (!u8(b)) {
        return false;
      }
      v |= static_cast<uint64_t>(b & 0x7f) << (7 * n);
      if ((b & 0x80) == 0) {
        if (v > UINT32_MAX) {
          return false;
        }
        x = static_cast<size_t>(v);
        return true;
      }
    }
    return false;
  }

  bool string(std::string_view& out) {
    size_t n = 0;
    if (!length(n) || n > remaining()) {
      return false;
    }
    out = std::string_view{pos_, n};
    pos_ += n;
    return true;
  }

private:
  bool big_endian(size_t n, uint64_t& x) {
    if (remaining() < n) {
      return false;
    }
    x = 0;
    for (size_t i = 0; i < n; ++i) {
      x = (x << 8) | static_cast<uint8_t>(pos_[i]);
    }
    pos_ += n;
    return true;
  }

  const char* pos_;
  const char* end_;
};

// A node id: its kind (an atom), then for the default kind a process id and a 20-byte host
// id. The empty kind is an invalid (absent) node; other kinds (URIs) are refused. `out`
// gets the bytes as written, for comparisons.
guard_refusal node_id(reader& r, std::string_view& out) {
  auto start = r.pos();
  uint64_t kind = 0;
  if (!r.u64(kind)) {
    return guard_refusal::malformed;
  }
  if (kind == atom_bits(caf::atom("default"))) {
    if (!r.skip(4 + 20)) {
      return guard_refusal::malformed;
    }
  } else if (kind != atom_bits(caf::atom(""))) {
    return guard_refusal::forbidden_type;
  }
  out = std::string_view{start, static_cast<size_t>(r.pos() - start)};
  return guard_refusal::none;
}

// An actor handle: its id, then its node.
guard_refusal actor_handle(reader& r, std::string_view& node) {
  if (!r.skip(8)) {
    return guard_refusal::malformed;
  }
  return node_id(r, node);
}

guard_refusal content(reader& r, int depth, std::string_view sender_node, bool response = false);

guard_refusal error_value(reader& r, int depth) {
  uint8_t code = 0;
  uint64_t category = 0;
  if (!r.u8(code) || !r.u64(category)) {
    return guard_refusal::malformed;
  }
  return content(r, depth + 1, {});
}

guard_refusal repeated(reader& r, size_t per_item, guard_refusal (*item)(reader&)) {
  size_t n = 0;
  if (!r.length(n)) {
    return guard_refusal::malformed;
  }
  // Each item takes at least one byte: a count beyond what is left cannot be real.
  if (n > r.remaining()) {
    return guard_refusal::malformed;
  }
  for (size_t i = 0; i < n * per_item; ++i) {
    if (auto why = item(r); why != guard_refusal::none) {
      return why;
    }
  }
  return guard_refusal::none;
}

guard_refusal one_string(reader& r) {
  std::string_view s;
  return r.string(s) ? guard_refusal::none : guard_refusal::malformed;
}

guard_refusal one_actor(reader& r) {
  std::string_view node;
  return actor_handle(r, node);
}

struct fixed_type {
  const char* name;
  size_t size;
};

constexpr std::array<fixed_type, 16> fixed_types = {{
    {"@i8", 1},
    {"@u8", 1},
    {"bool", 1},
    {"@i16", 2},
    {"@u16", 2},
    {"@i32", 4},
    {"@u32", 4},
    {"float", 4},
    {"@i64", 8},
    {"@u64", 8},
    {"double", 8},
    {"@atom", 8},
    {"@timespan", 8},
    {"@timestamp", 8},
    {"@message_id", 8},
    {"@unit", 0},
}};

// One element of a message, by its type name.
guard_refusal element(reader& r, std::string_view name, int depth) {
  for (auto& f : fixed_types) {
    if (name == f.name) {
      return r.skip(f.size) ? guard_refusal::none : guard_refusal::malformed;
    }
  }
  if (name == "@str") {
    return one_string(r);
  }
  if (name == "@strvec" || name == "@strset") {
    return repeated(r, 1, one_string);
  }
  if (name == "@strmap") {
    return repeated(r, 2, one_string);
  }
  if (name == "@node") {
    std::string_view node;
    return node_id(r, node);
  }
  if (name == "@actor" || name == "@addr" || name == "@strong_actor_ptr") {
    return one_actor(r);
  }
  if (name == "@actorvec" || name == "@addrvec") {
    return repeated(r, 1, one_actor);
  }
  if (name == "@error") {
    return error_value(r, depth);
  }
  if (name.empty() || name.front() == '@') {
    // Every other built-in: config values and stream messages (a bad variant index
    // throws), byte buffers (resized before the length is checked), nested messages,
    // groups (decoding one can contact other hosts), exit and down messages (an exit
    // ends the actor it reaches), durations (CAF's rendering of a bad unit reads out of
    // bounds), and the rest nobody here sends.
    return guard_refusal::forbidden_type;
  }
  // The node's own types are protobuf messages: one length-prefixed byte string each.
  // (A name the node never registered is refused by CAF itself, cleanly.)
  return one_string(r);
}

guard_refusal content(reader& r, int depth, std::string_view sender_node, bool response) {
  if (depth > max_depth) {
    return guard_refusal::forbidden_type;
  }
  uint16_t token = 0;
  std::string_view names;
  if (!r.u16(token) || token != 0 || !r.string(names)) {
    return guard_refusal::malformed;
  }
  if (names == "@<>") {
    return guard_refusal::none;
  }
  constexpr std::string_view prefix = "@<>+";
  if (names.substr(0, prefix.size()) != prefix) {
    return guard_refusal::malformed;
  }
  auto elements = r.pos();
  auto rest = names.substr(prefix.size());
  // An error alone is what CAF 0.17 answers a failed request with; anywhere else it is
  // taken as the receiver's own failure, and the receiver ends.
  if (depth == 0 && rest == "@error" && !response) {
    return guard_refusal::forbidden_type;
  }
  while (true) {
    auto plus = rest.find('+');
    auto name = rest.substr(0, plus);
    if (name.empty()) {
      return guard_refusal::malformed;
    }
    if (auto why = element(r, name, depth); why != guard_refusal::none) {
      return why;
    }
    if (plus == std::string_view::npos) {
      break;
    }
    rest = rest.substr(plus + 1);
  }
  // CAF takes (link or unlink atom, strong_actor_ptr) as a link request between a proxy
  // and a local actor and casts the named actor to a proxy: it must be on the sender's
  // node (a local actor there is undefined behaviour).
  if (depth == 0 && names == "@<>+@atom+@strong_actor_ptr") {
    reader again{elements, static_cast<size_t>(r.pos() - elements)};
    uint64_t atom = 0;
    std::string_view node;
    again.u64(atom);
    if (atom == atom_bits(caf::atom("link")) || atom == atom_bits(caf::atom("unlink"))) {
      if (actor_handle(again, node) != guard_refusal::none || sender_node.empty()
          || node != sender_node) {
        return guard_refusal::foreign_link;
      }
    }
  }
  return guard_refusal::none;
}

uint32_t be32(const char* p) {
  uint32_t x = 0;
  for (int i = 0; i < 4; ++i) {
    x = (x << 8) | static_cast<uint8_t>(p[i]);
  }
  return x;
}

uint64_t be64(const char* p) {
  uint64_t x = 0;
  for (int i = 0; i < 8; ++i) {
    x = (x << 8) | static_cast<uint8_t>(p[i]);
  }
  return x;
}

} // namespace

const char* to_string(guard_refusal r) {
  switch (r) {
  case guard_refusal::none:
    return "none";
  case guard_refusal::bad_header:
    return "bad_header";
  case guard_refusal::frame_too_large:
    return "frame_too_large";
  case guard_refusal::no_handshake:
    return "no_handshake";
  case guard_refusal::forbidden_type:
    return "forbidden_type";
  case guard_refusal::malformed:
    return "malformed";
  case guard_refusal::foreign_link:
    return "foreign_link";
  case guard_refusal::connection_limit:
    return "connection_limit";
  case guard_refusal::handshake_timeout:
    return "handshake_timeout";
  case guard_refusal::pending_limit:
    return "pending_limit";
  }
  return "unknown";
}

guard_refusal check_message_content(const char* data, size_t size, std::string_view sender_node,
                                    uint64_t message_id) {
  reader r{data, size};
  auto category = (message_id >> 60) & 0x3;
  if (category >= 2) {
    return guard_refusal::forbidden_type; // stream traffic: this cluster uses no CAF streams
  }
  return content(r, 0, sender_node, (message_id & response_flag) != 0);
}

frame_guard::frame_guard(frame_limits limits, bool accepted)
    : limits_(limits), accepted_(accepted) {
  header_.reserve(header_size);
}

guard_refusal frame_guard::feed(const char* data, size_t size) {
  while (size > 0 && refusal_ == guard_refusal::none) {
    if (!in_payload_) {
      auto n = std::min(size, header_size - header_.size());
      header_.insert(header_.end(), data, data + n);
      data += n;
      size -= n;
      if (header_.size() == header_size) {
        refusal_ = on_header();
      }
      continue;
    }
    auto n = std::min(size, static_cast<size_t>(payload_len_) - payload_.size());
    payload_.insert(payload_.end(), data, data + n);
    data += n;
    size -= n;
    if (payload_.size() == payload_len_) {
      refusal_ = on_payload();
    }
  }
  return refusal_;
}

guard_refusal frame_guard::on_header() {
  const char* h = header_.data();
  operation_ = static_cast<uint8_t>(h[0]);
  payload_len_ = be32(h + 4);
  auto op_data = be64(h + 8);
  op_data_ = op_data;
  auto source = be64(h + 16);
  auto dest = be64(h + 24);
  header_.clear();
  // CAF's own validity rules (caf/io/basp/header.cpp), so that nothing CAF would refuse
  // reaches its buffer sizing.
  bool valid = false;
  switch (operation_) {
  case op_server_handshake:
    valid = op_data != 0;
    break;
  case op_client_handshake:
    valid = source == 0 && dest == 0;
    break;
  case op_direct_message:
  case op_routed_message:
    valid = dest != 0 && payload_len_ != 0;
    break;
  case op_monitor_message:
    valid = payload_len_ != 0 && op_data == 0;
    break;
  case op_down_message:
    valid = source != 0 && dest == 0 && payload_len_ != 0 && op_data == 0;
    break;
  case op_heartbeat:
    valid = source == 0 && dest == 0 && payload_len_ == 0 && op_data == 0;
    break;
  default:
    break;
  }
  if (!valid) {
    return guard_refusal::bad_header;
  }
  auto expected = accepted_ ? op_client_handshake : op_server_handshake;
  if (!handshake_done()) {
    if (operation_ != expected) {
      return guard_refusal::no_handshake;
    }
    // A handshake carries at least a node id (CAF reads it from a missing payload).
    if (payload_len_ == 0) {
      return guard_refusal::malformed;
    }
    if (payload_len_ > limits_.max_handshake_bytes) {
      return guard_refusal::frame_too_large;
    }
  } else {
    // Only the dialing side sends client handshakes, only the accepting one server ones.
    auto other = accepted_ ? op_server_handshake : op_client_handshake;
    if (operation_ == other) {
      return guard_refusal::bad_header;
    }
    if (payload_len_ > limits_.max_frame_bytes) {
      return guard_refusal::frame_too_large;
    }
    if (operation_ == expected && payload_len_ > limits_.max_handshake_bytes) {
      return guard_refusal::frame_too_large;
    }
  }
  largest_ = std::max(largest_, payload_len_);
  if (payload_len_ == 0) {
    return guard_refusal::none;
  }
  in_payload_ = true;
  payload_.clear();
  payload_.reserve(payload_len_);
  return guard_refusal::none;
}

guard_refusal frame_guard::on_payload() {
  in_payload_ = false;
  reader r{payload_.data(), payload_.size()};
  std::string_view first;
  std::string_view second;
  guard_refusal why = guard_refusal::none;
  switch (operation_) {
  case op_server_handshake:
  case op_client_handshake:
    // Both start with the sender's node id (then, from a server, its application
    // identifiers and published actor: plain strings and an id).
    why = node_id(r, first);
    if (why == guard_refusal::none) {
      if (first.size() <= 8) {
        why = guard_refusal::malformed; // an absent node id
      } else if (!handshake_done()) {
        peer_node_.assign(first.data(), first.size());
      }
    }
    break;
  case op_direct_message: {
    size_t stages = 0;
    if (!r.length(stages)) {
      why = guard_refusal::malformed;
    } else if (stages != 0) {
      why = guard_refusal::forbidden_type; // this cluster uses no CAF streams
    } else {
      why = check_message_content(r.pos(), r.remaining(), peer_node_, op_data_);
    }
    break;
  }
  case op_routed_message: {
    why = node_id(r, first);
    if (why == guard_refusal::none) {
      why = node_id(r, second);
    }
    size_t stages = 0;
    if (why == guard_refusal::none) {
      if (!r.length(stages)) {
        why = guard_refusal::malformed;
      } else if (stages != 0) {
        why = guard_refusal::forbidden_type;
      } else {
        why = check_message_content(r.pos(), r.remaining(), first, op_data_);
      }
    }
    break;
  }
  case op_monitor_message:
    why = node_id(r, first);
    if (why == guard_refusal::none) {
      why = node_id(r, second);
    }
    break;
  case op_down_message:
    why = node_id(r, first);
    if (why == guard_refusal::none) {
      why = node_id(r, second);
    }
    if (why == guard_refusal::none) {
      why = error_value(r, 0);
    }
    break;
  default:
    why = guard_refusal::bad_header;
    break;
  }
  payload_.clear();
  if (payload_.capacity() > (64u << 10)) {
    payload_.shrink_to_fit();
  }
  return why;
}

} // namespace sv::cluster
