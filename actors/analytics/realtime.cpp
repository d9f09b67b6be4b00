#include "actors/analytics/realtime.hpp"

#include <algorithm>

namespace sv::analytics {

namespace {

uint64_t session_hash(const std::string& id) {
  uint64_t h = 0xcbf29ce484222325ULL; // FNV-1a, then a finalizer
  for (unsigned char c : id) {
    h = (h ^ c) * 0x100000001b3ULL;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  return h ^ (h >> 33);
}

} // namespace

bool important(const viewer_event& e) {
  switch (e.type()) {
  case streamverse::v1::EVENT_HEARTBEAT:
  case streamverse::v1::EVENT_QUALITY_CHANGE:
    return false;
  default:
    return true;
  }
}

bool session_kept(const std::string& session_id, uint32_t rate) {
  return rate <= 1 || session_hash(session_id) % rate == 0;
}

void realtime::add(const viewer_event& e, uint32_t rate, int64_t now_ms) {
  rate = std::max<uint32_t>(1, rate);
  auto kept = session_kept(e.session_id(), rate);
  if (!kept && !important(e)) {
    return;
  }
  auto now_s = now_ms / 1000;
  auto at_s = e.timestamp_ms() / 1000;
  if (at_s <= now_s - span_s || at_s > now_s + 5) {
    return; // outside the windows (history still has it)
  }
  auto weight = important(e) ? 1.0 : static_cast<double>(rate);
  auto& s = series_[key{e.content_id(), e.region()}];
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
    auto& seen = s.sessions[session_hash(e.session_id())];
    seen.first = std::max(seen.first, at_s);
    seen.second = static_cast<double>(rate);
  }
  // Forget sessions out of every window, at most once a second per series.
  if (now_s > s.pruned_s) {
    s.pruned_s = now_s;
    for (auto i = s.sessions.begin(); i != s.sessions.end();) {
      i = i->second.first <= now_s - span_s ? s.sessions.erase(i) : std::next(i);
    }
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
  for (auto& [session, seen] : i->second.sessions) {
    if (seen.first > from_s && seen.first <= now_s) {
      out.concurrent_viewers += seen.second;
    }
  }
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
