#pragma once

// A node's cache of rendered metadata views, with invalidation fences (design §5). Each
// entry carries the version it was filled from; each key keeps a fence, the lowest version
// still valid. An invalidation raises the fence and drops older entries, so a slow fill
// that read old data before the invalidation cannot put it back afterwards (the race that
// memcache's leases close). CAF-free; not thread-safe (owned by one actor).

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

namespace sv::content {

/// What a fill did.
enum class fill_result {
  stored,    ///< cached
  stale,     ///< older than the key's fence: refused, not cached
  not_newer, ///< the cache holds this version or a newer one already
};

class view_cache {
public:
  struct entry {
    std::string value;
    uint64_t version = 0;
  };

  /// The cached view of `key`, if any.
  const entry* get(const std::string& key) const;

  /// Caches `value`, rendered from `version` of the key's data, unless an invalidation
  /// has since moved the fence past it.
  fill_result fill(const std::string& key, std::string value, uint64_t version);

  /// Version `version` of the key's data exists: views from older versions are invalid.
  /// Returns true when a cached entry was dropped.
  bool invalidate(const std::string& key, uint64_t version);

  /// The lowest version of `key` a fill may have (0: no invalidation seen).
  uint64_t fence(const std::string& key) const;

  size_t size() const noexcept {
    return entries_.size();
  }

  uint64_t stale_fills() const noexcept {
    return stale_fills_;
  }

private:
  std::unordered_map<std::string, entry> entries_;
  std::unordered_map<std::string, uint64_t> fences_;
  uint64_t stale_fills_ = 0;
};

} // namespace sv::content
