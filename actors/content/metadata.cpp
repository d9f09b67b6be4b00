#include "actors/content/metadata.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <set>
#include <string_view>

namespace sv::content {

namespace {

bool printable(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; });
}

bool region_code(std::string_view s) {
  return !s.empty() && s.size() <= 32 && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

} // namespace

bool known_codec(const std::string& codec) {
  static const std::array<std::string_view, 11> families = {
      "avc1", "avc3", "hvc1", "hev1", "av01", "vp09", "mp4a", "ac-3", "ec-3", "opus", "flac"};
  auto dot = codec.find('.');
  auto family = std::string_view{codec}.substr(0, dot);
  if (std::find(families.begin(), families.end(), family) == families.end()) {
    return false;
  }
  // Whatever follows the family is profile/level data: dot-separated, no spaces.
  return dot == std::string::npos
         || (dot + 1 < codec.size()
             && std::all_of(codec.begin() + static_cast<std::ptrdiff_t>(dot) + 1, codec.end(),
                            [](unsigned char c) { return std::isalnum(c) || c == '.'; }));
}

std::string validate(const metadata& m, const metadata_limits& limits) {
  if (m.id().empty()) {
    return "id: empty";
  }
  if (m.id().size() > limits.max_id || !printable(m.id())
      || m.id().find(' ') != std::string::npos) {
    return "id: at most " + std::to_string(limits.max_id) + " printable characters, no spaces";
  }
  if (m.title().empty()) {
    return "title: empty";
  }
  if (m.title().size() > limits.max_title || !printable(m.title())) {
    return "title: at most " + std::to_string(limits.max_title) + " printable bytes";
  }
  if (m.description().size() > limits.max_description) {
    return "description: longer than " + std::to_string(limits.max_description) + " bytes";
  }
  auto& url = m.thumbnail_url();
  if (!url.empty()
      && (url.size() > limits.max_url || !printable(url)
          || (url.rfind("https://", 0) != 0 && url.rfind("http://", 0) != 0))) {
    return "thumbnail_url: not an http(s) URL of at most " + std::to_string(limits.max_url)
           + " bytes";
  }
  if (static_cast<size_t>(m.renditions_size()) > limits.max_renditions) {
    return "renditions: more than " + std::to_string(limits.max_renditions);
  }
  std::set<std::string> ids;
  for (auto& r : m.renditions()) {
    auto where = "rendition \"" + r.id() + "\": ";
    if (r.id().empty() || r.id().size() > limits.max_id || !printable(r.id())) {
      return "rendition: id empty or longer than " + std::to_string(limits.max_id);
    }
    if (!ids.insert(r.id()).second) {
      return where + "duplicate id";
    }
    if (r.codecs().empty()) {
      return where + "no codecs";
    }
    std::string_view codecs = r.codecs();
    for (size_t start = 0; start <= codecs.size();) {
      auto comma = codecs.find(',', start);
      auto one = std::string{codecs.substr(
          start, comma == std::string_view::npos ? std::string_view::npos : comma - start)};
      if (!known_codec(one)) {
        return where + "unknown codec \"" + one + "\"";
      }
      if (comma == std::string_view::npos) {
        break;
      }
      start = comma + 1;
    }
    if (r.bitrate_kbps() == 0 || r.bitrate_kbps() > limits.max_bitrate_kbps) {
      return where + "bitrate_kbps must be 1.." + std::to_string(limits.max_bitrate_kbps);
    }
    if (r.average_bitrate_kbps() > r.bitrate_kbps()) {
      return where + "average_bitrate_kbps above bitrate_kbps";
    }
    if (r.width() > limits.max_dimension || r.height() > limits.max_dimension
        || (r.width() == 0) != (r.height() == 0)) {
      return where + "resolution must be both 0 (audio) or both 1.."
             + std::to_string(limits.max_dimension);
    }
    if (r.frame_rate() < 0 || r.frame_rate() > 300) {
      return where + "frame_rate must be 0..300";
    }
  }
  auto& a = m.availability();
  if (a.window_start_ms() < 0 || a.window_end_ms() < 0) {
    return "availability: negative window";
  }
  if (a.window_start_ms() != 0 && a.window_end_ms() != 0
      && a.window_end_ms() <= a.window_start_ms()) {
    return "availability: window ends before it starts";
  }
  if (static_cast<size_t>(a.regions_size()) > limits.max_regions) {
    return "availability: more than " + std::to_string(limits.max_regions) + " regions";
  }
  for (auto& r : a.regions()) {
    if (!region_code(r)) {
      return "availability: region \"" + r + "\" is not 1-32 of a-z 0-9 -";
    }
  }
  if (static_cast<size_t>(m.tags_size()) > limits.max_tags) {
    return "tags: more than " + std::to_string(limits.max_tags);
  }
  for (auto& t : m.tags()) {
    if (t.empty() || t.size() > limits.max_tag || !printable(t)) {
      return "tags: each 1.." + std::to_string(limits.max_tag) + " printable bytes";
    }
  }
  return {};
}

} // namespace sv::content
