#include "actors/analytics/analytics_settings.hpp"

#include "runtime/config/section.hpp"

namespace sv::analytics {

void register_config() {
  using config::analytics_node_settings;
  config::section<analytics_node_settings>{"analytics"}
      .integer("partitions", 1, 4096, &analytics_node_settings::partitions)
      .integer("max_batch", 1, 1'000'000, &analytics_node_settings::max_batch)
      .integer("linger_ms", 0, 60'000, &analytics_node_settings::linger_ms, " ms")
      .integer("max_pending", 1, 100'000'000, &analytics_node_settings::max_pending)
      .integer("max_windows", 1, 10'000'000, &analytics_node_settings::max_windows)
      .integer("resend_ms", 10, 600'000, &analytics_node_settings::resend_ms, " ms")
      .integer("sample_rate", 1, 1000, &analytics_node_settings::sample_rate)
      .integer("max_skew_ms", 1000, 86'400'000, &analytics_node_settings::max_skew_ms, " ms")
      .integer("retention_hours", 1, 87'600, &analytics_node_settings::retention_hours, " h")
      .add();
}

} // namespace sv::analytics
