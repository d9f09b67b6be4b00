#include "actors/cache/near_cache.hpp"

namespace sv::cache {

near_cache::near_cache(store_settings s) {
  auto per_stripe = s;
  per_stripe.max_bytes = std::max<size_t>(1, s.max_bytes / stripe_count);
  for (auto& st : stripes_) {
    st.data = std::make_unique<store>(per_stripe);
  }
}

near_cache::stripe& near_cache::stripe_of(const std::string& key) {
  return stripes_[key_hash(key) % stripe_count];
}

const near_cache::stripe& near_cache::stripe_of(const std::string& key) const {
  return stripes_[key_hash(key) % stripe_count];
}

std::optional<hit> near_cache::get(const std::string& key, time_ns now) {
  auto& st = stripe_of(key);
  std::lock_guard<std::mutex> guard{st.mutex};
  auto* e = st.data->get(key, now);
  if (e == nullptr) {
    return std::nullopt;
  }
  if (!st.hot.empty()) {
    if (auto h = st.hot.find(key); h != st.hot.end()) {
      ++h->second.hits;
    }
  }
  return hit{e->value, e->version};
}

fill_result near_cache::fill(const std::string& key, std::shared_ptr<const std::string> value,
                             uint64_t version, std::vector<std::string> tags, time_ns started,
                             time_ns now) {
  auto& st = stripe_of(key);
  std::lock_guard<std::mutex> guard{st.mutex};
  return st.data->fill(key, std::move(value), version, std::move(tags), started, now);
}

bool near_cache::invalidate(const std::string& key, uint64_t version, time_ns now) {
  auto& st = stripe_of(key);
  std::lock_guard<std::mutex> guard{st.mutex};
  auto dropped = st.data->invalidate(key, version, now);
  if (dropped) {
    st.hot.erase(key);
  }
  return dropped;
}

size_t near_cache::invalidate_tag(const std::string& tag, time_ns now) {
  size_t n = 0;
  for (auto& st : stripes_) {
    std::lock_guard<std::mutex> guard{st.mutex};
    n += st.data->invalidate_tag(tag, now);
    for (auto i = st.hot.begin(); i != st.hot.end();) {
      i = st.data->contains(i->first) ? std::next(i) : st.hot.erase(i);
    }
  }
  return n;
}

void near_cache::mark_hot(const std::string& key) {
  auto& st = stripe_of(key);
  std::lock_guard<std::mutex> guard{st.mutex};
  st.hot.insert_or_assign(key, hot_mark{});
}

std::vector<std::string> near_cache::cool(uint64_t min_hits) {
  std::vector<std::string> cooled;
  for (auto& st : stripes_) {
    std::lock_guard<std::mutex> guard{st.mutex};
    for (auto i = st.hot.begin(); i != st.hot.end();) {
      auto& mark = i->second;
      if (!st.data->contains(i->first) || (!mark.fresh && mark.hits < min_hits)) {
        st.data->erase(i->first);
        cooled.push_back(i->first);
        i = st.hot.erase(i);
      } else {
        mark = hot_mark{0, false}; // a key marked since the last call gets a full interval
        ++i;
      }
    }
  }
  return cooled;
}

size_t near_cache::hot_keys() const {
  size_t n = 0;
  for (auto& st : stripes_) {
    std::lock_guard<std::mutex> guard{st.mutex};
    n += st.hot.size();
  }
  return n;
}

void near_cache::clear() {
  for (auto& st : stripes_) {
    std::lock_guard<std::mutex> guard{st.mutex};
    st.data = st.data->without_entries();
    st.hot.clear();
  }
}

bool near_cache::contains(const std::string& key) const {
  auto& st = stripe_of(key);
  std::lock_guard<std::mutex> guard{st.mutex};
  return st.data->contains(key);
}

uint64_t near_cache::fence(const std::string& key) const {
  auto& st = stripe_of(key);
  std::lock_guard<std::mutex> guard{st.mutex};
  return st.data->fence(key);
}

size_t near_cache::bytes() const {
  size_t n = 0;
  for (auto& st : stripes_) {
    std::lock_guard<std::mutex> guard{st.mutex};
    n += st.data->bytes();
  }
  return n;
}

store_stats near_cache::stats() const {
  store_stats out;
  for (auto& st : stripes_) {
    std::lock_guard<std::mutex> guard{st.mutex};
    auto s = st.data->stats();
    out.hits += s.hits;
    out.misses += s.misses;
    out.negative_hits += s.negative_hits;
    out.evictions += s.evictions;
    out.not_admitted += s.not_admitted;
    out.refused += s.refused;
    out.invalidated += s.invalidated;
  }
  return out;
}

} // namespace sv::cache
