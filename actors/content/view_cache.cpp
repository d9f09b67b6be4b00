#include "actors/content/view_cache.hpp"

#include <utility>

namespace sv::content {

const view_cache::entry* view_cache::get(const std::string& key) const {
  auto i = entries_.find(key);
  return i == entries_.end() ? nullptr : &i->second;
}

fill_result view_cache::fill(const std::string& key, std::string value, uint64_t version) {
  if (version < fence(key)) {
    ++stale_fills_;
    return fill_result::stale;
  }
  auto& e = entries_[key];
  if (!e.value.empty() && e.version >= version) {
    return fill_result::not_newer;
  }
  e.value = std::move(value);
  e.version = version;
  return fill_result::stored;
}

bool view_cache::invalidate(const std::string& key, uint64_t version) {
  auto& f = fences_[key];
  f = std::max(f, version);
  auto i = entries_.find(key);
  if (i != entries_.end() && i->second.version < f) {
    entries_.erase(i);
    return true;
  }
  return false;
}

uint64_t view_cache::fence(const std::string& key) const {
  auto i = fences_.find(key);
  return i == fences_.end() ? 0 : i->second;
}

} // namespace sv::content
