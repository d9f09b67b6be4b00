#include "actors/media/watch_store.hpp"

#include <algorithm>

#include "runtime/storage/sqlite.hpp"

namespace sv::media {

using storage::bind_text;
using storage::column_text;
using storage::statement;

bool newer(const watch_entry& a, const watch_entry& b) {
  return a.event_ms != b.event_ms ? a.event_ms > b.event_ms : a.device > b.device;
}

namespace {

// A row of "SELECT user, content, position_ms, event_ms, device, region" (the log or the
// table).

watch_entry entry_of_row(sqlite3_stmt* row) {
  watch_entry e;
  e.user = column_text(row, 0);
  e.content = column_text(row, 1);
  e.position_ms = sqlite3_column_int64(row, 2);
  e.event_ms = sqlite3_column_int64(row, 3);
  e.device = column_text(row, 4);
  e.region = column_text(row, 5);
  return e;
}

// Adds the region column to a table of a store created before it existed.
bool add_region(sqlite3* db, const std::string& table, std::string& error) {
  {
    auto columns = "PRAGMA table_info(" + table + ")"; // a row per column; its name second
    statement info{db, columns.c_str()};
    if (!info) {
      error = sqlite3_errmsg(db);
      return false;
    }
    int rc = SQLITE_ROW;
    while ((rc = sqlite3_step(info.get())) == SQLITE_ROW) {
      if (column_text(info.get(), 1) == "region") {
        return true;
      }
    }
    if (rc != SQLITE_DONE) {
      error = sqlite3_errmsg(db);
      return false;
    }
  }
  auto alter = "ALTER TABLE " + table + " ADD COLUMN region TEXT NOT NULL DEFAULT ''";
  return storage::exec(db, alter.c_str(), &error);
}

} // namespace

watch_store::watch_store(const std::string& path, size_t compact_after)
    : compact_after_(std::max<size_t>(1, compact_after)) {
  db_ = storage::open(path, error_);
  if (db_ == nullptr) {
    return;
  }
  if (!storage::exec(db_,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                     "PRAGMA cache_size=-65536;"
                     // The keyed table is one B-tree on its key (WITHOUT ROWID), not
                     // a table and an index to update for each position.
                     "CREATE TABLE IF NOT EXISTS positions ("
                     "  user TEXT NOT NULL, content TEXT NOT NULL, position_ms INTEGER NOT NULL,"
                     "  event_ms INTEGER NOT NULL, device TEXT NOT NULL,"
                     "  region TEXT NOT NULL DEFAULT '',"
                     "  PRIMARY KEY (user, content)) WITHOUT ROWID;"
                     // The rowid alone orders the log: a new row gets the largest
                     // one plus one, and the log is only ever emptied as a whole.
                     // (AUTOINCREMENT would add a write to sqlite_sequence per row.)
                     // A store created by an earlier build keeps its tables as they are.
                     "CREATE TABLE IF NOT EXISTS position_log ("
                     "  id INTEGER PRIMARY KEY,"
                     "  user TEXT NOT NULL, content TEXT NOT NULL, position_ms INTEGER NOT NULL,"
                     "  event_ms INTEGER NOT NULL, device TEXT NOT NULL,"
                     "  region TEXT NOT NULL DEFAULT '');",
                     &error_)
      // The user's home region (where the user is placed): a store from before it
      // gets the column, empty in its rows (read as this node's region).
      || !add_region(db_, "positions", error_) || !add_region(db_, "position_log", error_)) {
    error_ = "cannot prepare " + path + ": " + error_;
    sqlite3_close(db_);
    db_ = nullptr;
    return;
  }
  // What a crash left in the log is in memory again (the latest per key).
  statement log{stmts_, db_,
                "SELECT user, content, position_ms, event_ms, device, region FROM position_log"
                " ORDER BY id"};
  while (log && sqlite3_step(log.get()) == SQLITE_ROW) {
    auto e = entry_of_row(log.get());
    auto [i, fresh] = recent_.try_emplace(key_of(e.user, e.content), e);
    if (!fresh && newer(e, i->second)) {
      i->second = e;
    }
  }
}

watch_store::~watch_store() {
  if (db_ != nullptr && !recent_.empty()) {
    compact();
  }
  for (auto& [sql, stmt] : stmts_) {
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db_);
}

std::string watch_store::key_of(const std::string& user, const std::string& content) {
  std::string k;
  k.reserve(user.size() + 1 + content.size());
  k.append(user).push_back('\0');
  k.append(content);
  return k;
}

namespace {

constexpr const char* append_sql =
    "INSERT INTO position_log (user, content, position_ms, event_ms, device, region)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

// Insert, or replace only when the new entry is newer (the rule of newer()).
constexpr const char* upsert_sql =
    "INSERT INTO positions (user, content, position_ms, event_ms, device, region)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (user, content) DO UPDATE SET"
    " position_ms = excluded.position_ms, event_ms = excluded.event_ms,"
    " device = excluded.device, region = excluded.region"
    " WHERE excluded.event_ms > positions.event_ms"
    " OR (excluded.event_ms = positions.event_ms AND excluded.device > positions.device)";

bool run(sqlite3_stmt* s, const watch_entry& e) {
  sqlite3_reset(s);
  bind_text(s, 1, e.user);
  bind_text(s, 2, e.content);
  sqlite3_bind_int64(s, 3, e.position_ms);
  sqlite3_bind_int64(s, 4, e.event_ms);
  bind_text(s, 5, e.device);
  bind_text(s, 6, e.region);
  return sqlite3_step(s) == SQLITE_DONE;
}

} // namespace

// Inside a transaction: `e` (its key_of `key`) into the log and memory, unless memory has
// a newer one.
std::optional<bool> watch_store::take(const watch_entry& e, std::string key, sqlite3_stmt* append) {
  auto i = recent_.find(key);
  if (i != recent_.end() && !newer(e, i->second)) {
    return false;
  }
  if (!run(append, e)) {
    error_ = sqlite3_errmsg(db_);
    return std::nullopt;
  }
  if (i == recent_.end()) {
    recent_.emplace(std::move(key), e);
  } else {
    i->second = e;
  }
  return true;
}

std::optional<bool> watch_store::record(const watch_entry& e) {
  auto n = record_all({e});
  if (!n) {
    return std::nullopt;
  }
  return *n == 1;
}

std::optional<size_t> watch_store::record_all(const std::vector<watch_entry>& es) {
  if (db_ == nullptr) {
    return std::nullopt;
  }
  // Memory changes only once the transaction is durable: a copy to restore on failure.
  std::vector<std::pair<std::string, std::optional<watch_entry>>> before;
  before.reserve(es.size());
  for (auto& e : es) {
    auto k = key_of(e.user, e.content);
    auto i = recent_.find(k);
    before.emplace_back(std::move(k),
                        i == recent_.end() ? std::nullopt : std::optional<watch_entry>{i->second});
  }
  auto undo = [&] {
    storage::exec(db_, "ROLLBACK;");
    for (auto i = before.rbegin(); i != before.rend(); ++i) {
      if (i->second) {
        recent_[i->first] = *i->second;
      } else {
        recent_.erase(i->first);
      }
    }
  };
  if (!storage::exec(db_, "BEGIN IMMEDIATE;", &error_)) {
    return std::nullopt;
  }
  statement append{stmts_, db_, append_sql};
  if (!append) {
    error_ = sqlite3_errmsg(db_);
    undo();
    return std::nullopt;
  }
  size_t n = 0;
  for (size_t k = 0; k < es.size(); ++k) {
    auto r = take(es[k], before[k].first, append.get());
    if (!r) {
      undo();
      return std::nullopt;
    }
    n += *r ? 1 : 0;
  }
  if (!storage::exec(db_, "COMMIT;", &error_)) {
    undo();
    return std::nullopt;
  }
  if (recent_.size() >= compact_after_) {
    compact();
  }
  return n;
}

bool watch_store::compact() {
  if (db_ == nullptr) {
    return false;
  }
  if (recent_.empty()) {
    return true;
  }
  if (!storage::exec(db_, "BEGIN IMMEDIATE;", &error_)) {
    return false;
  }
  statement upsert{stmts_, db_, upsert_sql};
  statement clear{stmts_, db_, "DELETE FROM position_log"};
  bool ok = upsert && clear;
  // In key order: each page of the keyed table is written once for all its keys.
  std::vector<const watch_entry*> order;
  order.reserve(recent_.size());
  for (auto& [k, e] : recent_) {
    order.push_back(&e);
  }
  std::sort(order.begin(), order.end(), [](const watch_entry* a, const watch_entry* b) {
    return a->user != b->user ? a->user < b->user : a->content < b->content;
  });
  for (size_t i = 0; ok && i < order.size(); ++i) {
    ok = run(upsert.get(), *order[i]);
  }
  ok = ok && sqlite3_step(clear.get()) == SQLITE_DONE;
  if (!ok || !storage::exec(db_, "COMMIT;", &error_)) {
    error_ = sqlite3_errmsg(db_);
    storage::exec(db_, "ROLLBACK;");
    return false;
  }
  recent_.clear();
  return true;
}

std::optional<std::vector<watch_entry>> watch_store::all() {
  if (!compact()) {
    return std::nullopt;
  }
  statement s{stmts_, db_,
              "SELECT user, content, position_ms, event_ms, device, region FROM positions"};
  if (!s) {
    return std::nullopt;
  }
  std::vector<watch_entry> out;
  int rc = SQLITE_ROW;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
    out.push_back(entry_of_row(s.get()));
  }
  if (rc != SQLITE_DONE) {
    error_ = std::string{"watch store: reading every position: "} + sqlite3_errmsg(db_);
    return std::nullopt;
  }
  return out;
}

std::optional<watch_entry> watch_store::get(const std::string& user,
                                            const std::string& content) const {
  std::optional<watch_entry> mem;
  if (auto i = recent_.find(key_of(user, content)); i != recent_.end()) {
    mem = i->second;
  }
  statement s{stmts_, db_,
              "SELECT position_ms, event_ms, device, region FROM positions WHERE user = ?1 AND "
              "content = ?2"};
  if (!s) {
    return mem;
  }
  bind_text(s.get(), 1, user);
  bind_text(s.get(), 2, content);
  if (sqlite3_step(s.get()) != SQLITE_ROW) {
    return mem;
  }
  watch_entry e;
  e.user = user;
  e.content = content;
  e.position_ms = sqlite3_column_int64(s.get(), 0);
  e.event_ms = sqlite3_column_int64(s.get(), 1);
  e.device = column_text(s.get(), 2);
  e.region = column_text(s.get(), 3);
  if (mem && newer(*mem, e)) {
    return mem;
  }
  return e;
}

} // namespace sv::media
