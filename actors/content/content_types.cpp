#include "actors/content/content_types.hpp"

#include "actors/content/content.pb.h"
#include "caf/actor_system_config.hpp"
#include "runtime/wire/protobuf.hpp"

namespace sv::content {

namespace {

template <class... Ts>
void add_all(caf::actor_system_config& cfg) {
  (cfg.add_message_type<Ts>(Ts::descriptor()->full_name()), ...);
}

} // namespace

void register_message_types(caf::actor_system_config& cfg) {
  add_all<streamverse::v1::ContentMetadata, streamverse::v1::MetadataUpdate,
          streamverse::v1::MetadataChanged, streamverse::v1::CatalogDigest,
          streamverse::v1::CatalogEntries, streamverse::v1::CatalogPrepare,
          streamverse::v1::CatalogPromise, streamverse::v1::CatalogAccept,
          streamverse::v1::CatalogAccepted>(cfg);
}

} // namespace sv::content
