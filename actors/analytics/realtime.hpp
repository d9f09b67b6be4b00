#pragma once

// The real-time path of an analytics partition (design §7): sliding windows of 1, 10 and
// 60 seconds per content and region, by event time, in one-second buckets. CAF-free.
//
// Under load the partition may sample low-importance events (heartbeats, quality changes):
// with a rate r, the sessions whose id hashes into 1/r of the space are kept and their
// events count r times; starts, stops, errors and rebuffers are always counted (weight 1).
// Counts and ratios stay unbiased; concurrent viewers are estimated from the kept sessions
// (each stands for r), with a relative standard error of about sqrt((r - 1) / viewers).

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "actors/analytics/events.hpp"
#include "actors/analytics/history_store.hpp"

namespace sv::analytics {

/// Bitrate classes (kbit/s upper bounds) of the bitrate mix; the last one is open.
constexpr std::array<uint32_t, 4> bitrate_bounds_kbps = {1000, 3000, 6000, 12000};

struct window_stats {
  double concurrent_viewers = 0; ///< sessions with an event in the window (estimated)
  double events = 0;             ///< weighted
  uint64_t starts = 0;
  uint32_t startup_p50_ms = 0; ///< bucket upper bound (history_store's buckets); 0: no start
  uint32_t startup_p95_ms = 0;
  double rebuffer_ratio = 0; ///< rebuffer time / (watch time + rebuffer time)
  double error_rate = 0;     ///< errors / events
  /// Share of the events carrying a bitrate per class (bitrate_bounds_kbps, then above).
  std::array<double, bitrate_bounds_kbps.size() + 1> bitrate_mix{};
};

/// Whether events of type `t` are always counted (never sampled away).
bool important(event_type t);
inline bool important(const viewer_event& e) {
  return important(e.type());
}

/// Whether sampling 1 in `rate` keeps `e`'s session (deterministic per session id).
bool session_kept(const std::string& session_id, uint32_t rate);
bool session_kept(uint64_t session_key, uint32_t rate);

/// The sessions a series counted: open addressing with linear probing, 24 bytes a session
/// and no allocation per insert (a std::unordered_map node per session cost a tenth of a
/// node's CPU at 150k heartbeats/s).
class session_table {
public:
  struct entry {
    uint64_t key = 0; // 0: empty (a session key of 0 is stored as 1)
    int64_t last_s = 0;
    double weight = 0;
  };

  /// The entry of `key`, inserted (last_s 0, weight 0) when new.
  entry& touch(uint64_t key);

  /// Drops every entry last seen at or before `cutoff_s`.
  void drop_older(int64_t cutoff_s);

  size_t size() const noexcept {
    return used_;
  }

  template <class F>
  void for_each(F f) const {
    for (auto& e : slots_) {
      if (e.key != 0) {
        f(e);
      }
    }
  }

private:
  void rehash(size_t capacity);

  std::vector<entry> slots_;
  size_t used_ = 0;
};

class realtime {
public:
  /// Adds event `i` of block `b` seen while sampling 1 in `rate` (1: everything). Events
  /// of sessions that sampling drops are skipped unless important(). Events older than
  /// 60 s before `now_ms` are ignored.
  void add(const event_view& e, uint32_t rate, int64_t now_ms);

  /// add() for every event of `b` except those at `skip` (ascending positions, e.g. the
  /// refused ones); looks each (content, region) up once per block. Returns how many
  /// were counted.
  size_t add_block(const event_block& b, uint32_t rate, int64_t now_ms,
                   const std::vector<uint32_t>& skip = {});

  /// One event on its own (tests, host code).
  void add(const viewer_event& e, uint32_t rate, int64_t now_ms);

  /// Whether `add` would count `e` at all under `rate`.
  static bool keep_sampled(const event_view& e, uint32_t rate) {
    return important(e.type()) || session_kept(e.session_key(), rate);
  }
  static bool keep_sampled(const viewer_event& e, uint32_t rate) {
    return important(e) || session_kept(e.session_id(), rate);
  }

  /// The last `window` seconds (1..60) up to `now_ms` for `content` in `region`.
  window_stats query(const std::string& content, const std::string& region,
                     std::chrono::seconds window, int64_t now_ms) const;

  /// (content, region) pairs with events in the last 60 s.
  std::vector<std::pair<std::string, std::string>> keys() const;

  /// At most `n` (content, region) windows: pairs without events in the last 60 s are
  /// dropped first (once a minute, or when full); events of a new pair beyond that are not
  /// counted in the windows (history still has them) and counted in dropped_events().
  void set_max_series(size_t n) {
    max_series_ = std::max<size_t>(1, n);
  }
  size_t series_count() const noexcept {
    return series_.size();
  }
  uint64_t dropped_events() const noexcept {
    return dropped_;
  }

private:
  static constexpr int64_t span_s = 60;
  struct second {
    int64_t at_s = -1; // which second this slot holds
    double events = 0, errors = 0, watched_ms = 0, rebuffer_ms = 0;
    uint64_t starts = 0;
    startup_histogram startup{};
    std::array<double, bitrate_bounds_kbps.size() + 1> bitrate{};
  };
  struct series {
    std::array<second, span_s> seconds;
    // Sessions counted for concurrency: id hash -> (last second seen, weight).
    session_table sessions;
    int64_t pruned_s = 0;
    int64_t newest_s = 0; // the newest second an event was counted in
  };
  using key = std::pair<std::string, std::string>;

  void add_to(series& s, const event_view& e, uint32_t rate, int64_t now_ms);
  // The series of (content, region), created when there is room; nullptr when full.
  series* find_or_add(std::string_view content, std::string_view region, int64_t now_ms);
  // Drops the series without events in the last span_s seconds.
  void drop_idle(int64_t now_s);

  std::map<key, series> series_;
  size_t max_series_ = 8192;
  int64_t swept_s_ = 0;
  uint64_t dropped_ = 0;
};

} // namespace sv::analytics
