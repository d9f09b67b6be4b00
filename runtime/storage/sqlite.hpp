#pragma once

// Small helpers over SQLite's C API shared by the stores (the modules'
// replicas and logs). Header-only; the including library links SQLite::SQLite3.

#include <sqlite3.h>

#include <string>
#include <unordered_map>

namespace sv::storage {

// A prepared statement: from the store's cache when given one (reset after use, finalized
// with the store), else prepared for this use and finalized after it.
class statement {
public:
  statement(sqlite3* db, const char* sql) : owned_(true) {
    if (db != nullptr) {
      sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
    }
  }
  statement(std::unordered_map<std::string, sqlite3_stmt*>& cache, sqlite3* db, const char* sql) {
    if (db == nullptr) {
      return;
    }
    auto& slot = cache[sql];
    if (slot == nullptr) {
      sqlite3_prepare_v2(db, sql, -1, &slot, nullptr);
    }
    stmt_ = slot;
  }
  ~statement() {
    if (owned_) {
      sqlite3_finalize(stmt_);
    } else if (stmt_ != nullptr) {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
  }
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;

  sqlite3_stmt* get() const noexcept {
    return stmt_;
  }
  explicit operator bool() const noexcept {
    return stmt_ != nullptr;
  }

private:
  sqlite3_stmt* stmt_ = nullptr;
  bool owned_ = false;
};

inline std::string column_text(sqlite3_stmt* s, int column) {
  auto* text = sqlite3_column_text(s, column);
  return text != nullptr ? std::string{reinterpret_cast<const char*>(text),
                                       static_cast<size_t>(sqlite3_column_bytes(s, column))}
                         : std::string{};
}

inline void bind_text(sqlite3_stmt* s, int index, const std::string& text) {
  sqlite3_bind_text(s, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}

inline void bind_blob(sqlite3_stmt* s, int index, const std::string& bytes) {
  sqlite3_bind_blob(s, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
}

/// Opens (creating if needed, unless `read_only`) the database at `path`; nullptr with the
/// reason in `error` when that fails.
inline sqlite3* open(const std::string& path, std::string& error, bool read_only = false) {
  sqlite3* db = nullptr;
  auto flags = read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    error = "cannot open " + path + ": " + (db != nullptr ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return nullptr;
  }
  return db;
}

/// Runs `sql` (one or more statements without results); false on an error, with the
/// message in `error` when given.
inline bool exec(sqlite3* db, const char* sql, std::string* error = nullptr) {
  char* msg = nullptr;
  auto ok = db != nullptr && sqlite3_exec(db, sql, nullptr, nullptr, &msg) == SQLITE_OK;
  if (!ok && error != nullptr) {
    *error = msg != nullptr ? msg : (db != nullptr ? sqlite3_errmsg(db) : "no database");
  }
  sqlite3_free(msg);
  return ok;
}

} // namespace sv::storage
