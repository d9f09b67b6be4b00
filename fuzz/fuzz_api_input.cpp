// libFuzzer target: what a client of the player API controls (actors/api): the request
// line's path and query, bearer tokens, session ids, and every JSON or protobuf body the
// API reads, parsed with the API's own options. The fast reader of heartbeat bodies
// (read_int_fields) is checked against protobuf's JSON parser: for every body it takes,
// protobuf must take it too and read the same numbers.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/util/json_util.h>

#include "actors/analytics/analytics.pb.h"
#include "actors/analytics/events.hpp"
#include "actors/api/api.pb.h"
#include "actors/api/auth.hpp"
#include "actors/api/routes.hpp"
#include "actors/content/content.pb.h"

namespace {

const std::string key = "fuzzing-key-0123456789-0123456789-0123";

template <class Message>
void both_forms(const std::string& text) {
  Message m;
  google::protobuf::util::JsonParseOptions o;
  o.ignore_unknown_fields = false;
  if (google::protobuf::util::JsonStringToMessage(text, &m, o).ok()) {
    std::string back;
    (void)google::protobuf::util::MessageToJsonString(m, &back);
  }
  Message b;
  (void)b.ParseFromString(text);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bool quiet = [] { // protobuf logs every invalid UTF-8 string it is given
    google::protobuf::SetLogHandler(nullptr);
    return true;
  }();
  (void)quiet;
  std::string text{reinterpret_cast<const char*>(data), size};
  // Routing: any method and path.
  for (auto* method : {"GET", "POST", "PUT", "DELETE"}) {
    auto r = sv::api::match(method, text);
    if (r.match) {
      (void)sv::api::class_of(*r.match);
    }
  }
  (void)sv::api::percent_decode(text, true);
  (void)sv::api::query_param(text, "title");
  (void)sv::api::json_escape(text);
  (void)sv::api::problem(400, "invalid_argument", text);
  // Credentials.
  static const sv::api::token_keys keys{key};
  auto v = keys.verify(text, 1'800'000'000);
  if (v.ok() && v.value().user.empty()) {
    __builtin_trap(); // a token without a user taken
  }
  (void)sv::api::parse_scopes(text);
  if (sv::api::check_handle(text, "u-1", key)) {
    __builtin_trap(); // a session id nobody made with the key
  }
  // The heartbeat body's fast reader agrees with protobuf's parser.
  static const std::vector<std::string_view> names = {"position_ms", "bitrate_kbps", "buffer_ms",
                                                      "dropped_frames"};
  std::vector<int64_t> fast;
  if (sv::api::read_int_fields(text, names, fast)) {
    streamverse::v1::api::Heartbeat hb;
    google::protobuf::util::JsonParseOptions o;
    o.ignore_unknown_fields = false;
    if (!google::protobuf::util::JsonStringToMessage(text, &hb, o).ok()
        || hb.position_ms() != fast[0] || hb.bitrate_kbps() != fast[1] || hb.buffer_ms() != fast[2]
        || hb.dropped_frames() != fast[3]) {
      __builtin_trap();
    }
  }
  // Every body the API reads.
  both_forms<streamverse::v1::api::OpenSession>(text);
  both_forms<streamverse::v1::api::Heartbeat>(text);
  both_forms<streamverse::v1::api::SessionCommand>(text);
  both_forms<streamverse::v1::api::HeartbeatBatch>(text);
  both_forms<streamverse::v1::ContentMetadata>(text);
  sv::analytics::event_batch batch;
  google::protobuf::util::JsonParseOptions o;
  if (google::protobuf::util::JsonStringToMessage(text, &batch, o).ok()
      || batch.ParseFromString(text)) {
    for (auto& e : batch.events()) {
      (void)sv::analytics::validate(e, 1'800'000'000'000, {});
    }
  }
  return 0;
}
