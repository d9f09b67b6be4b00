#pragma once

// A title a viewer can open: one ready 720p rendition, available in eu-west, optionally
// with a "tier:<name>" tag (for the entitlement rule).

#include <string>

#include "actors/content/metadata.hpp"

namespace sv::test {

inline content::metadata playable_title(const std::string& id, const std::string& tier = "") {
  content::metadata m;
  m.set_id(id);
  m.set_title("Title " + id);
  auto* r = m.add_renditions();
  r->set_id("720p");
  r->set_codecs("avc1.640028,mp4a.40.2");
  r->set_width(1280);
  r->set_height(720);
  r->set_bitrate_kbps(3000);
  r->set_average_bitrate_kbps(2500);
  r->set_frame_rate(25);
  r->set_ready(true);
  m.mutable_availability()->add_regions("eu-west");
  if (!tier.empty()) {
    m.add_tags("tier:" + tier);
  }
  return m;
}

} // namespace sv::test
