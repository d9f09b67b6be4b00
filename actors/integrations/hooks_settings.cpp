#include "actors/integrations/hooks_settings.hpp"

#include "runtime/config/node_settings.hpp"
#include "runtime/config/section.hpp"

namespace sv::integrations {

namespace {

using config::hook_endpoint_settings;
using config::hooks_node_settings;
using hook_member = hook_endpoint_settings hooks_node_settings::*;

// [hooks.<name>] url and timeout_ms of the hook in `member`.
void endpoint(config::section<hooks_node_settings>& s, const std::string& name,
              hook_member member) {
  s.text(name + ".url",
         [member](hooks_node_settings& h, const std::string& v) -> std::string {
           if (auto why = config::check_http_url(v); !why.empty()) {
             return "\"" + v + "\" " + why + " (leave the key out for the in-process default)";
           }
           (h.*member).url = v;
           return {};
         })
      .integer(
          name + ".timeout_ms", 1, 60'000,
          [member](hooks_node_settings& h, int64_t v) {
            (h.*member).timeout_ms = static_cast<uint32_t>(v);
          },
          " ms");
}

} // namespace

void register_config() {
  config::section<hooks_node_settings> s{"hooks"};
  s.integer("failure_threshold", 1, 1000, &hooks_node_settings::failure_threshold)
      .integer("open_ms", 10, 3'600'000, &hooks_node_settings::open_ms, " ms")
      .integer("threads", 1, 256, &hooks_node_settings::threads)
      .integer("max_queued", 1, 1'000'000, &hooks_node_settings::max_queued);
  endpoint(s, "entitlement", &hooks_node_settings::entitlement);
  s.integer("entitlement.ttl_ms", 0, 86'400'000, &hooks_node_settings::entitlement_ttl_ms, " ms")
      .integer("entitlement.denied_ttl_ms", 0, 86'400'000,
               &hooks_node_settings::entitlement_denied_ttl_ms, " ms")
      .boolean("entitlement.fail_open", &hooks_node_settings::entitlement_fail_open);
  endpoint(s, "recommendations", &hooks_node_settings::recommendations);
  s.strings("recommendations.fallback", "content ids",
            &hooks_node_settings::recommendations_fallback);
  endpoint(s, "ads", &hooks_node_settings::ads);
  endpoint(s, "cdn_purge", &hooks_node_settings::cdn_purge);
  s.integer("cdn_purge.batch", 1, 10'000, &hooks_node_settings::cdn_purge_batch)
      .integer("cdn_purge.max_pending", 1, 10'000'000, &hooks_node_settings::cdn_purge_max_pending)
      .integer("cdn_purge.max_attempts", 1, 1000, &hooks_node_settings::cdn_purge_max_attempts);
  endpoint(s, "cms", &hooks_node_settings::cms);
  s.integer("cms.poll_ms", 10, 3'600'000, &hooks_node_settings::cms_poll_ms, " ms");
  s.add();
}

} // namespace sv::integrations
