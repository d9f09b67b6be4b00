#include "actors/content/catalog_store.hpp"

#include <sqlite3.h>

namespace sv::content {

namespace {

// A prepared statement that finalizes itself.
class statement {
public:
  statement(sqlite3* db, const char* sql) {
    if (db != nullptr) {
      sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
    }
  }
  ~statement() {
    sqlite3_finalize(stmt_);
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
};

bool parse_row(sqlite3_stmt* s, int column, metadata& out) {
  auto* data = sqlite3_column_blob(s, column);
  auto size = sqlite3_column_bytes(s, column);
  return out.ParseFromArray(data, size);
}

} // namespace

catalog_store::catalog_store(const std::string& path) {
  if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) {
    error_ =
        "cannot open " + path + ": " + (db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory");
    sqlite3_close(db_);
    db_ = nullptr;
    return;
  }
  // WAL: readers do not block the writer. synchronous=NORMAL: a stored version survives a
  // crash of the process (SIGKILL included) but not necessarily of the machine; FULL
  // (an fsync per update) limited an owner to a few hundred updates/s on this VM, and a
  // version is on every replica milliseconds later anyway.
  const char* setup = "PRAGMA journal_mode=WAL;"
                      "PRAGMA synchronous=NORMAL;"
                      "CREATE TABLE IF NOT EXISTS content ("
                      "  id TEXT PRIMARY KEY, version INTEGER NOT NULL, body BLOB NOT NULL);";
  char* msg = nullptr;
  if (sqlite3_exec(db_, setup, nullptr, nullptr, &msg) != SQLITE_OK) {
    error_ = "cannot prepare " + path + ": " + (msg != nullptr ? msg : "unknown error");
    sqlite3_free(msg);
    sqlite3_close(db_);
    db_ = nullptr;
  }
}

catalog_store::~catalog_store() {
  sqlite3_close(db_);
}

std::optional<apply_result> catalog_store::apply(const metadata& m) {
  // One statement decides and writes: insert, or replace a lower version. Two different
  // contents with the same version (two owners during a view change) are ordered by their
  // serialized bytes, so every replica keeps the same one whatever the arrival order.
  statement s{db_, "INSERT INTO content (id, version, body) VALUES (?1, ?2, ?3) "
                   "ON CONFLICT(id) DO UPDATE SET version = excluded.version, body = excluded.body "
                   "WHERE excluded.version > content.version OR "
                   "(excluded.version = content.version AND excluded.body > content.body)"};
  if (!s) {
    error_ = db_ != nullptr ? sqlite3_errmsg(db_) : error_;
    return std::nullopt;
  }
  auto body = m.SerializeAsString();
  sqlite3_bind_text(s.get(), 1, m.id().data(), static_cast<int>(m.id().size()), SQLITE_TRANSIENT);
  sqlite3_bind_int64(s.get(), 2, static_cast<sqlite3_int64>(m.version()));
  sqlite3_bind_blob(s.get(), 3, body.data(), static_cast<int>(body.size()), SQLITE_TRANSIENT);
  if (sqlite3_step(s.get()) != SQLITE_DONE) {
    error_ = sqlite3_errmsg(db_);
    return std::nullopt;
  }
  return sqlite3_changes(db_) > 0 ? apply_result::applied : apply_result::stale;
}

std::optional<metadata> catalog_store::get(const std::string& id) const {
  statement s{db_, "SELECT body FROM content WHERE id = ?1"};
  if (!s) {
    return std::nullopt;
  }
  sqlite3_bind_text(s.get(), 1, id.data(), static_cast<int>(id.size()), SQLITE_TRANSIENT);
  metadata m;
  if (sqlite3_step(s.get()) == SQLITE_ROW && parse_row(s.get(), 0, m)) {
    return m;
  }
  return std::nullopt;
}

uint64_t catalog_store::version_of(const std::string& id) const {
  statement s{db_, "SELECT version FROM content WHERE id = ?1"};
  if (!s) {
    return 0;
  }
  sqlite3_bind_text(s.get(), 1, id.data(), static_cast<int>(id.size()), SQLITE_TRANSIENT);
  return sqlite3_step(s.get()) == SQLITE_ROW
             ? static_cast<uint64_t>(sqlite3_column_int64(s.get(), 0))
             : 0;
}

std::vector<metadata> catalog_store::load_all() const {
  std::vector<metadata> out;
  statement s{db_, "SELECT body FROM content ORDER BY id"};
  while (s && sqlite3_step(s.get()) == SQLITE_ROW) {
    metadata m;
    if (parse_row(s.get(), 0, m)) {
      out.push_back(std::move(m));
    }
  }
  return out;
}

size_t catalog_store::size() const {
  statement s{db_, "SELECT COUNT(*) FROM content"};
  return s && sqlite3_step(s.get()) == SQLITE_ROW
             ? static_cast<size_t>(sqlite3_column_int64(s.get(), 0))
             : 0;
}

} // namespace sv::content
