// The soak driver's metadata workload: the scenario's titles, traced updates read back
// through every node's cache (visibility and stale reads), storms of updates, and the final
// check that every replica converged.

#include "soak/driver_parts.hpp"

#include <optional>

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
  auto began = steady::now();
  while (!meta.stop.load()) {
    auto next = steady::now() + std::chrono::duration_cast<steady::duration>(period);
    auto title = static_cast<uint32_t>(rng() % std::min<uint32_t>(sc.titles, 50));
    auto sent = steady::now();
    // Within meta_shared::settle of a membership change the new or returning node, or an
    // owner that does not see it connected yet, may learn the update by anti-entropy (a
    // change while it is followed counts too: checked again at the end).
    auto changing = sent.time_since_epoch().count() - meta.changed_ns.load()
                    < std::chrono::nanoseconds{meta_shared::settle}.count();
    std::string phase;
    {
      std::lock_guard<std::mutex> g{meta.mtx};
      phase = meta.phase;
    }
    auto v = update(sys, sc, flags, meta, title, ++rev, rr);
    auto acked = steady::now();
    if (v != 0) {
      auto id = "title-" + std::to_string(title);
      // From the send (the write's own latency included), and from its acknowledgement
      // (propagation alone: a write waits for a majority of the voters, the others get it
      // at the same time).
      double meta_ms = 0, inval_ms = 0, meta_ack_ms = 0, inval_ack_ms = 0;
      size_t last_node = 0;
      auto write_ms = std::chrono::duration<double, std::milli>(acked - sent).count();
      bool done = false;
      auto deadline = sent + 5s;
      // Written while a partition cuts a region off: the cut-off side sees it only after
      // the heal, so it is followed until 10 s after the heal (at most 10 minutes) and
      // measured from the heal as well.
      auto cut = sc.kind_of(phase) == phase_kind::partition;
      std::optional<steady::time_point> healed;
      auto following = [&] {
        auto now = steady::now();
        if (cut && !healed) {
          std::lock_guard<std::mutex> g{meta.mtx};
          if (meta.phase != phase) {
            healed = now;
            deadline = now + 10s;
          }
        }
        return cut && !healed ? now < sent + 10min : now < deadline;
      };
      // Every node polled on its own thread, so a node's time is its own and not the sum of
      // the requests to the nodes polled before it. A poller stops once its node showed the
      // version in its catalog and its cache, or the node is faulted (checked at the end:
      // convergence), or the tracer gives up.
      struct seen_at {
        double meta_ms = -1, inval_ms = -1;
        bool faulted = false; // stopped polling: the node went down or stalled, or not up yet
        bool both() const {
          return meta_ms >= 0 && inval_ms >= 0;
        }
      };
      std::vector<seen_at> at(flags.size());
      std::atomic<bool> give_up{false};
      std::atomic<size_t> finished{0};
      std::vector<std::thread> pollers;
      for (size_t n = 0; n < flags.size(); ++n) {
        pollers.emplace_back([&, n] {
          auto ms = [&] {
            return std::chrono::duration<double, std::milli>(steady::now() - sent).count();
          };
          auto& s = at[n];
          while (!give_up.load() && !meta.stop.load() && !s.both()) {
            if (!flags[n].usable()) {
              s.faulted = true; // checked at the end (convergence)
              break;
            }
            if (s.meta_ms < 0) {
              auto m = content::remote_get(sys, flags[n].host, flags[n].port, id, 500ms);
              if (m && m->version() >= v) {
                s.meta_ms = ms();
              }
            }
            if (s.inval_ms < 0) {
              auto c = cache::remote_get(sys, flags[n].host, flags[n].port, "meta/" + id, 500ms);
              if (c && c->version >= v) {
                s.inval_ms = ms();
              } else if (c && s.meta_ms >= 0) {
                std::lock_guard<std::mutex> g{meta.mtx};
                ++meta.stale_reads; // the catalog here had v, its cache served older
              }
            }
            if (!s.both()) {
              std::this_thread::sleep_for(10ms);
            }
          }
          ++finished;
        });
      }
      while (finished.load() < pollers.size()) {
        if (!following() || meta.stop.load()) {
          give_up = true;
          break;
        }
        std::this_thread::sleep_for(5ms);
      }
      for (auto& t : pollers) {
        t.join();
      }
      done = true;
      for (size_t n = 0; n < flags.size(); ++n) {
        auto& s = at[n];
        if (s.both()) {
          meta_ms = std::max(meta_ms, s.meta_ms);
          inval_ms = std::max(inval_ms, s.inval_ms);
          if (s.meta_ms - write_ms > meta_ack_ms) {
            meta_ack_ms = s.meta_ms - write_ms;
            last_node = n;
          }
          inval_ack_ms = std::max(inval_ack_ms, s.inval_ms - write_ms);
        } else if (!s.faulted) {
          done = false;
        }
      }
      changing = changing || meta.changed_ns.load() > sent.time_since_epoch().count();
      std::lock_guard<std::mutex> g{meta.mtx};
      ++meta.traced;
      if (cut) {
        if (done) {
          // Seen everywhere before the heal (written before the cut took hold, or on a
          // side that reaches every usable node): 0 after it.
          auto since_heal =
              healed ? std::chrono::duration<double, std::milli>(*healed - sent).count() : 1e18;
          meta.after_heal_ms.push_back(std::max(0.0, std::max(meta_ms, inval_ms) - since_heal));
        } else {
          ++meta.not_visible_after_heal;
        }
      }
      if (done) {
        meta.second_meta_ms.push_back(meta_ms);
        meta.second_inval_ms.push_back(inval_ms);
        meta.all_meta_ms.push_back(meta_ms);
        meta.all_inval_ms.push_back(inval_ms);
        meta.all_write_ms.push_back(write_ms);
        meta.all_meta_ack_ms.push_back(meta_ack_ms);
        meta.all_inval_ack_ms.push_back(inval_ack_ms);
        if (changing && !cut) { // (one written during a partition: the after-heal figure)
          meta.changing_ack_ms.push_back(std::max(meta_ack_ms, inval_ack_ms));
        } else {
          meta.meta_ack_ms_by_phase[phase].push_back(meta_ack_ms);
          meta.inval_ack_ms_by_phase[phase].push_back(inval_ack_ms);
        }
        if (meta_ack_ms >= 200 && meta.slow.size() < 64) {
          meta.slow.push_back({phase, flags[last_node].name, meta_ack_ms,
                               std::chrono::duration<double>(sent - began).count(), changing});
        }
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
