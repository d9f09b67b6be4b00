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
};

/// Whether `a` wins over `b` (both for the same user and content).
bool newer(const watch_entry& a, const watch_entry& b);

class watch_store {
public:
  /// Opens (creating) the store at `path`; error() says why when that failed.
  explicit watch_store(const std::string& path);
  ~watch_store();
  watch_store(const watch_store&) = delete;
  watch_store& operator=(const watch_store&) = delete;

  const std::string& error() const noexcept {
    return error_;
  }

  /// Stores `e` unless the stored entry is newer. True when it was stored; nullopt on a
  /// failed write.
  std::optional<bool> record(const watch_entry& e);

  /// record() for each of `es` in one transaction; how many were stored, nullopt on a
  /// failed write (nothing stored then).
  std::optional<size_t> record_all(const std::vector<watch_entry>& es);

  std::optional<watch_entry> get(const std::string& user, const std::string& content) const;

private:
  sqlite3* db_ = nullptr;
  std::string error_;
  mutable std::unordered_map<std::string, sqlite3_stmt*> stmts_;
};

} // namespace sv::media
