#pragma once

#include "caf/fwd.hpp"

namespace sv::content {

/// Registers the content messages (ContentMetadata, MetadataUpdate, MetadataChanged)
/// under their proto names. Pass it to sv::node on every node that runs a catalog:
///   sv::node n{settings, {sv::content::register_message_types}};
void register_message_types(caf::actor_system_config& cfg);

} // namespace sv::content
