#include "actors/analytics/realtime.hpp"

#include <algorithm>
#include <unordered_map>

namespace sv::analytics {

session_table::entry& session_table::touch(uint64_t key) {
  key = key == 0 ? 1 : key;
  if ((used_ + 1) * 4 > slots_.size() * 3) { // at most 3/4 full
    rehash(std::max<size_t>(64, slots_.size() * 2));
  }
  auto mask = slots_.size() - 1;
  for (auto i = key & mask;; i = (i + 1) & mask) {
    auto& e = slots_[i];
    if (e.key == key) {
      return e;
    }
    if (e.key == 0) {
      e.key = key;
      ++used_;
      return e;
    }
  }
}

void session_table::drop_older(int64_t cutoff_s) {
  std::vector<entry> old;
  old.swap(slots_);
  used_ = 0;
  size_t kept = 0;
  for (auto& e : old) {
    kept += e.key != 0 && e.last_s > cutoff_s ? 1 : 0;
  }
  if (kept == 0) {
    return;
  }
  size_t capacity = 64;
  while (kept * 2 > capacity) {
    capacity *= 2;
  }
  slots_.resize(capacity);
  for (auto& e : old) {
    if (e.key != 0 && e.last_s > cutoff_s) {
      touch(e.key) = e;
    }
  }
}

void session_table::rehash(size_t capacity) {
  std::vector<entry> old(capacity);
  old.swap(slots_);
  used_ = 0;
  for (auto& e : old) {
    if (e.key != 0) {
      touch(e.key) = e;
    }
  }
}

bool important(event_type t) {
  switch (t) {
  case streamverse::v1::EVENT_HEARTBEAT:
  case streamverse::v1::EVENT_QUALITY_CHANGE:
    return false;
  default:
    return true;
  }
}

bool session_kept(uint64_t session_key, uint32_t rate) {
  return rate <= 1 || session_key % rate == 0;
}

bool session_kept(const std::string& session_id, uint32_t rate) {
  return session_kept(session_key_of(session_id), rate);
}

realtime::series* realtime::find_or_add(std::string_view content, std::string_view region,
                                        int64_t now_ms) {
  auto now_s = now_ms / 1000;
  if (now_s - swept_s_ >= span_s) {
    drop_idle(now_s);
  }
  key k{std::string{content}, std::string{region}};
  if (auto i = series_.find(k); i != series_.end()) {
    return &i->second;
  }
  if (series_.size() >= max_series_ && swept_s_ != now_s) {
    drop_idle(now_s);
  }
  if (series_.size() >= max_series_) {
    return nullptr;
  }
  return &series_[std::move(k)];
}

void realtime::drop_idle(int64_t now_s) {
  swept_s_ = now_s;
  for (auto i = series_.begin(); i != series_.end();) {
    i = i->second.newest_s <= now_s - span_s ? series_.erase(i) : std::next(i);
  }
}

void realtime::add(const event_view& e, uint32_t rate, int64_t now_ms) {
  if (auto* s = find_or_add(e.content(), e.region(), now_ms)) {
    add_to(*s, e, rate, now_ms);
  } else {
    ++dropped_;
  }
}

void realtime::add(const viewer_event& e, uint32_t rate, int64_t now_ms) {
  block_builder b;
  b.add(e);
  auto block = b.take();
  add(event_view{block, 0}, rate, now_ms);
}

size_t realtime::add_block(const event_block& b, uint32_t rate, int64_t now_ms,
                           const std::vector<uint32_t>& skip) {
  std::unordered_map<uint64_t, series*> seen; // (content ref, region ref) -> series
  auto next_skip = skip.begin();
  size_t counted = 0;
  auto n = event_count(b);
  for (int i = 0; i < n; ++i) {
    if (next_skip != skip.end() && *next_skip == static_cast<uint32_t>(i)) {
      ++next_skip;
      continue;
    }
    event_view e{b, i};
    auto k = (static_cast<uint64_t>(b.content(i)) << 32) | b.region(i);
    auto j = seen.find(k);
    if (j == seen.end()) {
      j = seen.emplace(k, find_or_add(e.content(), e.region(), now_ms)).first;
    }
    if (j->second == nullptr) {
      ++dropped_; // no room for another window
      continue;
    }
    add_to(*j->second, e, rate, now_ms);
    ++counted;
  }
  return counted;
}

void realtime::add_to(series& s, const event_view& e, uint32_t rate, int64_t now_ms) {
  rate = std::max<uint32_t>(1, rate);
  auto session = e.session_key();
  auto kept = session_kept(session, rate);
  auto always = important(e.type());
  if (!kept && !always) {
    return;
  }
  auto now_s = now_ms / 1000;
  auto at_s = e.timestamp_ms() / 1000;
  if (at_s <= now_s - span_s || at_s > now_s + 5) {
    return; // outside the windows (history still has it)
  }
  auto weight = always ? 1.0 : static_cast<double>(rate);
  s.newest_s = std::max(s.newest_s, at_s);
  auto& slot = s.seconds[static_cast<size_t>(((at_s % span_s) + span_s) % span_s)];
  if (slot.at_s != at_s) {
    slot = second{};
    slot.at_s = at_s;
  }
  slot.events += weight;
  slot.watched_ms += weight * e.watched_ms();
  switch (e.type()) {
  case streamverse::v1::EVENT_START:
    ++slot.starts;
    ++slot.startup[startup_bucket(e.startup_ms())];
    break;
  case streamverse::v1::EVENT_REBUFFER_END:
    slot.rebuffer_ms += weight * e.rebuffer_ms();
    break;
  case streamverse::v1::EVENT_ERROR:
    slot.errors += weight;
    break;
  default:
    break;
  }
  if (e.bitrate_kbps() > 0) {
    slot.bitrate[static_cast<size_t>(
        std::lower_bound(bitrate_bounds_kbps.begin(), bitrate_bounds_kbps.end(), e.bitrate_kbps())
        - bitrate_bounds_kbps.begin())] += weight;
  }
  if (kept) {
    auto& seen = s.sessions.touch(session);
    seen.last_s = std::max(seen.last_s, at_s);
    seen.weight = static_cast<double>(rate);
  }
  // Forget sessions out of every window, at most once every ten seconds per series (those
  // older than the window never count in a query anyway).
  if (now_s >= s.pruned_s + 10) {
    s.pruned_s = now_s;
    s.sessions.drop_older(now_s - span_s);
  }
}

window_stats realtime::query(const std::string& content, const std::string& region,
                             std::chrono::seconds window, int64_t now_ms) const {
  window_stats out;
  auto i = series_.find(key{content, region});
  if (i == series_.end()) {
    return out;
  }
  auto now_s = now_ms / 1000;
  auto w = std::clamp<int64_t>(window.count(), 1, span_s);
  auto from_s = now_s - w; // exclusive
  double errors = 0;
  double watched = 0;
  double rebuffer = 0;
  double with_bitrate = 0;
  startup_histogram startup{};
  for (auto& slot : i->second.seconds) {
    if (slot.at_s <= from_s || slot.at_s > now_s) {
      continue;
    }
    out.events += slot.events;
    out.starts += slot.starts;
    errors += slot.errors;
    watched += slot.watched_ms;
    rebuffer += slot.rebuffer_ms;
    for (size_t b = 0; b < startup.size(); ++b) {
      startup[b] += slot.startup[b];
    }
    for (size_t b = 0; b < out.bitrate_mix.size(); ++b) {
      out.bitrate_mix[b] += slot.bitrate[b];
      with_bitrate += slot.bitrate[b];
    }
  }
  i->second.sessions.for_each([&](const session_table::entry& seen) {
    if (seen.last_s > from_s && seen.last_s <= now_s) {
      out.concurrent_viewers += seen.weight;
    }
  });
  out.startup_p50_ms = startup_quantile(startup, 0.5);
  out.startup_p95_ms = startup_quantile(startup, 0.95);
  out.rebuffer_ratio = watched + rebuffer > 0 ? rebuffer / (watched + rebuffer) : 0;
  out.error_rate = out.events > 0 ? errors / out.events : 0;
  for (auto& share : out.bitrate_mix) {
    share = with_bitrate > 0 ? share / with_bitrate : 0;
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> realtime::keys() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& [k, s] : series_) {
    out.push_back(k);
  }
  return out;
}

} // namespace sv::analytics
