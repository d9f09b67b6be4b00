#pragma once

// Viewer events: what a partition accepts (design §7). CAF-free.

#include <cstdint>
#include <string>

#include "actors/analytics/analytics.pb.h"

namespace sv::analytics {

using viewer_event = streamverse::v1::ViewerEvent;
using event_batch = streamverse::v1::EventBatch;
using event_type = streamverse::v1::ViewerEventType;

struct event_limits {
  /// How far an event's timestamp may be from the receiver's clock, either way.
  int64_t max_skew_ms = 300'000;
  /// The longest id, region, device or error code.
  size_t max_field_bytes = 128;
};

/// Empty when `e` may be stored; otherwise why not ("type: unknown (9)",
/// "timestamp_ms: 400000 ms from now", "session_id: missing", "region: longer than 128
/// bytes"). The reason's part before ':' is the field, usable as a metric label.
std::string validate(const viewer_event& e, int64_t now_ms, const event_limits& limits = {});

/// The field a validate() reason names ("type", "timestamp_ms", ...).
std::string reason_field(const std::string& reason);

} // namespace sv::analytics
