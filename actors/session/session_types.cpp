#include "actors/session/session_types.hpp"
#include "actors/session/session_errc.hpp"

namespace sv::session {

namespace {

std::string check_field(const char* name, const std::string& value, size_t max) {
  if (value.empty()) {
    return std::string{name} + " is empty";
  }
  if (value.size() > max) {
    return std::string{name} + " is " + std::to_string(value.size()) + " bytes (at most "
           + std::to_string(max) + ")";
  }
  return {};
}

std::string check_range(const char* name, int64_t value, int64_t max) {
  if (value < 0 || value > max) {
    return std::string{name} + " " + std::to_string(value) + " is outside 0.."
           + std::to_string(max);
  }
  return {};
}

} // namespace

std::string validate(const open_request& r, const session_limits& lim) {
  if (r.session_id == 0) {
    return "session id 0 is reserved";
  }
  for (auto [name, value] : {std::pair<const char*, const std::string*>{"user", &r.user},
                             {"content", &r.content},
                             {"device", &r.device},
                             {"region", &r.region}}) {
    if (auto why = check_field(name, *value, lim.max_field_bytes); !why.empty()) {
      return why;
    }
  }
  if (r.subscription > static_cast<uint8_t>(tier::premium)) {
    return "subscription tier " + std::to_string(r.subscription) + " is unknown";
  }
  return {};
}

std::string validate(const heartbeat_report& h, const session_limits& lim) {
  struct field {
    const char* name;
    int64_t value;
    int64_t max;
  };
  const field fields[] = {{"position_ms", h.position_ms, lim.max_position_ms},
                          {"bitrate_kbps", h.bitrate_kbps, lim.max_bitrate_kbps},
                          {"buffer_ms", h.buffer_ms, lim.max_buffer_ms},
                          {"dropped_frames", h.dropped_frames, int64_t{1} << 31}};
  for (auto& f : fields) {
    if (auto why = check_range(f.name, f.value, f.max); !why.empty()) {
      return why;
    }
  }
  return {};
}

std::string validate(const command& c, const session_limits& lim) {
  switch (c.kind) {
  case command_kind::seek:
    return check_range("seek position_ms", c.value, lim.max_position_ms);
  case command_kind::quality:
    return check_range("quality bitrate_kbps", c.value, lim.max_bitrate_kbps);
  case command_kind::pause:
  case command_kind::resume:
  case command_kind::close:
    return {};
  }
  return "unknown command " + std::to_string(static_cast<int>(c.kind));
}

const char* to_string(session_errc x) {
  switch (x) {
  case session_errc::unknown_session:
    return "unknown_session";
  case session_errc::session_closed:
    return "session_closed";
  case session_errc::session_exists:
    return "session_exists";
  }
  return nullptr;
}

} // namespace sv::session
