#pragma once

// The catalog's per-title consensus rules (design §5), CAF-free: single-decree Paxos on each
// title's latest version, the change being "the update applied to the highest version a
// majority reports" (the CASPaxos idea). The owner proposes; every member's replica is an
// acceptor whose promises and accepted versions live in its SQLite store.
//
// Why: an owner that acknowledged an edit after storing it on the members it could see
// lost that edit when a partition healed and the other side's owner had assigned the same
// version. With a majority of the voters needed for both phases, only one side of a
// partition can make progress, and a version acknowledged by a majority is seen by every
// later proposal (any two majorities share a member), so it is never overwritten by a
// version built without it.

#include <cstddef>
#include <optional>
#include <string>

#include "actors/content/catalog_store.hpp"

namespace sv::content::consensus {

/// How many of `voters` make a majority.
constexpr size_t quorum(size_t voters) noexcept {
  return voters / 2 + 1;
}

/// An acceptor's answer to phase 1.
struct promise_reply {
  bool ok = false;
  /// When refused: the higher ballot promised (or accepted) before.
  ballot promised;
  /// The acceptor's stored version of the title, if any.
  std::optional<stored_version> accepted;
};

/// Phase 1 at an acceptor: promises `b` for `id` (durably) when it is higher than every
/// ballot promised or accepted there before.
promise_reply prepare(catalog_store& store, const std::string& id, const ballot& b);

/// An acceptor's answer to phase 2.
struct accept_reply {
  bool ok = false;
  /// When refused: the higher ballot promised there since.
  ballot promised;
  /// Whether the store took the version just now (false for a repeat).
  bool stored = false;
};

/// Phase 2 at an acceptor: stores `m` under `b` unless a higher ballot was promised for the
/// title; ok when the store then holds exactly this version under this ballot.
accept_reply accept(catalog_store& store, const metadata& m, const ballot& b);

/// One proposal as its proposer sees it: counts the answers of both phases.
class proposal {
public:
  proposal(ballot b, size_t voters) : ballot_(std::move(b)), voters_(voters) {}

  /// The proposer's next change after `chosen`, which it proposed itself: a majority
  /// promised that ballot and nobody can have chosen anything since without a majority
  /// promising a higher one (which then refuses this proposal's phase 2), so phase 1 is
  /// skipped: the result is prepared, based on `chosen`, under the same ballot.
  static proposal continuing(const stored_version& chosen, size_t voters) {
    proposal p{chosen.accepted, voters};
    p.promises_ = p.needed();
    p.highest_ = chosen;
    return p;
  }

  const ballot& number() const noexcept {
    return ballot_;
  }
  size_t needed() const noexcept {
    return quorum(voters_);
  }

  /// Counts a phase-1 answer.
  void on_promise(const promise_reply& r);
  /// Whether a majority promised.
  bool prepared() const noexcept {
    return promises_ >= needed();
  }
  /// The highest version the promising acceptors reported (the base of the update).
  const std::optional<stored_version>& highest() const noexcept {
    return highest_;
  }

  /// Counts a phase-2 answer.
  void on_accepted(const accept_reply& r);
  /// Whether a majority stored the version: it is chosen and may be acknowledged.
  bool chosen() const noexcept {
    return accepts_ >= needed();
  }

  /// The highest ballot an acceptor refused with (the next attempt must beat it).
  const ballot& highest_refusal() const noexcept {
    return refusal_;
  }

private:
  ballot ballot_;
  size_t voters_;
  size_t promises_ = 0;
  size_t accepts_ = 0;
  std::optional<stored_version> highest_;
  ballot refusal_;
};

} // namespace sv::content::consensus
