#include "actors/analytics/events.hpp"

#include <cstdlib>

namespace sv::analytics {

std::string validate(const viewer_event& e, int64_t now_ms, const event_limits& limits) {
  auto t = static_cast<int>(e.type());
  if (t == streamverse::v1::EVENT_UNKNOWN || !streamverse::v1::ViewerEventType_IsValid(t)) {
    return "type: unknown (" + std::to_string(t) + ")";
  }
  struct field {
    const char* name;
    const std::string& value;
    bool required;
  };
  for (auto& f : {field{"event_id", e.event_id(), true}, field{"session_id", e.session_id(), true},
                  field{"user_id", e.user_id(), true}, field{"content_id", e.content_id(), true},
                  field{"region", e.region(), false}, field{"device", e.device(), false},
                  field{"error_code", e.error_code(), false}}) {
    if (f.required && f.value.empty()) {
      return std::string{f.name} + ": missing";
    }
    if (f.value.size() > limits.max_field_bytes) {
      return std::string{f.name} + ": longer than " + std::to_string(limits.max_field_bytes)
             + " bytes";
    }
  }
  auto skew = e.timestamp_ms() - now_ms;
  if (e.timestamp_ms() <= 0 || std::llabs(skew) > limits.max_skew_ms) {
    return "timestamp_ms: " + std::to_string(skew)
           + " ms from now (allowed: " + std::to_string(limits.max_skew_ms) + ")";
  }
  return {};
}

std::string reason_field(const std::string& reason) {
  return reason.substr(0, reason.find(':'));
}

} // namespace sv::analytics
