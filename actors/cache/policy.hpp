#pragma once

// Cache admission and eviction policies (design §6), CAF-free and single-threaded (a cache
// shard owns one). Keys are 64-bit hashes of the cache keys.
//
// - frequency_sketch: a count-min sketch of small counters that halves itself after a
//   sample of requests, so old popularity fades (the TinyLFU idea).
// - tinylfu_cache: a small LRU window in front of a segmented LRU main area; a key leaving
//   the window enters the main area only if the sketch says it is requested more often than
//   the main area's next victim, so a scan or a one-hit wonder cannot flush the hot set.
//   The window's share of the capacity adapts by hill climbing on the hit ratio (a fixed
//   window loses to plain LRU on traces where recency matters more than frequency).
// - lru_cache: the baseline.

#include <cstddef>
#include <cstdint>
#include <list>
#include <unordered_map>
#include <vector>

namespace sv::cache {

/// Approximate request counts per key, 4 rows of 8-bit saturating counters (max 15).
class frequency_sketch {
public:
  /// Sized for a cache of `capacity` entries: about 8 counters per entry per row; halves
  /// every counter after 64 x capacity recorded requests (a longer memory than the 10 x of
  /// the TinyLFU paper: 0.5-1.0 points more hits on every trace of sv-bench-cache, and
  /// still fast enough for releases that go viral and fade).
  explicit frequency_sketch(size_t capacity);

  void record(uint64_t key) noexcept;

  /// Estimated requests of `key` since the counts last halved (0..15).
  uint32_t estimate(uint64_t key) const noexcept;

  uint64_t resets() const noexcept {
    return resets_;
  }

private:
  size_t index(uint64_t key, size_t row) const noexcept;

  std::vector<uint8_t> table_; // rows x width
  size_t width_mask_ = 0;
  size_t width_ = 0;
  uint64_t additions_ = 0;
  uint64_t sample_ = 0;
  uint64_t resets_ = 0;
};

/// Least recently used, `capacity` entries.
class lru_cache {
public:
  explicit lru_cache(size_t capacity) : capacity_(capacity) {}

  /// Requests `key`: true on a hit; on a miss the key is inserted (evicting the LRU one).
  bool access(uint64_t key);

  bool contains(uint64_t key) const {
    return index_.count(key) != 0;
  }
  size_t size() const noexcept {
    return order_.size();
  }

private:
  size_t capacity_;
  std::list<uint64_t> order_; // front = most recent
  std::unordered_map<uint64_t, std::list<uint64_t>::iterator> index_;
};

struct tinylfu_stats {
  uint64_t admitted = 0; ///< window victims that entered the main area
  uint64_t rejected = 0; ///< window victims dropped (less frequent than the main victim)
  uint64_t evicted = 0;  ///< main-area entries evicted for a more frequent newcomer
  size_t window = 0;     ///< current window capacity (entries)
};

/// TinyLFU admission with an adaptive LRU window and a segmented LRU main area. Entries
/// have weights (1 each for an entry-count bound, or their size in bytes for a byte bound);
/// `capacity` is in the same unit.
class tinylfu_cache {
public:
  /// `window_share`: the window's initial share of `capacity` (adapts from there).
  /// `expected_entries`: sizes the frequency sketch (0: `capacity`, right for weight 1).
  explicit tinylfu_cache(size_t capacity, double window_share = 0.01, size_t expected_entries = 0);

  /// Requests `key` with weight 1: true on a hit; on a miss the key enters the window.
  bool access(uint64_t key) {
    if (touch(key)) {
      return true;
    }
    admit(key, 1);
    evicted_keys_.clear(); // nobody to tell
    return false;
  }

  /// Counts a request for `key`; on a hit refreshes its place. True on a hit.
  bool touch(uint64_t key);

  /// Inserts `key` (absent) with `weight` into the window, or updates the weight of a
  /// present key. Whatever this pushes out (possibly `key` itself, when the admission
  /// filter prefers the main area's victim or `weight` exceeds the capacity) is reported
  /// by take_evicted().
  void admit(uint64_t key, size_t weight);

  /// Removes `key` if present (not reported as evicted).
  void erase(uint64_t key);

  /// Keys removed by the policy since the last call (evicted or refused admission).
  std::vector<uint64_t> take_evicted() {
    return std::move(evicted_keys_);
  }

  bool contains(uint64_t key) const {
    return where_.count(key) != 0;
  }
  size_t size() const noexcept {
    return where_.size();
  }
  /// Total weight held.
  size_t weight() const noexcept {
    return window_w_ + probation_w_ + protected_w_;
  }
  const tinylfu_stats& stats() const noexcept {
    return stats_;
  }
  const frequency_sketch& sketch() const noexcept {
    return sketch_;
  }

private:
  enum class area : uint8_t { window, probation, protected_ };
  struct slot {
    area in;
    std::list<uint64_t>::iterator pos;
    size_t weight;
  };

  std::list<uint64_t>& list_of(area a);
  size_t& weight_of(area a);
  void move_to(uint64_t key, slot& s, area to);
  void drop(uint64_t key, bool evicted);
  void on_hit(slot& s);
  void evict_window_overflow();
  void demote_protected_overflow();
  void adapt();

  size_t capacity_;
  size_t window_cap_;
  size_t protected_cap_;
  frequency_sketch sketch_;
  std::list<uint64_t> window_, probation_, protected_; // front = most recent
  size_t window_w_ = 0, probation_w_ = 0, protected_w_ = 0;
  std::unordered_map<uint64_t, slot> where_;
  std::vector<uint64_t> evicted_keys_;
  tinylfu_stats stats_;
  // Hill climbing of the window size.
  uint64_t period_; // requests between two adaptations
  uint64_t period_requests_ = 0;
  uint64_t period_hits_ = 0;
  double last_hit_ratio_ = -1;
  double step_;
  int direction_ = 1;
};

} // namespace sv::cache
