#include "runtime/cluster/placement.hpp"

#include <algorithm>
#include <utility>

namespace sv::cluster {

namespace {

// splitmix64's finalizer: every input bit affects every output bit.
uint64_t mix(uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

uint64_t fnv1a(std::string_view s, uint64_t h) noexcept {
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

constexpr uint64_t fnv_offset = 0xcbf29ce484222325ULL;

// Higher weight first; the smaller name breaks a tie.
bool better(const std::pair<uint64_t, const std::string*>& a,
            const std::pair<uint64_t, const std::string*>& b) {
  return a.first != b.first ? a.first > b.first : *a.second < *b.second;
}

} // namespace

uint64_t stable_hash(std::string_view s) noexcept {
  return mix(fnv1a(s, fnv_offset));
}

uint64_t rendezvous_weight(std::string_view member, std::string_view key) noexcept {
  // Hash the member, then continue with a separator and the key, so that ("ab", "c")
  // and ("a", "bc") differ.
  auto h = fnv1a(member, fnv_offset);
  h = fnv1a(std::string_view{"\x1f", 1}, h);
  return mix(fnv1a(key, h));
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
