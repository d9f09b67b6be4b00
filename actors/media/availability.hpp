#pragma once

// Content availability on session open (design §8): may this viewer, in this region, play
// this title now? CAF-free. The session gateway asks it before it opens a session; host
// code can call it directly.
//
//   auto why = sv::media::check_availability(m, "eu-west", now_ms);
//   if (why != sv::media::refusal::none) { /* show to_string(why) to the player */ }

#include <cstdint>
#include <string>

#include "actors/content/metadata.hpp"

namespace sv::media {

/// Why a title cannot be played; the player shows a message per reason.
enum class refusal : uint8_t {
  none = 0,
  not_found,          ///< no such title in the catalog
  not_in_region,      ///< the viewer's region is not among the title's regions
  outside_window,     ///< before window_start_ms or after window_end_ms
  no_ready_rendition, ///< no rendition is packaged and on the CDN yet
  not_entitled,       ///< the viewer's subscription does not cover it (entitlement hook)
};

/// "not_found", "not_in_region", ... ("" for none).
const char* to_string(refusal r);

/// The first reason `m` cannot be played by a viewer in `region` at `now_ms`, in this
/// order: region rights, availability window, a ready rendition.
refusal check_availability(const content::metadata& m, const std::string& region, int64_t now_ms);

} // namespace sv::media
