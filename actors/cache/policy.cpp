#include "actors/cache/policy.hpp"
#include "runtime/util/hash.hpp"

#include <algorithm>
#include <cmath>

namespace sv::cache {

namespace {

size_t next_pow2(size_t x) {
  size_t p = 1;
  while (p < x) {
    p <<= 1;
  }
  return p;
}

constexpr size_t rows = 4;
constexpr uint8_t counter_max = 15;

} // namespace

// -- frequency_sketch ---------------------------------------------------------------------

frequency_sketch::frequency_sketch(size_t capacity) {
  width_ = next_pow2(std::max<size_t>(64, capacity * 8));
  width_mask_ = width_ - 1;
  table_.assign(rows * width_, 0);
  sample_ = std::max<uint64_t>(1000, 64 * static_cast<uint64_t>(capacity));
}

size_t frequency_sketch::index(uint64_t key, size_t row) const noexcept {
  return row * width_ + (hash::splitmix64(key + row * 0x632be59bd9b4e019ULL) & width_mask_);
}

void frequency_sketch::record(uint64_t key) noexcept {
  // Conservative update: raise only the counters at the current minimum.
  uint32_t low = estimate(key);
  if (low < counter_max) {
    for (size_t r = 0; r < rows; ++r) {
      auto& c = table_[index(key, r)];
      if (c == low) {
        ++c;
      }
    }
  }
  if (++additions_ >= sample_) {
    for (auto& c : table_) {
      c = static_cast<uint8_t>(c / 2);
    }
    additions_ /= 2;
    ++resets_;
  }
}

uint32_t frequency_sketch::estimate(uint64_t key) const noexcept {
  uint32_t low = counter_max;
  for (size_t r = 0; r < rows; ++r) {
    low = std::min<uint32_t>(low, table_[index(key, r)]);
  }
  return low;
}

// -- lru_cache ----------------------------------------------------------------------------

bool lru_cache::access(uint64_t key) {
  auto i = index_.find(key);
  if (i != index_.end()) {
    order_.splice(order_.begin(), order_, i->second);
    return true;
  }
  if (capacity_ == 0) {
    return false;
  }
  if (order_.size() >= capacity_) {
    index_.erase(order_.back());
    order_.pop_back();
  }
  order_.push_front(key);
  index_[key] = order_.begin();
  return false;
}

// -- tinylfu_cache ------------------------------------------------------------------------

tinylfu_cache::tinylfu_cache(size_t capacity, double window_share, size_t expected_entries)
    : capacity_(std::max<size_t>(1, capacity)),
      window_cap_(std::max<size_t>(
          1, static_cast<size_t>(std::lround(static_cast<double>(capacity_) * window_share)))),
      protected_cap_(0), sketch_(expected_entries != 0 ? expected_entries : capacity_),
      period_(std::max<uint64_t>(10'000, expected_entries != 0 ? expected_entries : capacity_)),
      step_(std::max(1.0, static_cast<double>(capacity_) * 0.005)) {
  window_cap_ = std::min(window_cap_, capacity_);
  protected_cap_ = (capacity_ - window_cap_) * 4 / 5;
  stats_.window = window_cap_;
}

std::list<uint64_t>& tinylfu_cache::list_of(area a) {
  switch (a) {
  case area::window:
    return window_;
  case area::probation:
    return probation_;
  case area::protected_:
    break;
  }
  return protected_;
}

size_t& tinylfu_cache::weight_of(area a) {
  switch (a) {
  case area::window:
    return window_w_;
  case area::probation:
    return probation_w_;
  case area::protected_:
    break;
  }
  return protected_w_;
}

// Moves `key` to the front of area `to`.
void tinylfu_cache::move_to(uint64_t key, slot& s, area to) {
  auto& from = list_of(s.in);
  auto& dest = list_of(to);
  dest.splice(dest.begin(), from, s.pos);
  weight_of(s.in) -= s.weight;
  weight_of(to) += s.weight;
  s.in = to;
  s.pos = dest.begin();
  (void)key;
}

void tinylfu_cache::drop(uint64_t key, bool evicted) {
  auto i = where_.find(key);
  if (i == where_.end()) {
    return;
  }
  list_of(i->second.in).erase(i->second.pos);
  weight_of(i->second.in) -= i->second.weight;
  where_.erase(i);
  if (evicted) {
    evicted_keys_.push_back(key);
  }
}

bool tinylfu_cache::touch(uint64_t key) {
  sketch_.record(key);
  ++period_requests_;
  bool hit = false;
  if (auto i = where_.find(key); i != where_.end()) {
    on_hit(i->second);
    hit = true;
    ++period_hits_;
  }
  if (period_requests_ >= period_) {
    adapt();
  }
  return hit;
}

void tinylfu_cache::on_hit(slot& s) {
  auto key = *s.pos;
  switch (s.in) {
  case area::window:
    move_to(key, s, area::window);
    break;
  case area::probation:
    // A second request while on probation: protected from now on.
    move_to(key, s, area::protected_);
    demote_protected_overflow();
    break;
  case area::protected_:
    move_to(key, s, area::protected_);
    break;
  }
}

void tinylfu_cache::demote_protected_overflow() {
  while (protected_w_ > protected_cap_ && !protected_.empty()) {
    auto k = protected_.back();
    move_to(k, where_[k], area::probation);
  }
}

void tinylfu_cache::admit(uint64_t key, size_t weight) {
  if (auto i = where_.find(key); i != where_.end()) {
    weight_of(i->second.in) += weight;
    weight_of(i->second.in) -= i->second.weight;
    i->second.weight = weight;
  } else {
    window_.push_front(key);
    where_[key] = slot{area::window, window_.begin(), weight};
    window_w_ += weight;
  }
  evict_window_overflow();
  demote_protected_overflow();
}

void tinylfu_cache::erase(uint64_t key) {
  drop(key, false);
}

void tinylfu_cache::evict_window_overflow() {
  auto main_cap = capacity_ - window_cap_;
  while (window_w_ > window_cap_ && !window_.empty()) {
    auto candidate = window_.back();
    auto& cs = where_[candidate];
    auto w = cs.weight;
    if (w > main_cap) { // can never fit the main area
      drop(candidate, true);
      ++stats_.rejected;
      continue;
    }
    // Room in the main area: straight in.
    if (probation_w_ + protected_w_ + w <= main_cap) {
      move_to(candidate, cs, area::probation);
      ++stats_.admitted;
      continue;
    }
    // Otherwise the candidate must be requested more often than each victim it replaces.
    auto freq = sketch_.estimate(candidate);
    bool admitted = true;
    while (probation_w_ + protected_w_ + w > main_cap) {
      auto& victims = probation_.empty() ? protected_ : probation_;
      auto victim = victims.back();
      if (freq <= sketch_.estimate(victim)) {
        admitted = false;
        break;
      }
      drop(victim, true);
      ++stats_.evicted;
    }
    if (admitted) {
      move_to(candidate, where_[candidate], area::probation);
      ++stats_.admitted;
    } else {
      drop(candidate, true);
      ++stats_.rejected;
    }
  }
}

void tinylfu_cache::adapt() {
  auto ratio = static_cast<double>(period_hits_) / static_cast<double>(period_requests_);
  period_hits_ = 0;
  period_requests_ = 0;
  if (last_hit_ratio_ >= 0 && ratio < last_hit_ratio_) {
    direction_ = -direction_; // the last move hurt: go the other way
  }
  last_hit_ratio_ = ratio;
  auto max_window = std::max<size_t>(1, capacity_ * 4 / 5);
  auto next = static_cast<double>(window_cap_) + direction_ * step_;
  window_cap_ = static_cast<size_t>(std::clamp(next, 1.0, static_cast<double>(max_window)));
  // Small steps that shrink fast: large ones (6% of the capacity) let noise in the hit
  // ratio walk the window away from a good size and cost up to 1.2 points on Zipf traces.
  step_ = std::max(1.0, step_ * 0.9);
  protected_cap_ = (capacity_ - window_cap_) * 4 / 5;
  stats_.window = window_cap_;
  // A smaller main area: drop its least valuable entries; a smaller window: move its
  // oldest entries through admission.
  auto main_cap = capacity_ - window_cap_;
  while (probation_w_ + protected_w_ > main_cap) {
    auto& from = probation_.empty() ? protected_ : probation_;
    drop(from.back(), true);
    ++stats_.evicted;
  }
  demote_protected_overflow();
  evict_window_overflow();
}

} // namespace sv::cache
