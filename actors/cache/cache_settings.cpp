#include "actors/cache/cache_settings.hpp"

#include "runtime/config/section.hpp"

namespace sv::cache {

void register_config() {
  using config::cache_node_settings;
  constexpr int64_t tib = int64_t{1} << 40;
  config::section<cache_node_settings>{"cache"}
      .integer("l1_bytes", 0, tib, &cache_node_settings::l1_bytes, " bytes")
      .integer("l2_bytes", 0, tib, &cache_node_settings::l2_bytes, " bytes")
      .integer("max_entry_bytes", 1, int64_t{1} << 32, &cache_node_settings::max_entry_bytes,
               " bytes")
      .integer("shards", 1, 65536, &cache_node_settings::shards)
      .integer("negative_ttl_ms", 0, 3'600'000, &cache_node_settings::negative_ttl_ms, " ms")
      .integer("load_timeout_ms", 1, 600'000, &cache_node_settings::load_timeout_ms, " ms")
      .integer("hot_threshold", 1, 15, &cache_node_settings::hot_threshold)
      .integer("cool_below_hits", 0, 1'000'000'000, &cache_node_settings::cool_below_hits)
      .integer("cool_interval_ms", 100, 3'600'000, &cache_node_settings::cool_interval_ms, " ms")
      .add();
}

} // namespace sv::cache
