#pragma once

// Makes every protoc-generated message of package streamverse.v1 usable as a CAF 0.17
// message payload, locally and across nodes.
//
// On the wire a protobuf message is one length-prefixed byte string produced by
// SerializeToString. CAF 0.17 swallows a failed decode and hands the receiver an empty
// message `()` instead, so every actor that receives cluster messages must answer `()`
// with `wire::undecodable(...)` (see below). Nothing ever crashes on a bad payload.
//
// Adding a message type: put it in a .proto of package streamverse.v1 beside its owner
// and register it in runtime/wire/message_types.cpp (the one registration point).

#include <atomic>
#include <cstdint>
#include <string>
#include <type_traits>

#include <google/protobuf/message_lite.h>

#include "caf/error.hpp"
#include "caf/meta/load_callback.hpp"
#include "caf/meta/save_callback.hpp"
#include "caf/sec.hpp"

namespace sv::wire {

template <class T>
using enable_if_proto_t =
    std::enable_if_t<std::is_base_of<google::protobuf::MessageLite, T>::value>;

/// Process-wide counters of protobuf encoding work done on CAF's behalf. Relaxed atomics:
/// they are statistics, not synchronization.
struct codec_counters {
  std::atomic<uint64_t> encoded{0};
  std::atomic<uint64_t> decoded{0};
  std::atomic<uint64_t> decode_failures{0};
};

/// The one instance of the counters (exported as metrics by the node).
codec_counters& counters();

/// CAF 0.17 inspector for protobuf messages. Serializers run the save callback (encode
/// into `buf`) before writing `buf`; deserializers read `buf`, then run the load
/// callback (parse). A parse failure yields an error that CAF turns into `()`.
template <class Inspector, class T, class = enable_if_proto_t<T>>
typename Inspector::result_type inspect(Inspector& f, T& x) {
  std::string buf;
  auto encode = caf::meta::save_callback([&]() -> caf::error {
    if (!x.SerializeToString(&buf)) {
      return caf::make_error(caf::sec::invalid_argument, "cannot encode", x.GetTypeName());
    }
    counters().encoded.fetch_add(1, std::memory_order_relaxed);
    return caf::none;
  });
  auto decode = caf::meta::load_callback([&]() -> caf::error {
    if (!x.ParseFromString(buf)) {
      counters().decode_failures.fetch_add(1, std::memory_order_relaxed);
      return caf::make_error(caf::sec::invalid_argument, "cannot decode", x.GetTypeName());
    }
    counters().decoded.fetch_add(1, std::memory_order_relaxed);
    return caf::none;
  });
  return f(encode, buf, decode);
}

/// Renders a protobuf message for CAF's deep_to_string and for logs.
template <class T, class = enable_if_proto_t<T>>
std::string to_string(const T& x) {
  return x.GetTypeName() + "{" + x.ShortDebugString() + "}";
}

} // namespace sv::wire

namespace streamverse::v1 {
// Argument-dependent lookup finds the glue for every generated class of the package.
using sv::wire::inspect;
using sv::wire::to_string;
} // namespace streamverse::v1
