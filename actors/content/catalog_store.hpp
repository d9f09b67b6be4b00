#pragma once

// A node's persistent copy of the catalog (design §5: the catalog replica keeps its state in
// the node's data directory, so a restarted node serves its last state at once). SQLite in
// WAL mode; one row per content: id, version, serialized ContentMetadata. CAF-free.

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "actors/content/metadata.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace sv {
class readiness;
}

namespace sv::content {

/// A proposal number of the per-title consensus: ordered by round, then by node name, so
/// two nodes never propose the same ballot.
struct ballot {
  uint64_t round = 0;
  std::string node;

  friend bool operator<(const ballot& a, const ballot& b) {
    return a.round != b.round ? a.round < b.round : a.node < b.node;
  }
  friend bool operator==(const ballot& a, const ballot& b) {
    return a.round == b.round && a.node == b.node;
  }
};

/// A title's stored version and the ballot it was accepted under.
struct stored_version {
  metadata value;
  ballot accepted;
};

/// Whether `a` supersedes `b`: a higher version; the same version accepted under a higher
/// ballot (the consensus's rule: that one was chosen later); the same version and ballot
/// with bytes that sort after (only versions from before ballots, or a bug, get here:
/// replicas still agree).
bool supersedes(const stored_version& a, const stored_version& b);

/// What applying a version did.
/// What applying a version did.
enum class apply_result {
  applied, ///< newer than what the store had (or new): stored
  stale,   ///< not newer: ignored
};

class catalog_store {
public:
  /// Opens (creating if needed) the store at `path`; ":memory:" for a private in-memory
  /// store. On failure `error()` says why and every call fails.
  explicit catalog_store(const std::string& path);
  ~catalog_store();
  catalog_store(const catalog_store&) = delete;
  catalog_store& operator=(const catalog_store&) = delete;

  /// Empty when the store opened; otherwise why not.
  const std::string& error() const noexcept {
    return error_;
  }

  /// Stores `m` accepted under `b` if it supersedes the stored version (see supersedes()),
  /// so every replica keeps the same one whatever the arrival order. Durable when this
  /// returns `applied`. Returns nullopt when the write failed (error() says why).
  std::optional<apply_result> apply(const metadata& m, const ballot& b = {});

  std::optional<metadata> get(const std::string& id) const;

  /// The stored version of `id` with its ballot.
  std::optional<stored_version> get_stored(const std::string& id) const;

  /// The stored version number of `id` (0 if unknown).
  uint64_t version_of(const std::string& id) const;

  /// Every stored item.
  std::vector<stored_version> load_all() const;

  /// The highest ballot this replica promised for `id` (a zero ballot if none).
  ballot promised(const std::string& id) const;

  /// Records a promise for `id` (durable when it returns true).
  bool promise(const std::string& id, const ballot& b);

  /// The members whose majority an update needs (persisted, so that a node restarted
  /// alone still knows the cluster it belongs to).
  std::vector<std::string> voters() const;
  bool set_voters(const std::vector<std::string>& names);

  size_t size() const;

  /// Where a failed write says so (as `service`), and a write that succeeds again clears
  /// it: the node's /readyz.
  void report_to(std::shared_ptr<sv::readiness> health, std::string service) {
    health_ = std::move(health);
    service_ = std::move(service);
  }

  /// Whether the last write failed.
  bool failing() const noexcept {
    return failing_;
  }

  /// A small write that touches the disk (a probe row, in a transaction), to learn whether
  /// writes work again after a failure; reported like any write.
  bool probe();

private:
  void checkpoint_loop(const std::string& path);
  bool failing_ = false;
  // After a transaction's last statement: on a failure, error_ and a rollback of what is
  // still open; then wrote(ok).
  bool finish_transaction(bool ok);
  // Reports a write's outcome to health_ (a failure with error_); returns `ok`.
  bool wrote(bool ok);
  std::shared_ptr<sv::readiness> health_;
  std::string service_;

  sqlite3* db_ = nullptr;
  std::thread checkpointer_;
  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  // Prepared statements by SQL text, kept for the store's lifetime.
  mutable std::unordered_map<std::string, sqlite3_stmt*> stmts_;
  std::string error_;
};

} // namespace sv::content
