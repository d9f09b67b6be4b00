// libFuzzer target: a node's TOML config file, with every module's section registered as
// streamverse-node registers them. A bad file must be refused with a reason; nothing may
// crash, leak or hit undefined behaviour.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "actors/analytics/analytics_settings.hpp"
#include "actors/api/api_settings.hpp"
#include "actors/cache/cache_settings.hpp"
#include "actors/integrations/hooks_settings.hpp"
#include "actors/session/session_settings.hpp"
#include "runtime/config/node_settings.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bool registered = [] {
    sv::session::register_config();
    sv::cache::register_config();
    sv::analytics::register_config();
    sv::integrations::register_config();
    sv::api::register_config();
    return true;
  }();
  (void)registered;
  std::string_view text{reinterpret_cast<const char*>(data), size};
  auto r = sv::config::load_string(text, "fuzz.toml");
  if (!r.settings && (!r.error || r.error->message.empty())) {
    __builtin_trap(); // refused without a reason
  }
  return 0;
}
