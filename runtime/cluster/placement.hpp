#pragma once

// Placement by rendezvous (highest random weight) hashing: a key is owned by the member
// whose hash of (member, key) is highest. Every node with the same view of the up
// members picks the same owner, and when a member leaves only the keys it owned move
// (each to its own runner-up), so a view change moves about 1/N of the keys.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sv::cluster {

/// A stable 64-bit hash of `s` (FNV-1a, then a finalizer that spreads the bits), the same
/// on every node and every build.
uint64_t stable_hash(std::string_view s) noexcept;

/// The weight of `member` for `key`: what rendezvous hashing compares.
uint64_t rendezvous_weight(std::string_view member, std::string_view key) noexcept;

/// The owner of `key` among `members` (names; order does not matter), or "" if empty.
/// Ties (practically impossible) go to the smaller name.
std::string owner_of(std::string_view key, const std::vector<std::string>& members);

/// The `n` highest-weight members for `key`, best first (for replicas).
std::vector<std::string> owners_of(std::string_view key, const std::vector<std::string>& members,
                                   size_t n);

} // namespace sv::cluster
