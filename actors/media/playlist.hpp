#pragma once

// HLS master playlists (RFC 8216, section 4.3.4.2) for a title's ready renditions, with the
// ladder capped by the node's degrader level and the viewer's device class: under load
// everyone gets a lower top rung (the seed's "quality capped under load"), and a phone
// never gets 4K. CAF-free.
//
//   auto text = sv::media::master_playlist(m, /*level*/ 2, "mobile");
//
// Each ready rendition within the cap becomes one EXT-X-STREAM-INF (BANDWIDTH and
// AVERAGE-BANDWIDTH in bit/s, RESOLUTION, CODECS, FRAME-RATE) followed by its media
// playlist's URI, "<rendition id>/index.m3u8" relative to the master playlist, highest
// bandwidth first. The lowest ready rendition is always offered, also when it is above
// the cap, so that playback never stops for want of a rung.

#include <cstdint>
#include <string>

#include "actors/content/metadata.hpp"

namespace sv::media {

/// The tallest picture (lines) a device class gets at a degrader level (0..4).
/// Devices: "tv" (no device cap), "web" (1080), "mobile" (720), anything else as "web".
/// Levels: L0 no cap, L1 1080, L2 720, L3 480, L4 360.
uint32_t max_height(int level, const std::string& device);

/// The master playlist; empty when `m` has no ready rendition.
std::string master_playlist(const content::metadata& m, int level, const std::string& device);

} // namespace sv::media
