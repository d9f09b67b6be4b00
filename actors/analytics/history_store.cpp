#include "actors/analytics/history_store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cstring>

#include "runtime/storage/sqlite.hpp"

namespace sv::analytics {

namespace {

using storage::bind_blob;
using storage::bind_text;
using storage::column_text;
using storage::statement;

constexpr int64_t minute_ms = 60'000;

// The row of a batch (INSERT ... INTO batches, parameters ?1..?10): its key and home region
// from `b`, the events it keeps from `kept`.
void bind_batch(sqlite3_stmt* s, const event_block& b, const event_block& kept, int64_t first,
                int64_t last, int64_t now_ms) {
  bind_text(s, 1, b.producer_id());
  sqlite3_bind_int64(s, 2, static_cast<sqlite3_int64>(b.sequence()));
  sqlite3_bind_int64(s, 3, b.partition());
  sqlite3_bind_int64(s, 4, analytics::event_count(kept));
  sqlite3_bind_int64(s, 5, first);
  sqlite3_bind_int64(s, 6, last);
  sqlite3_bind_int64(s, 7, now_ms);
  bind_blob(s, 8, kept.SerializeAsString());
  sqlite3_bind_int64(s, 9, 1); // format: EventBlock
  bind_text(s, 10, b.home_region());
}

// The time range of a block's events.
std::pair<int64_t, int64_t> time_range(const event_block& b) {
  int64_t first = 0;
  int64_t last = 0;
  for (int i = 0; i < b.timestamp_ms_size(); ++i) {
    auto t = b.timestamp_ms(i);
    first = i == 0 ? t : std::min(first, t);
    last = std::max(last, t);
  }
  return {first, last};
}

#define SV_BATCH_COLUMNS                                                                           \
  " INTO batches (producer, sequence, partition, events, first_ms, last_ms, stored_ms, body,"      \
  " format, home) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
constexpr const char* insert_batch = "INSERT" SV_BATCH_COLUMNS;
constexpr const char* insert_batch_once = "INSERT OR IGNORE" SV_BATCH_COLUMNS;
#undef SV_BATCH_COLUMNS

} // namespace

size_t startup_bucket(uint32_t ms) {
  auto i = std::lower_bound(startup_bounds_ms.begin(), startup_bounds_ms.end(), ms);
  return static_cast<size_t>(i - startup_bounds_ms.begin());
}

uint32_t startup_quantile(const startup_histogram& h, double q) {
  uint64_t total = 0;
  for (auto n : h) {
    total += n;
  }
  if (total == 0) {
    return 0;
  }
  auto want = static_cast<uint64_t>(q * static_cast<double>(total) + 0.999999);
  uint64_t seen = 0;
  for (size_t i = 0; i < h.size(); ++i) {
    seen += h[i];
    if (seen >= want) {
      return i < startup_bounds_ms.size() ? startup_bounds_ms[i] : 2 * startup_bounds_ms.back();
    }
  }
  return 2 * startup_bounds_ms.back();
}

history_store::history_store(const std::string& path, history_settings s) : settings_(s) {
  db_ = storage::open(path, error_, s.read_only);
  if (db_ == nullptr) {
    return;
  }
  if (s.read_only) {
    bool has_format = false;
    statement cols{stmts_, db_, "PRAGMA table_info(batches)"};
    while (cols && sqlite3_step(cols.get()) == SQLITE_ROW) {
      has_format = has_format || column_text(cols.get(), 1) == "format";
    }
    format_ = has_format ? "format" : "0";
    return;
  }
  std::string setup =
      std::string{"PRAGMA journal_mode=WAL;"}
      + (s.fsync_each_batch ? "PRAGMA synchronous=FULL;" : "PRAGMA synchronous=NORMAL;")
      + "CREATE TABLE IF NOT EXISTS batches ("
        "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
        "  producer TEXT NOT NULL, sequence INTEGER NOT NULL,"
        "  partition INTEGER NOT NULL, events INTEGER NOT NULL,"
        "  first_ms INTEGER NOT NULL, last_ms INTEGER NOT NULL,"
        "  stored_ms INTEGER NOT NULL, body BLOB NOT NULL);"
        "CREATE UNIQUE INDEX IF NOT EXISTS batches_by_producer"
        "  ON batches (producer, sequence);"
        "CREATE TABLE IF NOT EXISTS rollup_minute ("
        "  minute_ms INTEGER NOT NULL, content TEXT NOT NULL, region TEXT NOT NULL,"
        "  views INTEGER NOT NULL, watch_ms INTEGER NOT NULL,"
        "  rebuffer_ms INTEGER NOT NULL, errors INTEGER NOT NULL,"
        "  events INTEGER NOT NULL, startup_p50_ms INTEGER NOT NULL,"
        "  startup_p95_ms INTEGER NOT NULL, startup_hist BLOB NOT NULL,"
        "  PRIMARY KEY (minute_ms, content, region));"
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER);";
  if (!storage::exec(db_, setup.c_str(), &error_)) {
    error_ = "cannot prepare " + path + ": " + error_;
    sqlite3_close(db_);
    db_ = nullptr;
    return;
  }
  // Stores from before issue #14 have no format column: their rows are EventBatches. Stores
  // from before the home region (issue #16) have no home column: every row is at home.
  bool has_format = false;
  bool has_home = false;
  {
    statement cols{stmts_, db_, "PRAGMA table_info(batches)"};
    while (cols && sqlite3_step(cols.get()) == SQLITE_ROW) {
      has_format = has_format || column_text(cols.get(), 1) == "format";
      has_home = has_home || column_text(cols.get(), 1) == "home";
    }
  }
  std::string upgrade;
  if (!has_format) {
    upgrade += "ALTER TABLE batches ADD COLUMN format INTEGER NOT NULL DEFAULT 0;";
  }
  if (!has_home) {
    upgrade += "ALTER TABLE batches ADD COLUMN home TEXT NOT NULL DEFAULT '';";
  }
  // Batches held for another region are few (only while a producer's region was out of
  // its reach): a partial index finds them without a scan.
  upgrade += "CREATE INDEX IF NOT EXISTS batches_away ON batches (home, id) WHERE home != '';";
  if (!storage::exec(db_, upgrade.c_str(), &error_)) {
    error_ = "cannot upgrade " + path + ": " + error_;
    sqlite3_close(db_);
    db_ = nullptr;
    return;
  }
  recover();
}

history_store::~history_store() {
  if (db_ != nullptr && !settings_.read_only) {
    flush_rollups();
  }
  for (auto& [sql, stmt] : stmts_) {
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db_);
}

bool history_store::begin() {
  return storage::exec(db_, "BEGIN IMMEDIATE;", &error_);
}

bool history_store::commit() {
  return storage::exec(db_, "COMMIT;", &error_);
}

void history_store::rollback() {
  storage::exec(db_, "ROLLBACK;");
}

// Rolls up the batches stored after the mark (a crash came between their append and the
// next flush).
void history_store::recover() {
  statement mark{stmts_, db_, "SELECT value FROM meta WHERE key = 'rolled_up_to'"};
  int64_t rolled = 0;
  if (mark && sqlite3_step(mark.get()) == SQLITE_ROW) {
    rolled = sqlite3_column_int64(mark.get(), 0);
  }
  last_batch_id_ = rolled;
  statement s{stmts_, db_, "SELECT id, body, format FROM batches WHERE id > ?1 ORDER BY id"};
  if (!s) {
    return;
  }
  sqlite3_bind_int64(s.get(), 1, rolled);
  while (sqlite3_step(s.get()) == SQLITE_ROW) {
    event_block b;
    if (parse_body(sqlite3_column_blob(s.get(), 1), sqlite3_column_bytes(s.get(), 1),
                   sqlite3_column_int(s.get(), 2), b)) {
      roll_up(b, pending_);
    }
    last_batch_id_ = sqlite3_column_int64(s.get(), 0);
  }
  flush_rollups();
}

bool history_store::parse_body(const void* data, int size, int format, event_block& out) {
  if (format == 1) {
    return out.ParseFromArray(data, size) && well_formed(out);
  }
  event_batch old;
  if (!old.ParseFromArray(data, size)) {
    return false;
  }
  out = to_block(old);
  return true;
}

void history_store::roll_up(const event_block& valid, std::map<key, agg>& into) {
  // Each (minute, content, region) of a block is looked up once.
  std::map<std::tuple<int64_t, uint32_t, uint32_t>, agg*> seen;
  auto n = analytics::event_count(valid);
  for (int i = 0; i < n; ++i) {
    event_view e{valid, i};
    auto minute = e.timestamp_ms() / minute_ms * minute_ms;
    auto k = std::make_tuple(minute, valid.content(i), valid.region(i));
    auto j = seen.find(k);
    if (j == seen.end()) {
      j = seen.emplace(k, &into[key{minute, std::string{e.content()}, std::string{e.region()}}])
              .first;
    }
    auto& a = *j->second;
    ++a.events;
    a.watch_ms += e.watched_ms();
    switch (e.type()) {
    case streamverse::v1::EVENT_START:
      ++a.views;
      ++a.startup[startup_bucket(e.startup_ms())];
      break;
    case streamverse::v1::EVENT_REBUFFER_END:
      a.rebuffer_ms += e.rebuffer_ms();
      break;
    case streamverse::v1::EVENT_ERROR:
      ++a.errors;
      break;
    default:
      break;
    }
  }
}

std::optional<append_result> history_store::append(const event_batch& b, int64_t now_ms) {
  return append(to_block(b), now_ms);
}

std::optional<append_result> history_store::append(const event_block& b, int64_t now_ms) {
  if (db_ == nullptr) {
    return std::nullopt;
  }
  append_result r;
  if (has_batch(b.producer_id(), b.sequence())) {
    r.duplicate = true;
    return r;
  }
  int64_t first = 0;
  int64_t last = 0;
  auto n = analytics::event_count(b);
  for (int i = 0; i < n; ++i) {
    event_view e{b, i};
    if (auto why = validate(e, now_ms, settings_.limits); !why.empty()) {
      ++r.refused;
      ++r.refused_by_field[reason_field(why)];
      r.refused_at.push_back(static_cast<uint32_t>(i));
      continue;
    }
    first = r.stored == 0 ? e.timestamp_ms() : std::min(first, e.timestamp_ms());
    last = std::max(last, e.timestamp_ms());
    ++r.stored;
  }
  // Only the valid events are kept: the block as it came when all are (no copy).
  event_block filtered;
  if (r.refused > 0) {
    block_builder kept;
    auto skip = r.refused_at.begin();
    for (int i = 0; i < n; ++i) {
      if (skip != r.refused_at.end() && *skip == static_cast<uint32_t>(i)) {
        ++skip;
        continue;
      }
      kept.add(event_view{b, i});
    }
    filtered = kept.take();
    filtered.set_producer_id(b.producer_id());
    filtered.set_sequence(b.sequence());
    filtered.set_partition(b.partition());
  }
  const auto& valid = r.refused > 0 ? filtered : b;
  if (!begin()) {
    return std::nullopt;
  }
  statement s{stmts_, db_, insert_batch};
  if (!s) {
    error_ = sqlite3_errmsg(db_);
    rollback();
    return std::nullopt;
  }
  bind_batch(s.get(), b, valid, first, last, now_ms);
  if (sqlite3_step(s.get()) != SQLITE_DONE) {
    error_ = sqlite3_errmsg(db_);
    rollback();
    return std::nullopt;
  }
  auto id = sqlite3_last_insert_rowid(db_);
  if (!commit()) {
    rollback();
    return std::nullopt;
  }
  roll_up(valid, pending_);
  last_batch_id_ = id;
  return r;
}

bool history_store::write_rollups(const std::map<key, agg>& delta, bool subtract) {
  statement get{stmts_, db_,
                "SELECT views, watch_ms, rebuffer_ms, errors, events, startup_hist FROM "
                "rollup_minute WHERE minute_ms = ?1 AND content = ?2 AND region = ?3"};
  statement put{stmts_, db_,
                "INSERT OR REPLACE INTO rollup_minute (minute_ms, content, region, views,"
                " watch_ms, rebuffer_ms, errors, events, startup_p50_ms, startup_p95_ms,"
                " startup_hist) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"};
  statement drop{stmts_, db_,
                 "DELETE FROM rollup_minute WHERE minute_ms = ?1 AND content = ?2 AND region = ?3"};
  if (!get || !put || !drop) {
    return false;
  }
  // a + b, or a - b (never below zero)
  auto combine = [subtract](uint64_t a, uint64_t b) {
    return subtract ? (a > b ? a - b : 0) : a + b;
  };
  for (auto& [k, d] : delta) {
    auto& [minute, content, region] = k;
    agg total;
    sqlite3_reset(get.get());
    sqlite3_bind_int64(get.get(), 1, minute);
    bind_text(get.get(), 2, content);
    bind_text(get.get(), 3, region);
    if (sqlite3_step(get.get()) == SQLITE_ROW) {
      total.views = static_cast<uint64_t>(sqlite3_column_int64(get.get(), 0));
      total.watch_ms = static_cast<uint64_t>(sqlite3_column_int64(get.get(), 1));
      total.rebuffer_ms = static_cast<uint64_t>(sqlite3_column_int64(get.get(), 2));
      total.errors = static_cast<uint64_t>(sqlite3_column_int64(get.get(), 3));
      total.events = static_cast<uint64_t>(sqlite3_column_int64(get.get(), 4));
      auto bytes = static_cast<size_t>(sqlite3_column_bytes(get.get(), 5));
      if (bytes == sizeof(total.startup)) {
        std::memcpy(total.startup.data(), sqlite3_column_blob(get.get(), 5), bytes);
      }
    }
    sqlite3_reset(get.get());
    total.views = combine(total.views, d.views);
    total.watch_ms = combine(total.watch_ms, d.watch_ms);
    total.rebuffer_ms = combine(total.rebuffer_ms, d.rebuffer_ms);
    total.errors = combine(total.errors, d.errors);
    total.events = combine(total.events, d.events);
    for (size_t i = 0; i < total.startup.size(); ++i) {
      total.startup[i] = static_cast<uint32_t>(combine(total.startup[i], d.startup[i]));
    }
    if (total.events == 0) {
      sqlite3_reset(drop.get());
      sqlite3_bind_int64(drop.get(), 1, minute);
      bind_text(drop.get(), 2, content);
      bind_text(drop.get(), 3, region);
      if (sqlite3_step(drop.get()) != SQLITE_DONE) {
        return false;
      }
      continue;
    }
    sqlite3_reset(put.get());
    sqlite3_bind_int64(put.get(), 1, minute);
    bind_text(put.get(), 2, content);
    bind_text(put.get(), 3, region);
    sqlite3_bind_int64(put.get(), 4, static_cast<sqlite3_int64>(total.views));
    sqlite3_bind_int64(put.get(), 5, static_cast<sqlite3_int64>(total.watch_ms));
    sqlite3_bind_int64(put.get(), 6, static_cast<sqlite3_int64>(total.rebuffer_ms));
    sqlite3_bind_int64(put.get(), 7, static_cast<sqlite3_int64>(total.errors));
    sqlite3_bind_int64(put.get(), 8, static_cast<sqlite3_int64>(total.events));
    sqlite3_bind_int64(put.get(), 9, startup_quantile(total.startup, 0.5));
    sqlite3_bind_int64(put.get(), 10, startup_quantile(total.startup, 0.95));
    sqlite3_bind_blob(put.get(), 11, total.startup.data(), static_cast<int>(sizeof(total.startup)),
                      SQLITE_TRANSIENT);
    if (sqlite3_step(put.get()) != SQLITE_DONE) {
      return false;
    }
  }
  return true;
}

bool history_store::flush_rollups() {
  if (db_ == nullptr) {
    return false;
  }
  if (pending_.empty()) {
    return true;
  }
  if (!begin()) {
    return false;
  }
  statement mark{stmts_, db_,
                 "INSERT OR REPLACE INTO meta (key, value) VALUES ('rolled_up_to', ?1)"};
  bool ok = mark && write_rollups(pending_, false);
  if (ok) {
    sqlite3_bind_int64(mark.get(), 1, last_batch_id_);
    ok = sqlite3_step(mark.get()) == SQLITE_DONE;
  }
  if (!ok || !commit()) {
    error_ = sqlite3_errmsg(db_);
    rollback();
    return false;
  }
  pending_.clear();
  return true;
}

std::vector<std::pair<int64_t, event_block>> history_store::batches_after(int64_t after, size_t max,
                                                                          size_t max_bytes) const {
  std::vector<std::pair<int64_t, event_block>> out;
  statement s{stmts_, db_,
              "SELECT id, body, format, home FROM batches WHERE id > ?1 ORDER BY id LIMIT ?2"};
  if (!s) {
    return out;
  }
  sqlite3_bind_int64(s.get(), 1, after);
  sqlite3_bind_int64(s.get(), 2, static_cast<sqlite3_int64>(max));
  read_page(s.get(), max_bytes, out);
  return out;
}

void history_store::read_page(sqlite3_stmt* s, size_t max_bytes,
                              std::vector<std::pair<int64_t, event_block>>& out) {
  size_t bytes = 0;
  while (bytes < max_bytes && sqlite3_step(s) == SQLITE_ROW) {
    event_block b;
    auto n = sqlite3_column_bytes(s, 1);
    if (parse_body(sqlite3_column_blob(s, 1), n, sqlite3_column_int(s, 2), b)) {
      b.set_home_region(column_text(s, 3)); // the body may lack it (filtered, or older)
      out.emplace_back(sqlite3_column_int64(s, 0), std::move(b));
    }
    bytes += static_cast<size_t>(n);
  }
}

std::map<std::string, uint64_t> history_store::away() const {
  std::map<std::string, uint64_t> out;
  statement s{stmts_, db_, "SELECT home, COUNT(*) FROM batches WHERE home != '' GROUP BY home"};
  while (s && sqlite3_step(s.get()) == SQLITE_ROW) {
    out[column_text(s.get(), 0)] = static_cast<uint64_t>(sqlite3_column_int64(s.get(), 1));
  }
  return out;
}

std::vector<std::pair<int64_t, event_block>>
history_store::batches_of_home(const std::string& home, size_t max, size_t max_bytes) const {
  std::vector<std::pair<int64_t, event_block>> out;
  statement s{stmts_, db_,
              "SELECT id, body, format, home FROM batches WHERE home = ?1 AND home != ''"
              " ORDER BY id LIMIT ?2"};
  if (!s) {
    return out;
  }
  bind_text(s.get(), 1, home);
  sqlite3_bind_int64(s.get(), 2, static_cast<sqlite3_int64>(max));
  read_page(s.get(), max_bytes, out);
  return out;
}

std::optional<size_t> history_store::adopt(const std::vector<event_block>& batches,
                                           int64_t now_ms) {
  if (db_ == nullptr || !begin()) {
    return std::nullopt;
  }
  statement s{stmts_, db_, insert_batch_once};
  if (!s) {
    error_ = sqlite3_errmsg(db_);
    rollback();
    return std::nullopt;
  }
  std::vector<const event_block*> added;
  int64_t last_id = last_batch_id_;
  for (auto& b : batches) {
    auto [first, last] = time_range(b);
    sqlite3_reset(s.get());
    bind_batch(s.get(), b, b, first, last, now_ms);
    if (sqlite3_step(s.get()) != SQLITE_DONE) {
      error_ = sqlite3_errmsg(db_);
      rollback();
      return std::nullopt;
    }
    if (sqlite3_changes(db_) == 1) { // not stored here before
      last_id = sqlite3_last_insert_rowid(db_);
      added.push_back(&b);
    }
  }
  if (!commit()) {
    rollback();
    return std::nullopt;
  }
  for (auto* b : added) {
    roll_up(*b, pending_);
  }
  last_batch_id_ = last_id;
  return added.size();
}

std::optional<size_t> history_store::release(int64_t up_to) {
  return release_where("id <= ?1", up_to, nullptr);
}

std::optional<size_t> history_store::release_home(const std::string& home, int64_t up_to) {
  if (home.empty()) {
    return size_t{0};
  }
  return release_where("id <= ?1 AND home = ?2 AND home != ''", up_to, &home);
}

std::optional<size_t> history_store::release_where(const char* where, int64_t up_to,
                                                   const std::string* home) {
  // The rollups first hold every stored batch, so the subtraction below is exact.
  if (db_ == nullptr || !flush_rollups() || !begin()) {
    return std::nullopt;
  }
  std::map<key, agg> removed;
  auto select = std::string{"SELECT body, format FROM batches WHERE "} + where;
  auto erase = std::string{"DELETE FROM batches WHERE "} + where;
  statement s{stmts_, db_, select.c_str()};
  statement del{stmts_, db_, erase.c_str()};
  bool ok = s && del;
  auto bind = [&](sqlite3_stmt* st) {
    sqlite3_bind_int64(st, 1, up_to);
    if (home != nullptr) {
      bind_text(st, 2, *home);
    }
  };
  if (ok) {
    bind(s.get());
    while (sqlite3_step(s.get()) == SQLITE_ROW) {
      event_block b;
      if (parse_body(sqlite3_column_blob(s.get(), 0), sqlite3_column_bytes(s.get(), 0),
                     sqlite3_column_int(s.get(), 1), b)) {
        roll_up(b, removed);
      }
    }
    ok = write_rollups(removed, true);
  }
  if (ok) {
    bind(del.get());
    ok = sqlite3_step(del.get()) == SQLITE_DONE;
  }
  auto deleted = ok ? static_cast<size_t>(sqlite3_changes(db_)) : 0;
  if (!ok || !commit()) {
    error_ = sqlite3_errmsg(db_);
    rollback();
    return std::nullopt;
  }
  return deleted;
}

size_t history_store::purge(int64_t now_ms) {
  if (!flush_rollups()) {
    return 0;
  }
  auto cutoff = now_ms - settings_.retention_ms;
  statement batches{stmts_, db_, "DELETE FROM batches WHERE last_ms < ?1"};
  statement rollups{stmts_, db_, "DELETE FROM rollup_minute WHERE minute_ms + 60000 <= ?1"};
  if (!batches || !rollups) {
    return 0;
  }
  sqlite3_bind_int64(batches.get(), 1, cutoff);
  sqlite3_step(batches.get());
  auto n = static_cast<size_t>(sqlite3_changes(db_));
  sqlite3_bind_int64(rollups.get(), 1, cutoff);
  sqlite3_step(rollups.get());
  return n;
}

bool history_store::has_batch(const std::string& producer, uint64_t sequence) const {
  statement s{stmts_, db_, "SELECT 1 FROM batches WHERE producer = ?1 AND sequence = ?2"};
  if (!s) {
    return false;
  }
  bind_text(s.get(), 1, producer);
  sqlite3_bind_int64(s.get(), 2, static_cast<sqlite3_int64>(sequence));
  return sqlite3_step(s.get()) == SQLITE_ROW;
}

uint64_t history_store::batch_count() const {
  statement s{stmts_, db_, "SELECT COUNT(*) FROM batches"};
  return s && sqlite3_step(s.get()) == SQLITE_ROW
             ? static_cast<uint64_t>(sqlite3_column_int64(s.get(), 0))
             : 0;
}

uint64_t history_store::event_count() const {
  statement s{stmts_, db_, "SELECT COALESCE(SUM(events), 0) FROM batches"};
  return s && sqlite3_step(s.get()) == SQLITE_ROW
             ? static_cast<uint64_t>(sqlite3_column_int64(s.get(), 0))
             : 0;
}

void history_store::for_each(const std::function<void(const event_view&)>& f) const {
  auto sql = std::string{"SELECT body, "} + format_ + " FROM batches ORDER BY id";
  statement s{stmts_, db_, sql.c_str()};
  while (s && sqlite3_step(s.get()) == SQLITE_ROW) {
    event_block b;
    if (parse_body(sqlite3_column_blob(s.get(), 0), sqlite3_column_bytes(s.get(), 0),
                   sqlite3_column_int(s.get(), 1), b)) {
      auto n = analytics::event_count(b);
      for (int i = 0; i < n; ++i) {
        f(event_view{b, i});
      }
    }
  }
}

std::vector<viewer_event> history_store::read_all() const {
  std::vector<viewer_event> out;
  for_each([&out](const event_view& e) { out.push_back(to_event(e)); });
  return out;
}

std::vector<rollup_row> history_store::rollups() const {
  statement s{stmts_, db_,
              "SELECT minute_ms, content, region, views, watch_ms, rebuffer_ms, errors, events,"
              " startup_p50_ms, startup_p95_ms, startup_hist FROM rollup_minute"
              " ORDER BY minute_ms, content, region"};
  return read_rollups(s.get());
}

std::vector<rollup_row> history_store::rollups(const std::string& content, int64_t from_ms,
                                               int64_t to_ms) const {
  statement s{stmts_, db_,
              "SELECT minute_ms, content, region, views, watch_ms, rebuffer_ms, errors, events,"
              " startup_p50_ms, startup_p95_ms, startup_hist FROM rollup_minute"
              " WHERE content = ?1 AND minute_ms >= ?2 AND minute_ms < ?3"
              " ORDER BY minute_ms, region"};
  if (!s) {
    return {};
  }
  bind_text(s.get(), 1, content);
  sqlite3_bind_int64(s.get(), 2, from_ms);
  sqlite3_bind_int64(s.get(), 3, to_ms);
  return read_rollups(s.get());
}

std::vector<rollup_row> history_store::read_rollups(sqlite3_stmt* s) {
  std::vector<rollup_row> out;
  while (s != nullptr && sqlite3_step(s) == SQLITE_ROW) {
    rollup_row r;
    r.minute_ms = sqlite3_column_int64(s, 0);
    r.content = column_text(s, 1);
    r.region = column_text(s, 2);
    r.views = static_cast<uint64_t>(sqlite3_column_int64(s, 3));
    r.watch_ms = static_cast<uint64_t>(sqlite3_column_int64(s, 4));
    r.rebuffer_ms = static_cast<uint64_t>(sqlite3_column_int64(s, 5));
    r.errors = static_cast<uint64_t>(sqlite3_column_int64(s, 6));
    r.events = static_cast<uint64_t>(sqlite3_column_int64(s, 7));
    r.startup_p50_ms = static_cast<uint32_t>(sqlite3_column_int64(s, 8));
    r.startup_p95_ms = static_cast<uint32_t>(sqlite3_column_int64(s, 9));
    if (static_cast<size_t>(sqlite3_column_bytes(s, 10)) == sizeof(r.startup)) {
      std::memcpy(r.startup.data(), sqlite3_column_blob(s, 10), sizeof(r.startup));
    }
    out.push_back(std::move(r));
  }
  return out;
}

} // namespace sv::analytics
