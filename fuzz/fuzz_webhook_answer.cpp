// libFuzzer target: the answers of the webhooks a node calls (actors/integrations: the
// entitlement service, recommendations, ad decisions, the CMS's pages), read as the
// webhooks read them (JSON, unknown fields ignored), and what the node takes from them.

#include <cstddef>
#include <cstdint>
#include <string>

#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/util/json_util.h>

#include "actors/integrations/integrations.pb.h"

namespace {

template <class Message>
bool read(const std::string& text, Message& m) {
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = true;
  return google::protobuf::util::JsonStringToMessage(text, &m, opts).ok();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bool quiet = [] {
    google::protobuf::SetLogHandler(nullptr);
    return true;
  }();
  (void)quiet;
  std::string text{reinterpret_cast<const char*>(data), size};
  streamverse::v1::EntitlementAnswer e;
  if (read(text, e)) {
    (void)e.entitled();
  }
  streamverse::v1::RecommendationList r;
  if (read(text, r)) {
    std::string all;
    for (auto& id : r.content_ids()) {
      all += id;
    }
  }
  streamverse::v1::AdDecision a;
  if (read(text, a)) {
    (void)a.ad_id().size();
    (void)a.duration_ms();
  }
  streamverse::v1::CmsPage p;
  (void)read(text, p);
  return 0;
}
