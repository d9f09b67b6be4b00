#include "actors/media/availability.hpp"

#include <algorithm>

namespace sv::media {

const char* to_string(refusal r) {
  switch (r) {
  case refusal::none:
    return "";
  case refusal::not_found:
    return "not_found";
  case refusal::not_in_region:
    return "not_in_region";
  case refusal::outside_window:
    return "outside_window";
  case refusal::no_ready_rendition:
    return "no_ready_rendition";
  case refusal::not_entitled:
    return "not_entitled";
  }
  return "unknown";
}

refusal check_availability(const content::metadata& m, const std::string& region, int64_t now_ms) {
  auto& regions = m.availability().regions();
  if (std::find(regions.begin(), regions.end(), region) == regions.end()) {
    return refusal::not_in_region;
  }
  auto start = m.availability().window_start_ms();
  auto end = m.availability().window_end_ms();
  if ((start != 0 && now_ms < start) || (end != 0 && now_ms >= end)) {
    return refusal::outside_window;
  }
  auto& rs = m.renditions();
  if (std::none_of(rs.begin(), rs.end(), [](auto& r) { return r.ready(); })) {
    return refusal::no_ready_rendition;
  }
  return refusal::none;
}

} // namespace sv::media
