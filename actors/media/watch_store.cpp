#include "actors/media/watch_store.hpp"

#include "runtime/storage/sqlite.hpp"

namespace sv::media {

using storage::bind_text;
using storage::column_text;
using storage::statement;

bool newer(const watch_entry& a, const watch_entry& b) {
  return a.event_ms != b.event_ms ? a.event_ms > b.event_ms : a.device > b.device;
}

watch_store::watch_store(const std::string& path) {
  db_ = storage::open(path, error_);
  if (db_ == nullptr) {
    return;
  }
  if (!storage::exec(db_,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                     "CREATE TABLE IF NOT EXISTS positions ("
                     "  user TEXT NOT NULL, content TEXT NOT NULL, position_ms INTEGER NOT NULL,"
                     "  event_ms INTEGER NOT NULL, device TEXT NOT NULL,"
                     "  PRIMARY KEY (user, content));",
                     &error_)) {
    error_ = "cannot prepare " + path + ": " + error_;
    sqlite3_close(db_);
    db_ = nullptr;
  }
}

watch_store::~watch_store() {
  for (auto& [sql, stmt] : stmts_) {
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db_);
}

std::optional<bool> watch_store::record(const watch_entry& e) {
  if (db_ == nullptr) {
    return std::nullopt;
  }
  // One statement: insert, or replace only when `e` is newer (the rule of newer()).
  statement s{
      stmts_, db_,
      "INSERT INTO positions (user, content, position_ms, event_ms, device)"
      " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (user, content) DO UPDATE SET"
      " position_ms = excluded.position_ms, event_ms = excluded.event_ms,"
      " device = excluded.device"
      " WHERE excluded.event_ms > positions.event_ms"
      " OR (excluded.event_ms = positions.event_ms AND excluded.device > positions.device)"};
  if (!s) {
    error_ = sqlite3_errmsg(db_);
    return std::nullopt;
  }
  bind_text(s.get(), 1, e.user);
  bind_text(s.get(), 2, e.content);
  sqlite3_bind_int64(s.get(), 3, e.position_ms);
  sqlite3_bind_int64(s.get(), 4, e.event_ms);
  bind_text(s.get(), 5, e.device);
  if (sqlite3_step(s.get()) != SQLITE_DONE) {
    error_ = sqlite3_errmsg(db_);
    return std::nullopt;
  }
  return sqlite3_changes(db_) > 0;
}

std::optional<size_t> watch_store::record_all(const std::vector<watch_entry>& es) {
  if (db_ == nullptr || !storage::exec(db_, "BEGIN IMMEDIATE;", &error_)) {
    return std::nullopt;
  }
  size_t n = 0;
  for (auto& e : es) {
    auto r = record(e);
    if (!r) {
      storage::exec(db_, "ROLLBACK;");
      return std::nullopt;
    }
    n += *r ? 1 : 0;
  }
  if (!storage::exec(db_, "COMMIT;", &error_)) {
    storage::exec(db_, "ROLLBACK;");
    return std::nullopt;
  }
  return n;
}

std::optional<watch_entry> watch_store::get(const std::string& user,
                                            const std::string& content) const {
  statement s{
      stmts_, db_,
      "SELECT position_ms, event_ms, device FROM positions WHERE user = ?1 AND content = ?2"};
  if (!s) {
    return std::nullopt;
  }
  bind_text(s.get(), 1, user);
  bind_text(s.get(), 2, content);
  if (sqlite3_step(s.get()) != SQLITE_ROW) {
    return std::nullopt;
  }
  watch_entry e;
  e.user = user;
  e.content = content;
  e.position_ms = sqlite3_column_int64(s.get(), 0);
  e.event_ms = sqlite3_column_int64(s.get(), 1);
  e.device = column_text(s.get(), 2);
  return e;
}

} // namespace sv::media
