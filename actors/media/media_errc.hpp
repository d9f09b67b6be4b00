#pragma once

// The media domain's error codes (category "svmedia"): why a title may not
// be played, as a session open or a playlist request answers it. They are the reasons of
// `sv::media::refusal` (availability.hpp), minus `none` and `not_found` (an unknown title
// is the runtime's `sv::errc::not_found`).
//
//   if (sv::is(err, sv::media::refusal::not_in_region)) { /* tell the viewer */ }

#include "actors/media/availability.hpp"
#include "runtime/wire/errc.hpp"

namespace sv {

template <>
struct error_domain<media::refusal> {
  static constexpr caf::atom_value category = caf::atom("svmedia");
  static const char* name(media::refusal x) {
    return media::to_string(x);
  }
};

namespace media {

/// Registers the media codes with `cfg`, so that `render` names them ("media:
/// not_in_region (...)"). Part of the node's type registration; a client that shows
/// refusals (streamverse-ctl, the soak driver) calls it too.
inline void add_error_domain(caf::actor_system_config& cfg) {
  sv::add_error_domain<refusal>(cfg, "media");
}

} // namespace media

} // namespace sv
