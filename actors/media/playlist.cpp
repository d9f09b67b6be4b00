#include "actors/media/playlist.hpp"

#include <algorithm>
#include <cstdio>
#include <vector>

namespace sv::media {

uint32_t max_height(int level, const std::string& device) {
  constexpr uint32_t by_level[] = {UINT32_MAX, 1080, 720, 480, 360};
  auto cap = by_level[std::clamp(level, 0, 4)];
  uint32_t device_cap = device == "tv" ? UINT32_MAX : device == "mobile" ? 720 : 1080;
  return std::min(cap, device_cap);
}

std::string master_playlist(const content::metadata& m, int level, const std::string& device) {
  std::vector<const streamverse::v1::Rendition*> ready;
  for (auto& r : m.renditions()) {
    if (r.ready()) {
      ready.push_back(&r);
    }
  }
  if (ready.empty()) {
    return {};
  }
  std::sort(ready.begin(), ready.end(), [](auto* a, auto* b) {
    return a->bitrate_kbps() != b->bitrate_kbps() ? a->bitrate_kbps() > b->bitrate_kbps()
                                                  : a->id() < b->id();
  });
  auto cap = max_height(level, device);
  std::vector<const streamverse::v1::Rendition*> offered;
  for (auto* r : ready) {
    if (r->height() <= cap) {
      offered.push_back(r);
    }
  }
  if (offered.empty()) {
    offered.push_back(ready.back()); // the lowest rung, always
  }
  // FRAME-RATE needs version 7 (RFC 8216, section 7).
  std::string out = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n";
  for (auto* r : offered) {
    char line[512];
    auto avg = r->average_bitrate_kbps() != 0 ? r->average_bitrate_kbps() : r->bitrate_kbps();
    std::snprintf(line, sizeof(line),
                  "#EXT-X-STREAM-INF:BANDWIDTH=%llu,AVERAGE-BANDWIDTH=%llu,RESOLUTION=%ux%u,"
                  "CODECS=\"%s\",FRAME-RATE=%.3f\n",
                  static_cast<unsigned long long>(r->bitrate_kbps()) * 1000ULL,
                  static_cast<unsigned long long>(avg) * 1000ULL, r->width(), r->height(),
                  r->codecs().c_str(), r->frame_rate());
    out += line;
    out += r->id() + "/index.m3u8\n";
  }
  return out;
}

} // namespace sv::media
