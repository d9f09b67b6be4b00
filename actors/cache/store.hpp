#pragma once

// One level of the cache (design §6), CAF-free and single-threaded: a byte-bounded map of
// versioned values under the TinyLFU policy, with the fences that keep it consistent.
//
// - Every entry carries the version it was filled from and its tags.
// - A key keeps a fence after an invalidation: the minimum valid version and the time it
//   was raised. A fill is refused when its version is below the fence, or when its load
//   started before the fence was raised (it may have read data older than the
//   invalidation: Facebook memcache's leases close the same race). A tag invalidation
//   fences every key with that tag the same way.
// - Fences are forgotten after `fence_ttl`; a fill whose load started longer ago than that
//   is refused, so forgetting one never lets a stale fill in.
// - Negative entries ("the origin has no such key") live `negative_ttl`.
//
// Refusals have a reason and are never cached; admission by frequency may also decline a
// new entry (not an error: the value is still returned to whoever asked).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "actors/cache/policy.hpp"

namespace sv::cache {

/// Nanoseconds of a monotonic clock (the caller's; tests pass their own).
using time_ns = int64_t;

struct store_settings {
  /// Bytes of keys, values, tags and bookkeeping the store may hold.
  size_t max_bytes = 64u << 20;
  /// A single entry larger than this is refused (too_large).
  size_t max_entry_bytes = 1u << 20;
  /// How long "not found" answers are cached.
  std::chrono::milliseconds negative_ttl{2000};
  /// How long fences are kept (longer than any load may take).
  std::chrono::milliseconds fence_ttl{30000};
};

/// A cached value.
struct entry {
  std::shared_ptr<const std::string> value; ///< null for a negative entry
  uint64_t version = 0;
  std::vector<std::string> tags;
  time_ns expires = 0; ///< 0: never (negative entries expire)
  bool negative() const noexcept {
    return value == nullptr;
  }
};

/// What a fill did.
enum class fill_result {
  stored,        ///< cached
  not_admitted,  ///< declined by the admission filter (less popular than what it would evict)
  stale_version, ///< refused: older than the key's fence
  raced,         ///< refused: the load started before an invalidation of the key or a tag
  too_large,     ///< refused: over max_entry_bytes
  too_old,       ///< refused: the load started longer ago than fence_ttl
  not_newer,     ///< the cache already has this version or a newer one: kept that
};

const char* to_string(fill_result r) noexcept;

/// Whether the fill was refused (the cases counted as refusals).
constexpr bool refused(fill_result r) noexcept {
  return r == fill_result::stale_version || r == fill_result::raced || r == fill_result::too_large
         || r == fill_result::too_old;
}

struct store_stats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t negative_hits = 0;
  uint64_t evictions = 0;    ///< entries pushed out by the policy
  uint64_t not_admitted = 0; ///< new entries the admission filter turned away
  uint64_t refused = 0;      ///< fills refused (see fill_result)
  uint64_t invalidated = 0;  ///< entries dropped by invalidations
};

class store {
public:
  explicit store(store_settings s = {});

  /// The entry for `key`, or null (a miss; an expired negative entry is a miss). Counts
  /// the request for the admission filter.
  const entry* get(const std::string& key, time_ns now);

  /// The entry for `key` without counting a request (null when absent or expired).
  const entry* peek(const std::string& key) const;

  /// Caches `value` (null: a negative entry) at `version` with `tags`, from a load that
  /// started at `started` (use `now` for a write that read nothing).
  fill_result fill(const std::string& key, std::shared_ptr<const std::string> value,
                   uint64_t version, std::vector<std::string> tags, time_ns started, time_ns now);

  /// Raises `key`'s fence to `version` (0: only the time) and drops an entry older than
  /// that (any entry when `version` is 0). True when an entry was dropped.
  bool invalidate(const std::string& key, uint64_t version, time_ns now);

  /// Drops every entry tagged `tag` and fences the tag. Returns how many were dropped.
  size_t invalidate_tag(const std::string& tag, time_ns now);

  /// Drops `key` without fencing it (e.g. a replicated hot key that cooled down).
  bool erase(const std::string& key);

  /// The key's minimum valid version (0 if none).
  uint64_t fence(const std::string& key) const;

  bool contains(const std::string& key) const {
    return entries_.count(key) != 0;
  }
  size_t size() const noexcept {
    return entries_.size();
  }
  size_t bytes() const noexcept {
    return bytes_;
  }
  store_stats stats() const noexcept;
  const store_settings& settings() const noexcept {
    return settings_;
  }
  /// The admission filter's estimate of `key`'s recent requests (0..15).
  uint32_t frequency(const std::string& key) const;

  /// Keys currently cached (for tests and pre-warm reports).
  std::vector<std::string> keys() const;

  /// An empty store with these settings and these fences: what a flush leaves. Dropping
  /// the fences too would let a copy older than an invalidation already seen back in (a
  /// shard on a node whose catalog still lags, right after a member came back).
  std::unique_ptr<store> without_entries() const;

private:
  struct fence_info {
    uint64_t version = 0;       ///< the highest versioned invalidation
    time_ns unversioned_at = 0; ///< the last invalidation without a version
    time_ns touched = 0;        ///< the last raise (for forgetting)
  };
  struct stored_entry {
    entry e;
    size_t bytes = 0;
  };

  void remove(std::unordered_map<std::string, stored_entry>::iterator i);
  void apply_evictions();
  void prune_fences(time_ns now);

  store_settings settings_;
  tinylfu_cache policy_;
  std::unordered_map<std::string, stored_entry> entries_;
  std::unordered_map<uint64_t, std::string> by_hash_;
  std::unordered_map<std::string, std::unordered_set<std::string>> by_tag_;
  std::unordered_map<std::string, fence_info> fences_;
  std::unordered_map<std::string, time_ns> tag_fences_;
  time_ns next_prune_ = 0;
  size_t bytes_ = 0;
  uint64_t policy_removals_ = 0;
  store_stats stats_;
};

/// The 64-bit hash the policy and shard placement use for a key.
uint64_t key_hash(const std::string& key) noexcept;

} // namespace sv::cache
