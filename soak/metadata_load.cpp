// The soak driver's metadata workload: the scenario's titles, traced updates read back
// through every node's cache (visibility and stale reads), storms of updates, and the final
// check that every replica converged.

#include "soak/driver_parts.hpp"

namespace sv::soak {

namespace {

// A title playable in every region of the scenario, with one ready rendition.
content::metadata make_title(const scenario& sc, uint32_t t, uint64_t rev) {
  content::metadata m;
  m.set_id("title-" + std::to_string(t));
  m.set_title("Title " + std::to_string(t) + " (rev " + std::to_string(rev) + ")");
  m.set_description("Soak test title.");
  m.set_duration_s(5400);
  auto* r = m.add_renditions();
  r->set_id("720p");
  r->set_codecs("avc1.64001f,mp4a.40.2");
  r->set_width(1280);
  r->set_height(720);
  r->set_bitrate_kbps(3000);
  r->set_average_bitrate_kbps(2200);
  r->set_frame_rate(25);
  r->set_ready(true);
  for (auto& [region, weight] : sc.regions) {
    m.mutable_availability()->add_regions(region);
  }
  return m;
}

std::string reason_of(caf::actor_system& sys, const caf::error& err) {
  if (is(err, errc::overloaded)) {
    return "overloaded";
  }
  if (is(err, errc::unavailable)) {
    return "unavailable";
  }
  auto s = sys.render(err);
  return s.substr(0, 60);
}

// One update through a usable node; the version, or 0 (counted as refused).
uint64_t update(caf::actor_system& sys, const scenario& sc, std::vector<node_flags>& flags,
                meta_shared& meta, uint32_t title, uint64_t rev, uint32_t& rr) {
  for (size_t k = 0; k < flags.size(); ++k) {
    auto& f = flags[(rr++) % flags.size()];
    if (!f.usable()) {
      continue;
    }
    auto v = content::remote_update(sys, f.host, f.port, make_title(sc, title, rev), 0, 6s);
    std::lock_guard<std::mutex> g{meta.mtx};
    ++meta.updates;
    meta.titles.insert("title-" + std::to_string(title));
    if (!v) {
      ++meta.refused;
      ++meta.refusals[reason_of(sys, v.error())];
      return 0;
    }
    return *v;
  }
  return 0;
}

// Traced updates: after each, every usable node's catalog replica and cache are read
// until they show the new version (catalog: metadata propagation; cache: invalidation).
// A cache answer older than what that node's catalog already showed is a stale read.
} // namespace

void trace_loop(caf::actor_system& sys, const scenario& sc, std::vector<node_flags>& flags,
                meta_shared& meta) {
  std::mt19937 rng{7};
  uint32_t rr = 0;
  uint64_t rev = 0;
  auto period = std::chrono::duration<double>(1.0 / std::max(0.1, sc.updates_per_s));
  while (!meta.stop.load()) {
    auto next = steady::now() + std::chrono::duration_cast<steady::duration>(period);
    auto title = static_cast<uint32_t>(rng() % std::min<uint32_t>(sc.titles, 50));
    auto sent = steady::now();
    std::string phase;
    {
      std::lock_guard<std::mutex> g{meta.mtx};
      phase = meta.phase;
    }
    auto v = update(sys, sc, flags, meta, title, ++rev, rr);
    auto acked = steady::now();
    if (v != 0) {
      auto id = "title-" + std::to_string(title);
      std::vector<int> catalog_seen(flags.size(), 0), cache_seen(flags.size(), 0);
      // From the send (the write's own latency included), and from its acknowledgement
      // (propagation alone: a write waits for a majority of the voters, the others get it
      // at the same time).
      double meta_ms = 0, inval_ms = 0, meta_ack_ms = 0, inval_ack_ms = 0;
      auto write_ms = std::chrono::duration<double, std::milli>(acked - sent).count();
      bool done = false;
      auto deadline = sent + 5s;
      while (!done && steady::now() < deadline && !meta.stop.load()) {
        done = true;
        for (size_t n = 0; n < flags.size(); ++n) {
          if (!flags[n].usable()) {
            continue; // a faulted node is checked at the end (convergence)
          }
          auto ms = [&] {
            return std::chrono::duration<double, std::milli>(steady::now() - sent).count();
          };
          if (catalog_seen[n] == 0) {
            auto m = content::remote_get(sys, flags[n].host, flags[n].port, id, 500ms);
            if (m && m->version() >= v) {
              catalog_seen[n] = 1;
              meta_ms = std::max(meta_ms, ms());
              meta_ack_ms = std::max(meta_ack_ms, ms() - write_ms);
            }
          }
          if (cache_seen[n] == 0) {
            auto c = cache::remote_get(sys, flags[n].host, flags[n].port, "meta/" + id, 500ms);
            if (c && c->version >= v) {
              cache_seen[n] = 1;
              inval_ms = std::max(inval_ms, ms());
              inval_ack_ms = std::max(inval_ack_ms, ms() - write_ms);
            } else if (c && catalog_seen[n] == 1) {
              std::lock_guard<std::mutex> g{meta.mtx};
              ++meta.stale_reads; // the catalog here had v, its cache served older
            }
          }
          done = done && catalog_seen[n] == 1 && cache_seen[n] == 1;
        }
        if (!done) {
          std::this_thread::sleep_for(10ms);
        }
      }
      std::lock_guard<std::mutex> g{meta.mtx};
      ++meta.traced;
      if (done) {
        meta.second_meta_ms.push_back(meta_ms);
        meta.second_inval_ms.push_back(inval_ms);
        meta.all_meta_ms.push_back(meta_ms);
        meta.all_inval_ms.push_back(inval_ms);
        meta.all_write_ms.push_back(write_ms);
        meta.all_meta_ack_ms.push_back(meta_ack_ms);
        meta.meta_ack_ms_by_phase[phase].push_back(meta_ack_ms);
        meta.all_inval_ack_ms.push_back(inval_ack_ms);
      } else {
        ++meta.not_propagated;
      }
    }
    std::this_thread::sleep_until(next);
  }
}

void storm_loop(caf::actor_system& sys, const scenario& sc, std::vector<node_flags>& flags,
                meta_shared& meta) {
  std::mt19937 rng{11};
  uint32_t rr = 1;
  uint64_t rev = 1'000'000;
  while (!meta.stop.load()) {
    auto rate = meta.storm_rate.load();
    if (rate <= 0) {
      std::this_thread::sleep_for(50ms);
      continue;
    }
    auto next =
        steady::now()
        + std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(1 / rate));
    update(sys, sc, flags, meta, static_cast<uint32_t>(rng() % sc.titles), ++rev, rr);
    std::this_thread::sleep_until(next);
  }
}

// Every title updated: the same version on every node (retried until that holds or 30 s).
convergence check_convergence(caf::actor_system& sys, std::vector<node_flags>& flags,
                              const std::set<std::string>& titles) {
  convergence c;
  c.titles = titles.size();
  std::set<std::string> left = titles;
  auto deadline = steady::now() + 30s;
  while (!left.empty() && steady::now() < deadline) {
    std::set<std::string> still;
    for (auto& id : left) {
      std::set<uint64_t> versions;
      for (auto& f : flags) {
        if (f.down) {
          continue; // left (or never joined): not a replica any more
        }
        auto m = content::remote_get(sys, f.host, f.port, id, 2s);
        versions.insert(m ? m->version() : 0);
      }
      if (versions.size() != 1 || *versions.begin() == 0) {
        still.insert(id);
      }
    }
    left.swap(still);
    if (!left.empty()) {
      std::this_thread::sleep_for(500ms);
    }
  }
  c.diverged = left.size();
  for (auto& id : left) {
    if (c.samples.size() < 10) {
      std::string line = id + ":";
      for (auto& f : flags) {
        if (f.down) {
          continue;
        }
        auto m = content::remote_get(sys, f.host, f.port, id, 2s);
        line += " " + f.name + "=" + (m ? std::to_string(m->version()) : "none");
      }
      c.samples.push_back(line);
    }
  }
  return c;
}

// Every title of the catalog exists before the viewers come (the nodes' gateways verify
// each open against it): four threads, each title tried up to five times. False when a
// title could not be stored.
bool seed_titles(caf::actor_system& sys, const scenario& sc, std::vector<node_flags>& flags) {
  std::atomic<uint32_t> next{0};
  std::atomic<uint32_t> failed{0};
  auto work = [&](uint32_t offset) {
    for (auto t = next++; t < sc.titles; t = next++) {
      bool ok = false;
      for (uint32_t attempt = 0; attempt < 5 + flags.size() && !ok; ++attempt) {
        auto& f = flags[(t + offset + attempt) % flags.size()];
        if (f.down) {
          continue; // joins later
        }
        ok = static_cast<bool>(
            content::remote_update(sys, f.host, f.port, make_title(sc, t, 0), 0, 6s));
      }
      if (!ok) {
        ++failed;
      }
    }
  };
  std::vector<std::thread> threads;
  for (uint32_t i = 0; i < 4; ++i) {
    threads.emplace_back(work, i);
  }
  for (auto& t : threads) {
    t.join();
  }
  return failed == 0;
}

} // namespace sv::soak
