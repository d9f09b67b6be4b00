#include "actors/cache/store.hpp"
#include "runtime/util/hash.hpp"

#include <algorithm>

namespace sv::cache {

namespace {

// Bookkeeping per entry beyond key, value and tags (map nodes, policy slot, list node).
constexpr size_t entry_overhead = 160;

time_ns to_ns(std::chrono::milliseconds d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

size_t entry_bytes(const std::string& key, const entry& e) {
  size_t n = key.size() + entry_overhead;
  if (e.value != nullptr) {
    n += e.value->size();
  }
  for (auto& t : e.tags) {
    n += t.size() + 32;
  }
  return n;
}

} // namespace

uint64_t key_hash(const std::string& key) noexcept {
  return hash::stable(key);
}

const char* to_string(fill_result r) noexcept {
  switch (r) {
  case fill_result::stored:
    return "stored";
  case fill_result::not_admitted:
    return "not_admitted";
  case fill_result::stale_version:
    return "stale_version";
  case fill_result::raced:
    return "raced_invalidation";
  case fill_result::too_large:
    return "too_large";
  case fill_result::too_old:
    return "load_too_old";
  case fill_result::not_newer:
    return "not_newer";
  }
  return "unknown";
}

store::store(store_settings s)
    : settings_(s),
      policy_(std::max<size_t>(1, s.max_bytes), 0.01, std::max<size_t>(64, s.max_bytes / 1024)) {}

const entry* store::get(const std::string& key, time_ns now) {
  auto h = key_hash(key);
  policy_.touch(h);
  auto i = entries_.find(key);
  if (i == entries_.end()) {
    ++stats_.misses;
    return nullptr;
  }
  auto& e = i->second.e;
  if (e.expires != 0 && e.expires <= now) {
    remove(i);
    ++stats_.misses;
    return nullptr;
  }
  if (e.negative()) {
    ++stats_.negative_hits;
  } else {
    ++stats_.hits;
  }
  return &e;
}

const entry* store::peek(const std::string& key) const {
  auto i = entries_.find(key);
  return i == entries_.end() ? nullptr : &i->second.e;
}

fill_result store::fill(const std::string& key, std::shared_ptr<const std::string> value,
                        uint64_t version, std::vector<std::string> tags, time_ns started,
                        time_ns now) {
  prune_fences(now);
  auto refuse = [&](fill_result r) {
    ++stats_.refused;
    return r;
  };
  if (started < now - to_ns(settings_.fence_ttl)) {
    return refuse(fill_result::too_old);
  }
  entry e;
  e.value = std::move(value);
  e.version = version;
  e.tags = std::move(tags);
  if (e.negative()) {
    e.expires = now + to_ns(settings_.negative_ttl);
  }
  auto bytes = entry_bytes(key, e);
  if (bytes > settings_.max_entry_bytes || bytes > settings_.max_bytes) {
    return refuse(fill_result::too_large);
  }
  if (auto f = fences_.find(key); f != fences_.end()) {
    if (version < f->second.version) {
      return refuse(fill_result::stale_version);
    }
    if (started < f->second.unversioned_at) {
      return refuse(fill_result::raced);
    }
  }
  for (auto& t : e.tags) {
    if (auto f = tag_fences_.find(t); f != tag_fences_.end() && started < f->second) {
      return refuse(fill_result::raced);
    }
  }
  auto h = key_hash(key);
  if (auto i = entries_.find(key); i != entries_.end()) {
    auto& old = i->second.e;
    if (!old.negative() && !e.negative() && version != 0 && old.version >= version) {
      return fill_result::not_newer;
    }
    remove(i);
  }
  // Another key with the same 64-bit hash (practically never): it gives way.
  if (auto other = by_hash_.find(h); other != by_hash_.end()) {
    if (auto j = entries_.find(other->second); j != entries_.end()) {
      remove(j);
    }
  }
  for (auto& t : e.tags) {
    by_tag_[t].insert(key);
  }
  entries_[key] = stored_entry{std::move(e), bytes};
  by_hash_[h] = key;
  bytes_ += bytes;
  policy_.admit(h, bytes);
  apply_evictions();
  if (entries_.count(key) == 0) {
    // The admission filter preferred what was there.
    return fill_result::not_admitted;
  }
  return fill_result::stored;
}

bool store::invalidate(const std::string& key, uint64_t version, time_ns now) {
  auto& f = fences_[key];
  if (version != 0) {
    f.version = std::max(f.version, version);
  } else {
    f.unversioned_at = now;
  }
  f.touched = now;
  auto i = entries_.find(key);
  if (i == entries_.end() || (version != 0 && i->second.e.version >= version)) {
    return false;
  }
  remove(i);
  ++stats_.invalidated;
  return true;
}

size_t store::invalidate_tag(const std::string& tag, time_ns now) {
  tag_fences_[tag] = now;
  auto t = by_tag_.find(tag);
  if (t == by_tag_.end()) {
    return 0;
  }
  auto keys = std::vector<std::string>(t->second.begin(), t->second.end());
  for (auto& k : keys) {
    if (auto i = entries_.find(k); i != entries_.end()) {
      remove(i);
      ++stats_.invalidated;
    }
  }
  return keys.size();
}

bool store::erase(const std::string& key) {
  auto i = entries_.find(key);
  if (i == entries_.end()) {
    return false;
  }
  remove(i);
  return true;
}

store_stats store::stats() const noexcept {
  auto s = stats_;
  s.not_admitted = policy_.stats().rejected;
  s.evictions = policy_removals_ - std::min(policy_removals_, s.not_admitted);
  return s;
}

uint64_t store::fence(const std::string& key) const {
  auto f = fences_.find(key);
  return f == fences_.end() ? 0 : f->second.version;
}

uint32_t store::frequency(const std::string& key) const {
  return policy_.sketch().estimate(key_hash(key));
}

std::vector<std::string> store::keys() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (auto& [k, v] : entries_) {
    out.push_back(k);
  }
  std::sort(out.begin(), out.end());
  return out;
}

void store::remove(std::unordered_map<std::string, stored_entry>::iterator i) {
  auto& key = i->first;
  auto h = key_hash(key);
  for (auto& t : i->second.e.tags) {
    if (auto s = by_tag_.find(t); s != by_tag_.end()) {
      s->second.erase(key);
      if (s->second.empty()) {
        by_tag_.erase(s);
      }
    }
  }
  if (auto b = by_hash_.find(h); b != by_hash_.end() && b->second == key) {
    by_hash_.erase(b);
  }
  policy_.erase(h);
  bytes_ -= i->second.bytes;
  entries_.erase(i);
}

void store::apply_evictions() {
  for (auto h : policy_.take_evicted()) {
    auto b = by_hash_.find(h);
    if (b == by_hash_.end()) {
      continue;
    }
    auto i = entries_.find(b->second);
    if (i != entries_.end()) {
      remove(i);
      ++policy_removals_;
    }
  }
}

void store::prune_fences(time_ns now) {
  if (now < next_prune_) {
    return;
  }
  auto ttl = to_ns(settings_.fence_ttl);
  next_prune_ = now + ttl / 10;
  for (auto i = fences_.begin(); i != fences_.end();) {
    i = i->second.touched < now - ttl ? fences_.erase(i) : std::next(i);
  }
  for (auto i = tag_fences_.begin(); i != tag_fences_.end();) {
    i = i->second < now - ttl ? tag_fences_.erase(i) : std::next(i);
  }
}

std::unique_ptr<store> store::without_entries() const {
  auto fresh = std::make_unique<store>(settings_);
  fresh->fences_ = fences_;
  fresh->tag_fences_ = tag_fences_;
  fresh->next_prune_ = next_prune_;
  return fresh;
}

} // namespace sv::cache
