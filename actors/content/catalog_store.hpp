#pragma once

// A node's persistent copy of the catalog (design §5: the catalog replica keeps its state in
// the node's data directory, so a restarted node serves its last state at once). SQLite in
// WAL mode; one row per content: id, version, serialized ContentMetadata. CAF-free.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/content/metadata.hpp"

struct sqlite3;

namespace sv::content {

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

  /// Stores `m` if its version is newer than the stored one, or equal with a different
  /// content that sorts after the stored one (a deterministic tie-break, so replicas agree
  /// even when two owners assigned the same version). Durable when this returns `applied`.
  /// Returns nullopt when the write failed (error() says why).
  std::optional<apply_result> apply(const metadata& m);

  std::optional<metadata> get(const std::string& id) const;

  /// The stored version of `id` (0 if unknown).
  uint64_t version_of(const std::string& id) const;

  /// Every stored item.
  std::vector<metadata> load_all() const;

  size_t size() const;

private:
  sqlite3* db_ = nullptr;
  std::string error_;
};

} // namespace sv::content
