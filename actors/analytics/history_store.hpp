#pragma once

// The historical path of an analytics partition (design §7): every accepted event, exactly
// once, durable before it is acknowledged, in SQLite in the node's data directory.
// CAF-free; one writer (the partition).
//
// Layout (query it with the sqlite3 command line, see docs/architecture.md, Analytics):
// - `batches`: one row per stored batch, keys that only grow (appends): producer, sequence,
//   partition, event count, time range, home region ("" when stored in it; else the region
//   it is held for, see away()), and the batch's valid events (`body`: a serialized
//   EventBlock when `format` is 1; rows written before issue #14 hold an EventBatch, format
//   0). (producer, sequence) is unique: a resent batch is recognised and dropped. Every
//   event can be exported as JSON lines or CSV (export_events(), `streamverse-ctl
//   analytics export`).
// - `rollup_minute`: per minute, content and region: views (starts), watch time, rebuffer
//   time, errors, events, startup p50/p95 (from a histogram kept beside them).
// - `meta`: the last batch whose events are in the rollups. Rollups are written once a
//   second (flush_rollups) in one transaction with that mark; after a crash the batches
//   past the mark are rolled up again, so every event counts exactly once there too.
//
// A crash during a write (a torn last write included) loses only the transaction that was
// under way, which was not acknowledged: SQLite's WAL recovery rolls it back.

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "actors/analytics/events.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace sv::analytics {

struct history_settings {
  event_limits limits;
  /// Batches and rollups older than this are deleted by purge().
  int64_t retention_ms = 7LL * 24 * 3600 * 1000;
  /// true: an fsync per batch (survives a power loss); false: WAL with synchronous=NORMAL
  /// (survives a crash of the process, SIGKILL included).
  bool fsync_each_batch = false;
  /// Only reading (exports, checkers, while the node may be writing the file): the file
  /// must exist; no schema change, no recovery, and every write fails.
  bool read_only = false;
};

struct append_result {
  bool duplicate = false; ///< the batch was stored before: nothing changed
  uint32_t stored = 0;
  uint32_t refused = 0;
  /// Refusals by the field their reason names (validate()).
  std::map<std::string, uint32_t> refused_by_field;
  /// Positions in the batch of the refused events, ascending.
  std::vector<uint32_t> refused_at;
};

/// Startup-time histogram bucket bounds (ms), the last one open.
constexpr std::array<uint32_t, 18> startup_bounds_ms = {50,   100,  150,   200,   300,   400,
                                                        500,  750,  1000,  1500,  2000,  3000,
                                                        5000, 7500, 10000, 15000, 20000, 30000};

using startup_histogram = std::array<uint32_t, startup_bounds_ms.size() + 1>;

/// The histogram bucket of a startup time.
size_t startup_bucket(uint32_t ms);

/// The bucket bound under which a share `q` of the counted starts fall (twice the last
/// bound for the open bucket; 0 for an empty histogram).
uint32_t startup_quantile(const startup_histogram& h, double q);

struct rollup_row {
  int64_t minute_ms = 0;
  std::string content;
  std::string region;
  uint64_t views = 0;
  uint64_t watch_ms = 0;
  uint64_t rebuffer_ms = 0;
  uint64_t errors = 0;
  uint64_t events = 0;
  uint32_t startup_p50_ms = 0; ///< bucket upper bound; 0 without starts
  uint32_t startup_p95_ms = 0;
  startup_histogram startup{}; ///< starts per bucket (the quantiles' source)
};

class history_store {
public:
  /// Opens (creating if needed) the store at `path` and rolls up what a crash left out.
  /// On failure `error()` says why and every call fails.
  explicit history_store(const std::string& path, history_settings s = {});
  ~history_store();
  history_store(const history_store&) = delete;
  history_store& operator=(const history_store&) = delete;

  const std::string& error() const noexcept {
    return error_;
  }

  /// Stores the valid events of `b` (refusing the others with a reason) unless the batch
  /// (producer_id, sequence) was stored before. Durable when it returns a result; nullopt
  /// when the write failed (error() says why; nothing was stored).
  std::optional<append_result> append(const event_block& b, int64_t now_ms);
  std::optional<append_result> append(const event_batch& b, int64_t now_ms);

  /// Writes the rollups of the batches appended since the last call. False on a failed
  /// write (they are kept and written by the next call).
  bool flush_rollups();

  /// Deletes batches and rollups older than the retention. Returns the batches deleted.
  size_t purge(int64_t now_ms);

  /// Handing a partition's history to its owner (the node that is not the owner gives its
  /// batches away, oldest first): the stored batches after row `after`, with their row ids,
  /// in the order stored; at most `max` of them and no more once `max_bytes` are in.
  std::vector<std::pair<int64_t, event_block>> batches_after(int64_t after, size_t max,
                                                             size_t max_bytes) const;

  /// Stores batches another node handed over (already validated there): those whose
  /// (producer, sequence) is stored here already are skipped. All or nothing, durable when
  /// it returns; the number newly stored, nullopt on a failed write.
  std::optional<size_t> adopt(const std::vector<event_block>& batches, int64_t now_ms);

  /// Deletes the batches up to row `up_to` (their new owner stored them) and takes their
  /// events out of the rollups, in one transaction. The number of batches deleted; nullopt
  /// on a failed write (nothing changed).
  std::optional<size_t> release(int64_t up_to);

  /// Batches held for another region (their `home_region`, stored here because the producer
  /// could reach no node of it): how many per home region.
  std::map<std::string, uint64_t> away() const;

  /// The oldest batches held for region `home` (as batches_after), each with its home.
  std::vector<std::pair<int64_t, event_block>> batches_of_home(const std::string& home, size_t max,
                                                               size_t max_bytes) const;

  /// As release(), only the batches held for region `home` (its partition owner stored them).
  std::optional<size_t> release_home(const std::string& home, int64_t up_to);

  bool has_batch(const std::string& producer, uint64_t sequence) const;
  uint64_t batch_count() const;
  uint64_t event_count() const;
  /// Every stored event, in the order stored (for verification; small stores).
  std::vector<viewer_event> read_all() const;
  /// Calls `f` for every stored event in the order stored, one batch in memory at a time.
  void for_each(const std::function<void(const event_view&)>& f) const;
  std::vector<rollup_row> rollups() const;
  /// The rollups of `content` in the minutes [from_ms, to_ms), by minute and region (what
  /// flush_rollups() wrote: call it first for the latest).
  std::vector<rollup_row> rollups(const std::string& content, int64_t from_ms, int64_t to_ms) const;

private:
  struct agg {
    uint64_t views = 0, watch_ms = 0, rebuffer_ms = 0, errors = 0, events = 0;
    startup_histogram startup{};
  };
  using key = std::tuple<int64_t, std::string, std::string>; // minute, content, region

  static void roll_up(const event_block& valid, std::map<key, agg>& into);
  // The block in a row's body (either format); false when it does not parse.
  static bool parse_body(const void* data, int size, int format, event_block& out);
  // Adds (or subtracts) `delta` to the rollup rows, inside the caller's transaction.
  bool write_rollups(const std::map<key, agg>& delta, bool subtract);
  void recover();
  std::optional<size_t> release_where(const char* where, int64_t up_to, const std::string* home);
  static void read_page(sqlite3_stmt* s, size_t max_bytes,
                        std::vector<std::pair<int64_t, event_block>>& out);
  static std::vector<rollup_row> read_rollups(sqlite3_stmt* s);
  bool begin();
  bool commit();
  void rollback();

  sqlite3* db_ = nullptr;
  std::string error_;
  history_settings settings_;
  std::map<key, agg> pending_;    // rollups not written yet
  int64_t last_batch_id_ = 0;     // the newest batch rolled up in memory
  const char* format_ = "format"; // the body's format column ("0" in stores before #14)
  mutable std::unordered_map<std::string, sqlite3_stmt*> stmts_;
};

} // namespace sv::analytics
