#pragma once

// Playback positions per (user, content), persisted in SQLite (DATA_DIR/watch_state.db).
// Last writer wins by (event_ms, device): a late report of an earlier event never moves
// a position back, and every replica that saw the same reports holds the same row.
// CAF-free; one writer.

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace sv::media {

struct watch_entry {
  std::string user, content, device;
  int64_t position_ms = 0;
  int64_t event_ms = 0;
  /// The user's home region, where its owner is placed (stored with the position, so a
  /// rebalance or a leave sends it to the right region's holders; "" where not known).
  std::string region{};
};

/// Whether `a` wins over `b` (both for the same user and content).
bool newer(const watch_entry& a, const watch_entry& b);

/// Positions are appended to a log (`position_log`, keys that only grow: about a
/// microsecond each) and kept in memory, latest per user and title; once `compact_after`
/// of them are in memory (or when compact() is called: the owner does it every minute,
/// and on a graceful stop), they go into the keyed table `positions` in one sorted pass
/// and the log is emptied. A random-key upsert per position made every transaction write
/// a page per position (~82k rows/s here at best); the compaction writes each page once
/// for all the positions it holds. A crash loses nothing: the log is replayed at open.
class watch_store {
public:
  /// Opens (creating) the store at `path`; error() says why when that failed.
  explicit watch_store(const std::string& path, size_t compact_after = 200'000);
  /// Compacts what is in memory.
  ~watch_store();
  watch_store(const watch_store&) = delete;
  watch_store& operator=(const watch_store&) = delete;

  const std::string& error() const noexcept {
    return error_;
  }

  /// Stores `e` unless what is stored is newer. True when it was taken; nullopt on a
  /// failed write.
  std::optional<bool> record(const watch_entry& e);

  /// record() for each of `es` in one transaction; how many were taken, nullopt on a
  /// failed write (nothing stored then).
  std::optional<size_t> record_all(const std::vector<watch_entry>& es);

  std::optional<watch_entry> get(const std::string& user, const std::string& content) const;

  /// Moves the positions in memory into the keyed table and empties the log. False on a
  /// failed write (nothing changed).
  bool compact();

  /// Every stored position (the latest per user and title), after a compact(); nullopt on
  /// a failed read. For a node that leaves: what it holds goes to the users' new holders.
  std::optional<std::vector<watch_entry>> all();

  /// Positions in memory (logged, not compacted yet).
  size_t pending() const noexcept {
    return recent_.size();
  }

private:
  static std::string key_of(const std::string& user, const std::string& content);
  std::optional<bool> take(const watch_entry& e, std::string key, sqlite3_stmt* append);

  sqlite3* db_ = nullptr;
  std::string error_;
  size_t compact_after_;
  std::unordered_map<std::string, watch_entry> recent_; // user '\0' content -> latest
  mutable std::unordered_map<std::string, sqlite3_stmt*> stmts_;
};

} // namespace sv::media
