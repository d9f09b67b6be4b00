#include "actors/api/api_settings.hpp"

#include "runtime/config/section.hpp"

namespace sv::api {

void register_config() {
  using config::http_api_settings;
  config::section<http_api_settings>{"http"}
      .text("bind",
            [](http_api_settings& s, const std::string& v) -> std::string {
              if (v.empty()) {
                return "expected an IP address";
              }
              s.bind = v;
              return {};
            })
      .integer("port", 0, 65535, &http_api_settings::port)
      .integer("max_connections", 1, 1'000'000, &http_api_settings::max_connections)
      .integer("header_limit_bytes", 1024, 1'048'576, &http_api_settings::header_limit_bytes,
               " bytes")
      .integer("body_limit_bytes", 1024, 64 * 1'048'576, &http_api_settings::body_limit_bytes,
               " bytes")
      .integer("read_timeout_ms", 100, 600'000, &http_api_settings::read_timeout_ms, " ms")
      .integer("request_timeout_ms", 100, 600'000, &http_api_settings::request_timeout_ms, " ms")
      .integer("threads", 1, 64, &http_api_settings::threads)
      .text("token_key_file",
            [](http_api_settings& s, const std::string& v) -> std::string {
              s.token_key_file = v;
              return {};
            })
      .integer("cache_max_age_s", 0, 86'400, &http_api_settings::cache_max_age_s, " s")
      .integer("token_cache_entries", 0, 10'000'000, &http_api_settings::token_cache_entries)
      .integer("critical_queue_target_ms", 0, 60'000, &http_api_settings::critical_queue_target_ms,
               " ms")
      .integer("critical_queue_interval_ms", 10, 60'000,
               &http_api_settings::critical_queue_interval_ms, " ms")
      .add();
}

} // namespace sv::api
