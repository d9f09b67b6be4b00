#pragma once

// A node's near cache (L1, design §6): a store split into lock stripes so that host
// threads and actors read it directly, without a message hop. CAF-free, thread-safe.

#include <array>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "actors/cache/store.hpp"

namespace sv::cache {

/// What a near-cache read returns.
struct hit {
  std::shared_ptr<const std::string> value; ///< null: the origin has no such key
  uint64_t version = 0;
};

class near_cache {
public:
  /// `s.max_bytes` is split over the stripes.
  explicit near_cache(store_settings s);

  /// The cached value of `key`, or nullopt on a miss.
  std::optional<hit> get(const std::string& key, time_ns now);

  fill_result fill(const std::string& key, std::shared_ptr<const std::string> value,
                   uint64_t version, std::vector<std::string> tags, time_ns started, time_ns now);

  bool invalidate(const std::string& key, uint64_t version, time_ns now);
  size_t invalidate_tag(const std::string& tag, time_ns now);

  /// Marks `key` as a replicated hot key: its hits are counted for cool().
  void mark_hot(const std::string& key);
  /// Drops the hot keys that had fewer than `min_hits` hits since the last call (a key
  /// marked since then is kept for one more interval) and returns them.
  std::vector<std::string> cool(uint64_t min_hits);
  size_t hot_keys() const;

  /// Drops every entry and hot mark (the fences go too).
  void clear();

  bool contains(const std::string& key) const;
  /// The key's fence: the lowest version this node may serve (0 if none).
  uint64_t fence(const std::string& key) const;
  size_t bytes() const;
  store_stats stats() const;

private:
  static constexpr size_t stripe_count = 16;
  struct hot_mark {
    uint64_t hits = 0; ///< since the last cool()
    bool fresh = true; ///< marked since the last cool(): kept for one more interval
  };
  struct stripe {
    mutable std::mutex mutex;
    std::unique_ptr<store> data;
    std::unordered_map<std::string, hot_mark> hot;
  };
  stripe& stripe_of(const std::string& key);
  const stripe& stripe_of(const std::string& key) const;

  std::array<stripe, stripe_count> stripes_;
};

} // namespace sv::cache
