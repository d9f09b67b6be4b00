// sv-hostile: a stranger's client for a node's ports, to check that the node survives it
// (issue #18). Every mode is bounded in connections, bytes and time, seeded, and prints one
// JSON line with what it did and what the node answered.
//
//   sv-hostile random     --target H:P [--connections N] [--bytes B] [--seed S]
//       N short connections, each writes 1..B random bytes and closes.
//   sv-hostile huge-frame --target H:P [--connections N] [--bytes B] [--hold-ms T]
//       N connections, each sends a BASP header announcing a 4 GiB payload (half of them
//       after a well-formed handshake), then B bytes of it, holds the connection T ms.
//   sv-hostile idle       --target H:P [--connections N] [--hold-ms T]
//       N connections that send nothing, held T ms.
//   sv-hostile tls-half   --target H:P [--connections N] [--hold-ms T]
//       N connections that send the start of a TLS ClientHello and stop there.
//   sv-hostile messages   --target H:P [--actors K] [--rounds R] [--payload FILE] [--seed S]
//       Connections with a well-formed BASP handshake, then, R times for each actor id
//       1..K and the published actor, as requests and as plain messages: messages of wrong
//       types, of an unregistered type, lone errors, exit and down messages, durations, a
//       link request naming the node's own actor, a byte buffer announcing 4 GiB, messages
//       nested 20,000 deep, random contents, and FILE (a message's content sent as is,
//       e.g. fuzz/regressions/*/*.bin). A connection the node closes is replaced by a new one;
//       messages_refused counts those.
//
// Exit codes: 0 done (whatever the node did), 1 the node could not be reached at all,
// 2 bad arguments.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/binary_deserializer.hpp"
#include "caf/binary_serializer.hpp"
#include "caf/io/basp/header.hpp"
#include "caf/message.hpp"
#include "caf/node_id.hpp"
#include "caf/system_messages.hpp"
#include "runtime/cluster/cluster.pb.h"
#include "runtime/wire/message_types.hpp"
#include "runtime/wire/protobuf.hpp"

namespace {

constexpr int exit_unreachable = 1;
constexpr int exit_usage = 2;

const char* usage =
    "usage: sv-hostile random|huge-frame|idle|tls-half|messages --target HOST:PORT\n"
    "         [--connections N] [--bytes B] [--hold-ms T] [--actors K] [--rounds R]\n"
    "         [--payload FILE] [--seed S]\n";

using clock_type = std::chrono::steady_clock;
using buffer = std::vector<char>;

struct options {
  std::string mode;
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  size_t connections = 200;
  size_t bytes = 4096;
  long hold_ms = 1000;
  size_t actors = 64;
  size_t rounds = 1;
  std::string payload_file;
  uint64_t seed = 1;
};

struct tally {
  size_t connections = 0;
  size_t connect_failures = 0;
  size_t bytes_sent = 0;
  size_t bytes_received = 0;
  size_t closed_by_peer = 0;
  size_t messages = 0;
  bool handshake = false;
};

bool parse_number(const char* text, uint64_t max, uint64_t& out) {
  char* end = nullptr;
  errno = 0;
  auto v = std::strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v > max) {
    return false;
  }
  out = v;
  return true;
}

bool parse(int argc, char** argv, options& o) {
  if (argc < 2) {
    return false;
  }
  o.mode = argv[1];
  static const std::set<std::string> modes = {"random", "huge-frame", "idle", "tls-half",
                                              "messages"};
  if (modes.count(o.mode) == 0) {
    return false;
  }
  for (int i = 2; i < argc; ++i) {
    std::string key = argv[i];
    if (i + 1 >= argc) {
      return false;
    }
    const char* value = argv[++i];
    uint64_t n = 0;
    if (key == "--target") {
      std::string t = value;
      auto colon = t.rfind(':');
      if (colon == std::string::npos || !parse_number(t.c_str() + colon + 1, 65535, n) || n == 0) {
        return false;
      }
      o.host = t.substr(0, colon);
      o.port = static_cast<uint16_t>(n);
    } else if (key == "--payload") {
      o.payload_file = value;
    } else if (!parse_number(value, 1'000'000'000, n)) {
      return false;
    } else if (key == "--connections" && n >= 1 && n <= 100'000) {
      o.connections = n;
    } else if (key == "--bytes" && n <= 64 * 1024 * 1024) {
      o.bytes = n;
    } else if (key == "--hold-ms" && n <= 600'000) {
      o.hold_ms = static_cast<long>(n);
    } else if (key == "--actors" && n >= 1 && n <= 100'000) {
      o.actors = n;
    } else if (key == "--rounds" && n >= 1 && n <= 10'000) {
      o.rounds = n;
    } else if (key == "--seed") {
      o.seed = n;
    } else {
      return false;
    }
  }
  return o.port != 0;
}

// A blocking TCP connection with 2 s send and receive timeouts, or -1; counted in `t`.
int dial(const options& o, tally& t) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ++t.connect_failures;
    return -1;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(o.port);
  if (::inet_pton(AF_INET, o.host.c_str(), &addr.sin_addr) != 1) {
    ::close(fd);
    ++t.connect_failures;
    return -1;
  }
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    ++t.connect_failures;
    return -1;
  }
  ++t.connections;
  return fd;
}

// Writes all of data; false when the peer closed or the write timed out.
bool write_all(int fd, const char* data, size_t size, tally& t) {
  while (size > 0) {
    auto n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n <= 0) {
      ++t.closed_by_peer;
      return false;
    }
    t.bytes_sent += static_cast<size_t>(n);
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool read_exactly(int fd, char* data, size_t size) {
  while (size > 0) {
    auto n = ::recv(fd, data, size, 0);
    if (n <= 0) {
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// Reads whatever the node sent without waiting; false once it closed the connection.
bool drain(int fd, tally& t) {
  std::array<char, 16384> chunk{};
  for (;;) {
    auto n = ::recv(fd, chunk.data(), chunk.size(), MSG_DONTWAIT);
    if (n > 0) {
      t.bytes_received += static_cast<size_t>(n);
      continue;
    }
    if (n == 0) {
      return false;
    }
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  }
}

void raise_fd_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
}

// Holds the open connections for hold_ms, counting those the node closes.
void hold(std::vector<int>& fds, long hold_ms, tally& t) {
  auto until = clock_type::now() + std::chrono::milliseconds{hold_ms};
  std::vector<bool> open(fds.size(), true);
  while (clock_type::now() < until) {
    for (size_t i = 0; i < fds.size(); ++i) {
      if (open[i] && !drain(fds[i], t)) {
        open[i] = false;
        ++t.closed_by_peer;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
  for (auto fd : fds) {
    ::close(fd);
  }
  fds.clear();
}

buffer random_bytes(std::mt19937_64& rng, size_t size) {
  buffer out(size);
  for (auto& c : out) {
    c = static_cast<char>(rng() & 0xff);
  }
  return out;
}

buffer encode_header(const caf::io::basp::header& hdr) {
  buffer out;
  caf::binary_serializer sink{nullptr, out};
  auto copy = hdr;
  if (sink(copy)) {
    std::cerr << "cannot encode a BASP header\n";
    std::exit(exit_usage);
  }
  return out;
}

// -- modes ----------------------------------------------------------------------------------

void run_random(const options& o, tally& t) {
  std::mt19937_64 rng{o.seed};
  for (size_t i = 0; i < o.connections; ++i) {
    int fd = dial(o, t);
    if (fd < 0) {
      continue;
    }
    auto size = o.bytes == 0 ? 0 : 1 + rng() % o.bytes;
    auto data = random_bytes(rng, size);
    write_all(fd, data.data(), data.size(), t);
    drain(fd, t);
    ::close(fd);
  }
}

void run_idle(const options& o, tally& t, bool tls_hello) {
  // The first bytes of a TLS 1.2 ClientHello record: a handshake record header announcing
  // 512 bytes, then the handshake's type and part of its length.
  const unsigned char hello[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01};
  std::vector<int> fds;
  for (size_t i = 0; i < o.connections; ++i) {
    int fd = dial(o, t);
    if (fd < 0) {
      continue;
    }
    if (tls_hello) {
      write_all(fd, reinterpret_cast<const char*>(hello), sizeof(hello), t);
    }
    fds.push_back(fd);
  }
  hold(fds, o.hold_ms, t);
}

struct hostile_config : caf::actor_system_config {
  hostile_config() {
    sv::wire::register_message_types(*this);
    set("scheduler.max-threads", size_t{1});
    set("logger.console-verbosity", caf::atom("quiet"));
    set("logger.file-verbosity", caf::atom("quiet"));
  }
};

// A message's content as CAF 0.17 writes it (type names, then the elements).
buffer encode_message(caf::actor_system& sys, const caf::message& msg) {
  buffer out;
  caf::binary_serializer sink{sys, out};
  auto copy = msg;
  if (sink(copy)) {
    std::cerr << "cannot encode a message\n";
    std::exit(exit_usage);
  }
  return out;
}

// The contents sent to each actor: well-formed messages of types nobody expects, one of a
// type name the node never registered, empty ones, and random bytes.
std::vector<buffer> hostile_contents(caf::actor_system& sys, std::mt19937_64& rng, const options& o,
                                     const caf::node_id& target) {
  std::vector<buffer> out;
  streamverse::v1::Hello hello;
  hello.set_node_name(std::string(300, 'x'));
  hello.set_protocol(-1);
  streamverse::v1::Gossip gossip;
  gossip.add_members()->set_incarnation(UINT64_MAX);
  out.push_back(encode_message(sys, caf::make_message(std::string{"junk"})));
  out.push_back(encode_message(sys, caf::make_message(int32_t{7}, 3.5, std::string{"x"})));
  out.push_back(encode_message(sys, caf::make_message(caf::atom("get"), caf::atom("put"))));
  out.push_back(encode_message(sys, caf::make_message(hello)));
  out.push_back(encode_message(sys, caf::make_message(gossip, int64_t{-1})));
  out.push_back(encode_message(sys, caf::make_message()));
  out.push_back(encode_message(sys, caf::make_message(caf::error{})));
  out.push_back(encode_message(sys, caf::make_message(caf::make_error(caf::sec::runtime_error))));
  out.push_back(encode_message(
      sys, caf::make_message(caf::exit_msg{caf::actor_addr{}, caf::exit_reason::kill})));
  out.push_back(encode_message(
      sys, caf::make_message(caf::down_msg{caf::actor_addr{}, caf::exit_reason::kill})));
  out.push_back(encode_message(sys, caf::make_message(caf::duration{caf::time_unit::seconds, 1})));
  out.push_back(encode_message(sys, caf::make_message(caf::make_message(std::string{"inner"}))));
  {
    // Raw contents: a link request naming an actor of the target itself (CAF casts it to
    // a proxy), a byte buffer announcing 4 GiB (CAF resizes before it checks), and
    // messages nested 20,000 deep.
    buffer link;
    caf::binary_serializer sink{sys, link};
    caf::actor_id local = 1;
    if (sink(uint16_t{0}, std::string{"@<>+@atom+@strong_actor_ptr"}, caf::atom("link"), local,
             target)) {
      std::exit(exit_usage);
    }
    out.push_back(std::move(link));
    buffer bytes;
    caf::binary_serializer sink2{sys, bytes};
    if (sink2(uint16_t{0}, std::string{"@<>+@charbuf"})) {
      std::exit(exit_usage);
    }
    for (unsigned char c : {0xff, 0xff, 0xff, 0xff, 0x0f}) {
      bytes.push_back(static_cast<char>(c));
    }
    out.push_back(std::move(bytes));
    buffer nested;
    caf::binary_serializer sink3{sys, nested};
    for (int i = 0; i < 20000; ++i) {
      if (sink3(uint16_t{0}, std::string{"@<>+@message"})) {
        std::exit(exit_usage);
      }
    }
    if (sink3(uint16_t{0}, std::string{"@<>"})) {
      std::exit(exit_usage);
    }
    out.push_back(std::move(nested));
  }
  {
    // A type the node does not know: the token of a message with custom types, the names,
    // then bytes.
    buffer unknown;
    caf::binary_serializer sink{sys, unknown};
    uint16_t token = 0;
    std::string names = "@<>+sv_no_such_type";
    if (sink(token, names)) {
      std::exit(exit_usage);
    }
    auto tail = random_bytes(rng, 32);
    unknown.insert(unknown.end(), tail.begin(), tail.end());
    out.push_back(std::move(unknown));
  }
  for (int i = 0; i < 8; ++i) {
    out.push_back(random_bytes(rng, 1 + rng() % 256));
  }
  if (!o.payload_file.empty()) {
    std::ifstream in{o.payload_file, std::ios::binary};
    if (!in) {
      std::cerr << "cannot read " << o.payload_file << "\n";
      std::exit(exit_usage);
    }
    out.emplace_back(std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{});
  }
  return out;
}

// Dials and completes a BASP handshake: the node speaks first (its server handshake names
// its node and the actor it published), then we answer with a node id of our own making.
// Returns the socket, or -1.
int dial_basp(const options& o, caf::actor_system& sys, std::mt19937_64& rng, tally& t,
              caf::node_id& peer, caf::actor_id& published) {
  int fd = dial(o, t);
  if (fd < 0) {
    return -1;
  }
  buffer head(caf::io::basp::header_size);
  caf::io::basp::header hdr;
  buffer payload;
  bool ok = read_exactly(fd, head.data(), head.size());
  if (ok) {
    caf::binary_deserializer source{nullptr, head};
    ok = !source(hdr) && hdr.operation == caf::io::basp::message_type::server_handshake
         && hdr.payload_len <= (1u << 20);
  }
  if (ok) {
    payload.resize(hdr.payload_len);
    ok = read_exactly(fd, payload.data(), payload.size());
  }
  if (ok) {
    caf::binary_deserializer source{sys, payload};
    std::vector<std::string> app_ids;
    std::set<std::string> iface;
    ok = !source(peer, app_ids, published, iface);
  }
  buffer body;
  if (ok) {
    caf::node_id::default_data::host_id_type host{};
    for (auto& b : host) {
      b = static_cast<uint8_t>(rng() & 0xff);
    }
    auto self = caf::make_node_id(static_cast<uint32_t>(::getpid()), host);
    caf::binary_serializer sink{sys, body};
    ok = !sink(self);
  }
  if (ok) {
    auto hs = encode_header({caf::io::basp::message_type::client_handshake, 0,
                             static_cast<uint32_t>(body.size()), 0, 0, 0});
    ok = write_all(fd, hs.data(), hs.size(), t) && write_all(fd, body.data(), body.size(), t);
  }
  if (!ok) {
    ::close(fd);
    return -1;
  }
  t.handshake = true;
  return fd;
}

// A direct message frame: an empty list of stream stages, then the content.
buffer direct_frame(caf::actor_system& sys, const buffer& content, caf::actor_id dest,
                    uint64_t message_id) {
  buffer msg;
  {
    caf::binary_serializer sink{sys, msg};
    std::vector<caf::strong_actor_ptr> stages;
    if (sink(stages)) {
      std::exit(exit_usage);
    }
  }
  msg.insert(msg.end(), content.begin(), content.end());
  auto frame = encode_header({caf::io::basp::message_type::direct_message, 0,
                              static_cast<uint32_t>(msg.size()), message_id, 0, dest});
  frame.insert(frame.end(), msg.begin(), msg.end());
  return frame;
}

// Half the connections announce the huge payload as their first frame, the other half
// after a well-formed handshake.
void run_huge_frame(const options& o, tally& t) {
  hostile_config cfg;
  caf::actor_system sys{cfg};
  std::mt19937_64 rng{o.seed};
  caf::io::basp::header hdr{caf::io::basp::message_type::direct_message, 0, 0xFFFFFFFFu,
                            caf::message_id{}.integer_value(),           1, 1};
  auto head = encode_header(hdr);
  std::vector<int> fds;
  for (size_t i = 0; i < o.connections; ++i) {
    int fd = -1;
    if (i % 2 == 1) {
      caf::node_id peer;
      caf::actor_id published = 0;
      fd = dial_basp(o, sys, rng, t, peer, published);
    } else {
      fd = dial(o, t);
    }
    if (fd < 0) {
      continue;
    }
    auto body = random_bytes(rng, o.bytes);
    if (write_all(fd, head.data(), head.size(), t)) {
      write_all(fd, body.data(), body.size(), t);
    }
    fds.push_back(fd);
  }
  hold(fds, o.hold_ms, t);
}

// Each content to each actor, as a plain message and as a request, over one connection
// while the node keeps it, then over a new one (a node that closes a connection on a bad
// message must still take the next connection).
void run_messages(const options& o, tally& t, size_t& refused) {
  hostile_config cfg;
  caf::actor_system sys{cfg};
  std::mt19937_64 rng{o.seed};
  caf::node_id peer;
  caf::actor_id published = 0;
  int fd = dial_basp(o, sys, rng, t, peer, published);
  if (fd < 0) {
    return;
  }
  auto contents = hostile_contents(sys, rng, o, peer);
  std::vector<caf::actor_id> targets;
  if (published != 0) {
    targets.push_back(published);
  }
  for (caf::actor_id id = 1; id <= o.actors; ++id) {
    targets.push_back(id);
  }
  uint64_t request = 1;
  for (size_t r = 0; r < o.rounds; ++r) {
    for (auto dest : targets) {
      for (auto& content : contents) {
        for (bool as_request : {false, true}) {
          auto id = caf::message_id{};
          if (as_request) {
            id = caf::message_id{caf::message_id::default_async_value | request++};
          }
          if (fd < 0) {
            fd = dial_basp(o, sys, rng, t, peer, published);
            if (fd < 0) {
              return; // the node no longer takes connections
            }
          }
          auto frame = direct_frame(sys, content, dest, id.integer_value());
          ++t.messages;
          if (!write_all(fd, frame.data(), frame.size(), t)) {
            ++refused;
            ::close(fd);
            fd = -1;
            continue;
          }
          // Wait briefly for the node's verdict: a closed connection means refused.
          pollfd p{fd, POLLIN, 0};
          if (::poll(&p, 1, 5) > 0 && !drain(fd, t)) {
            ++refused;
            ::close(fd);
            fd = -1;
          }
        }
      }
    }
  }
  if (fd >= 0) {
    std::vector<int> fds{fd};
    hold(fds, std::min(o.hold_ms, 2000L), t);
  }
}

} // namespace

int main(int argc, char** argv) {
  options o;
  if (!parse(argc, argv, o)) {
    std::cerr << usage;
    return exit_usage;
  }
  raise_fd_limit();
  tally t;
  size_t refused = 0;
  auto start = clock_type::now();
  if (o.mode == "random") {
    run_random(o, t);
  } else if (o.mode == "huge-frame") {
    run_huge_frame(o, t);
  } else if (o.mode == "idle") {
    run_idle(o, t, false);
  } else if (o.mode == "tls-half") {
    run_idle(o, t, true);
  } else {
    run_messages(o, t, refused);
  }
  auto secs = std::chrono::duration<double>(clock_type::now() - start).count();
  std::printf("{\"mode\":\"%s\",\"connections\":%zu,\"connect_failures\":%zu,"
              "\"bytes_sent\":%zu,\"bytes_received\":%zu,\"closed_by_peer\":%zu,"
              "\"messages\":%zu,\"messages_refused\":%zu,\"handshake\":%s,"
              "\"seconds\":%.3f}\n",
              o.mode.c_str(), t.connections, t.connect_failures, t.bytes_sent, t.bytes_received,
              t.closed_by_peer, t.messages, refused, t.handshake ? "true" : "false", secs);
  return t.connections == 0 ? exit_unreachable : 0;
}
