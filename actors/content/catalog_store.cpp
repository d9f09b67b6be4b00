#include "actors/content/catalog_store.hpp"

#include <sqlite3.h>

#include <chrono>
#include <unordered_map>

#include "runtime/node/readiness.hpp"
#include "runtime/storage/sqlite.hpp"

namespace sv::content {

namespace {

using storage::bind_text;
using storage::column_text;
using storage::statement;

bool parse_row(sqlite3_stmt* s, int column, metadata& out) {
  auto* data = sqlite3_column_blob(s, column);
  auto size = sqlite3_column_bytes(s, column);
  return out.ParseFromArray(data, size);
}

// Columns: body, version, ballot_round, ballot_node from `first`.
bool parse_stored(sqlite3_stmt* s, int first, stored_version& out) {
  if (!parse_row(s, first, out.value)) {
    return false;
  }
  out.accepted.round = static_cast<uint64_t>(sqlite3_column_int64(s, first + 2));
  out.accepted.node = column_text(s, first + 3);
  return true;
}

bool has_column(sqlite3* db, const char* table, const char* column) {
  statement s{db, (std::string{"PRAGMA table_info("} + table + ")").c_str()};
  while (s && sqlite3_step(s.get()) == SQLITE_ROW) {
    if (column_text(s.get(), 1) == column) {
      return true;
    }
  }
  return false;
}

} // namespace

bool supersedes(const stored_version& a, const stored_version& b) {
  if (a.value.version() != b.value.version()) {
    return a.value.version() > b.value.version();
  }
  if (!(a.accepted == b.accepted)) {
    return b.accepted < a.accepted;
  }
  return a.value.SerializeAsString() > b.value.SerializeAsString();
}

catalog_store::catalog_store(const std::string& path) {
  db_ = storage::open(path, error_);
  if (db_ == nullptr) {
    return;
  }
  // WAL: readers do not block the writer. synchronous=NORMAL: a stored version survives a
  // crash of the process (SIGKILL included) but not necessarily of the machine; FULL
  // (an fsync per update) limited an owner to a few hundred updates/s on this VM, and a
  // version is on every replica milliseconds later anyway.
  const char* setup = "PRAGMA journal_mode=WAL;"
                      "PRAGMA synchronous=NORMAL;"
                      "CREATE TABLE IF NOT EXISTS content ("
                      "  id TEXT PRIMARY KEY, version INTEGER NOT NULL, body BLOB NOT NULL);"
                      "CREATE TABLE IF NOT EXISTS promise ("
                      "  id TEXT PRIMARY KEY, round INTEGER NOT NULL, node TEXT NOT NULL);"
                      "CREATE TABLE IF NOT EXISTS voter (name TEXT PRIMARY KEY);";
  char* msg = nullptr;
  auto ok = sqlite3_exec(db_, setup, nullptr, nullptr, &msg) == SQLITE_OK;
  // Stores written before ballots existed get the columns, every version at ballot zero.
  if (ok && !has_column(db_, "content", "ballot_round")) {
    ok = sqlite3_exec(db_,
                      "ALTER TABLE content ADD COLUMN ballot_round INTEGER NOT NULL DEFAULT 0;"
                      "ALTER TABLE content ADD COLUMN ballot_node TEXT NOT NULL DEFAULT '';",
                      nullptr, nullptr, &msg)
         == SQLITE_OK;
  }
  if (!ok) {
    error_ = "cannot prepare " + path + ": " + (msg != nullptr ? msg : "unknown error");
    sqlite3_free(msg);
    sqlite3_close(db_);
    db_ = nullptr;
    return;
  }
  // Checkpoints (the fsyncs of WAL mode) run on a thread of their own with its own
  // connection, not in the writer's path: an automatic checkpoint inside a write held a
  // replica up for 100-200 ms now and then on this VM.
  if (path != ":memory:"
      && sqlite3_exec(db_, "PRAGMA wal_autocheckpoint=0;", nullptr, nullptr, nullptr)
             == SQLITE_OK) {
    checkpointer_ = std::thread{[this, path] {
      checkpoint_loop(path);
    }};
  }
}

void catalog_store::checkpoint_loop(const std::string& path) {
  sqlite3* conn = nullptr;
  if (sqlite3_open(path.c_str(), &conn) != SQLITE_OK) {
    sqlite3_close(conn);
    return;
  }
  sqlite3_busy_timeout(conn, 100);
  std::unique_lock<std::mutex> lock{stop_mutex_};
  while (!stop_cv_.wait_for(lock, std::chrono::milliseconds{500}, [this] { return stopping_; })) {
    lock.unlock();
    sqlite3_wal_checkpoint_v2(conn, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    lock.lock();
  }
  sqlite3_close(conn);
}

catalog_store::~catalog_store() {
  if (checkpointer_.joinable()) {
    {
      std::lock_guard<std::mutex> guard{stop_mutex_};
      stopping_ = true;
    }
    stop_cv_.notify_all();
    checkpointer_.join();
  }
  for (auto& [sql, stmt] : stmts_) {
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db_);
}

std::optional<apply_result> catalog_store::apply(const metadata& m, const ballot& b) {
  // One statement decides and writes, in the order of supersedes(): version, ballot, bytes.
  statement s{stmts_, db_,
              "INSERT INTO content (id, version, body, ballot_round, ballot_node) "
              "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(id) DO UPDATE SET "
              "version = excluded.version, body = excluded.body, "
              "ballot_round = excluded.ballot_round, ballot_node = excluded.ballot_node "
              "WHERE (excluded.version, excluded.ballot_round, excluded.ballot_node, "
              "excluded.body) > (content.version, content.ballot_round, "
              "content.ballot_node, content.body)"};
  if (!s) {
    error_ = db_ != nullptr ? sqlite3_errmsg(db_) : error_;
    return std::nullopt;
  }
  auto body = m.SerializeAsString();
  bind_text(s.get(), 1, m.id());
  sqlite3_bind_int64(s.get(), 2, static_cast<sqlite3_int64>(m.version()));
  sqlite3_bind_blob(s.get(), 3, body.data(), static_cast<int>(body.size()), SQLITE_TRANSIENT);
  sqlite3_bind_int64(s.get(), 4, static_cast<sqlite3_int64>(b.round));
  bind_text(s.get(), 5, b.node);
  if (sqlite3_step(s.get()) != SQLITE_DONE) {
    error_ = sqlite3_errmsg(db_);
    wrote(false);
    return std::nullopt;
  }
  wrote(true);
  return sqlite3_changes(db_) > 0 ? apply_result::applied : apply_result::stale;
}

bool catalog_store::wrote(bool ok) {
  failing_ = !ok;
  if (health_ && !ok) {
    health_->mark_unready(service_, error_);
  } else if (health_ && health_->any_unready()) {
    health_->mark_ready(service_);
  }
  return ok;
}

std::optional<stored_version> catalog_store::get_stored(const std::string& id) const {
  statement s{stmts_, db_,
              "SELECT body, version, ballot_round, ballot_node FROM content WHERE id = ?1"};
  if (!s) {
    return std::nullopt;
  }
  bind_text(s.get(), 1, id);
  stored_version out;
  if (sqlite3_step(s.get()) == SQLITE_ROW && parse_stored(s.get(), 0, out)) {
    return out;
  }
  return std::nullopt;
}

ballot catalog_store::promised(const std::string& id) const {
  statement s{stmts_, db_, "SELECT round, node FROM promise WHERE id = ?1"};
  ballot out;
  if (s) {
    bind_text(s.get(), 1, id);
    if (sqlite3_step(s.get()) == SQLITE_ROW) {
      out.round = static_cast<uint64_t>(sqlite3_column_int64(s.get(), 0));
      out.node = column_text(s.get(), 1);
    }
  }
  return out;
}

bool catalog_store::promise(const std::string& id, const ballot& b) {
  statement s{stmts_, db_,
              "INSERT INTO promise (id, round, node) VALUES (?1, ?2, ?3) "
              "ON CONFLICT(id) DO UPDATE SET round = excluded.round, node = excluded.node"};
  if (!s) {
    return false;
  }
  bind_text(s.get(), 1, id);
  sqlite3_bind_int64(s.get(), 2, static_cast<sqlite3_int64>(b.round));
  bind_text(s.get(), 3, b.node);
  if (sqlite3_step(s.get()) != SQLITE_DONE) {
    error_ = sqlite3_errmsg(db_);
    return wrote(false);
  }
  return wrote(true);
}

std::vector<std::string> catalog_store::voters() const {
  std::vector<std::string> out;
  statement s{stmts_, db_, "SELECT name FROM voter ORDER BY name"};
  while (s && sqlite3_step(s.get()) == SQLITE_ROW) {
    out.push_back(column_text(s.get(), 0));
  }
  return out;
}

bool catalog_store::set_voters(const std::vector<std::string>& names) {
  if (db_ == nullptr) {
    return false;
  }
  auto ok = sqlite3_exec(db_, "BEGIN IMMEDIATE; DELETE FROM voter;", nullptr, nullptr, nullptr)
            == SQLITE_OK;
  statement s{stmts_, db_, "INSERT OR IGNORE INTO voter (name) VALUES (?1)"};
  ok = ok && static_cast<bool>(s);
  for (auto& n : names) {
    if (!ok) {
      break;
    }
    sqlite3_reset(s.get());
    bind_text(s.get(), 1, n);
    ok = sqlite3_step(s.get()) == SQLITE_DONE;
  }
  ok = ok && sqlite3_exec(db_, "COMMIT;", nullptr, nullptr, nullptr) == SQLITE_OK;
  return finish_transaction(ok);
}

bool catalog_store::finish_transaction(bool ok) {
  if (!ok) {
    error_ = sqlite3_errmsg(db_);
    // A failed statement or COMMIT (a full disk) can leave the transaction open; later
    // writes would then "succeed" inside it without ever being durable.
    if (sqlite3_get_autocommit(db_) == 0) {
      sqlite3_exec(db_, "ROLLBACK;", nullptr, nullptr, nullptr);
    }
  }
  return wrote(ok);
}

bool catalog_store::probe() {
  if (db_ == nullptr) {
    return false;
  }
  auto ok = sqlite3_exec(db_,
                         "BEGIN IMMEDIATE; CREATE TABLE IF NOT EXISTS probe (at INTEGER); "
                         "DELETE FROM probe; INSERT INTO probe VALUES (strftime('%s','now')); "
                         "COMMIT;",
                         nullptr, nullptr, nullptr)
            == SQLITE_OK;
  return finish_transaction(ok);
}

std::optional<metadata> catalog_store::get(const std::string& id) const {
  statement s{stmts_, db_, "SELECT body FROM content WHERE id = ?1"};
  if (!s) {
    return std::nullopt;
  }
  bind_text(s.get(), 1, id);
  metadata m;
  if (sqlite3_step(s.get()) == SQLITE_ROW && parse_row(s.get(), 0, m)) {
    return m;
  }
  return std::nullopt;
}

uint64_t catalog_store::version_of(const std::string& id) const {
  statement s{stmts_, db_, "SELECT version FROM content WHERE id = ?1"};
  if (!s) {
    return 0;
  }
  bind_text(s.get(), 1, id);
  return sqlite3_step(s.get()) == SQLITE_ROW
             ? static_cast<uint64_t>(sqlite3_column_int64(s.get(), 0))
             : 0;
}

std::vector<stored_version> catalog_store::load_all() const {
  std::vector<stored_version> out;
  statement s{stmts_, db_,
              "SELECT body, version, ballot_round, ballot_node FROM content ORDER BY id"};
  while (s && sqlite3_step(s.get()) == SQLITE_ROW) {
    stored_version v;
    if (parse_stored(s.get(), 0, v)) {
      out.push_back(std::move(v));
    }
  }
  return out;
}

size_t catalog_store::size() const {
  statement s{stmts_, db_, "SELECT COUNT(*) FROM content"};
  return s && sqlite3_step(s.get()) == SQLITE_ROW
             ? static_cast<size_t>(sqlite3_column_int64(s.get(), 0))
             : 0;
}

} // namespace sv::content
