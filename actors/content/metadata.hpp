#pragma once

// Validation of content metadata (design §5): what the owner refuses before it assigns a
// version. CAF-free.

#include <string>

#include "actors/content/content.pb.h"

namespace sv::content {

using metadata = streamverse::v1::ContentMetadata;

/// Limits a metadata update must stay within.
struct metadata_limits {
  size_t max_id = 128;
  size_t max_title = 512;
  size_t max_description = 16 * 1024;
  size_t max_url = 2048;
  size_t max_renditions = 64;
  size_t max_tags = 64;
  size_t max_tag = 64;
  size_t max_regions = 256;
  uint32_t max_bitrate_kbps = 200'000;
  uint32_t max_dimension = 8192;
};

/// Why `m` cannot be accepted, or "" when it can: an empty id or title, an unknown codec,
/// a window that ends before it starts, a rendition without a bitrate, oversized fields.
/// The version is not checked (the owner assigns it).
std::string validate(const metadata& m, const metadata_limits& limits = {});

/// Whether `codec` (one entry of an RFC 6381 codecs string, e.g. "avc1.640028") names a
/// codec StreamVerse serves: avc1/avc3, hvc1/hev1, av01, vp09, mp4a, ac-3, ec-3, opus, flac.
bool known_codec(const std::string& codec);

} // namespace sv::content
