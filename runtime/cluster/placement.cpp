#include "runtime/cluster/placement.hpp"
#include "runtime/util/hash.hpp"

#include <algorithm>
#include <utility>

namespace sv::cluster {

namespace {

// Higher weight first; the smaller name breaks a tie.
bool better(const std::pair<uint64_t, const std::string*>& a,
            const std::pair<uint64_t, const std::string*>& b) {
  return a.first != b.first ? a.first > b.first : *a.second < *b.second;
}

} // namespace

uint64_t stable_hash(std::string_view s) noexcept {
  return hash::stable(s);
}

uint64_t rendezvous_weight(std::string_view member, std::string_view key) noexcept {
  // Hash the member, then continue with a separator and the key, so that ("ab", "c")
  // and ("a", "bc") differ.
  auto h = hash::fnv1a(member);
  h = hash::fnv1a(std::string_view{"\x1f", 1}, h);
  return hash::mix(hash::fnv1a(key, h));
}

std::string owner_of(std::string_view key, const std::vector<std::string>& members) {
  auto best = owners_of(key, members, 1);
  return best.empty() ? std::string{} : best.front();
}

std::vector<std::string> owners_of(std::string_view key, const std::vector<std::string>& members,
                                   size_t n) {
  std::vector<std::pair<uint64_t, const std::string*>> ranked;
  ranked.reserve(members.size());
  for (auto& m : members) {
    ranked.emplace_back(rendezvous_weight(m, key), &m);
  }
  n = std::min(n, ranked.size());
  std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(n), ranked.end(),
                    better);
  std::vector<std::string> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(*ranked[i].second);
  }
  return out;
}

} // namespace sv::cluster
