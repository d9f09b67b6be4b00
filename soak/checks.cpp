#include "soak/checks.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <unordered_map>

#include "actors/analytics/events.hpp"
#include "actors/analytics/history_store.hpp"

namespace sv::soak {

namespace fs = std::filesystem;

// How long after `t.end_s` the cluster was normal again: the first second from which on
// three seconds in a row had every node at L0 and a critical p99 within `bound_ms`
// (seconds without heartbeats answered count as normal only at L0); -1 when that never
// came before `until_s`.
double recovered_after(const std::vector<sample>& timeline, const trigger& t, double bound_ms,
                       double until_s) {
  int calm = 0;
  double first = -1;
  for (auto& s : timeline) {
    if (s.t < t.end_s) {
      continue;
    }
    if (s.t > until_s) {
      break;
    }
    auto normal = s.level < 0.5 && s.p99_ms <= bound_ms;
    if (!normal) {
      calm = 0;
      first = -1;
      continue;
    }
    if (calm++ == 0) {
      first = s.t;
    }
    if (calm == 3) {
      return std::max(0.0, first - 1 - t.end_s); // a sample covers the second before it
    }
  }
  return -1;
}

// Every driver event in every partition file of every node, against the acknowledged batches.
analytics_check check_analytics(const std::string& dir) {
  analytics_check c;
  std::unordered_map<uint64_t, uint32_t> acked; // sequence -> events
  {
    std::ifstream f{dir + "/acked-batches.tsv"};
    uint64_t seq = 0;
    uint32_t n = 0;
    while (f >> seq >> n) {
      acked[seq] = n;
      ++c.acked_batches;
      c.acked_events += n;
    }
  }
  std::unordered_map<uint64_t, uint8_t> seen; // seq << 20 | index -> times stored
  std::vector<uint64_t> other_ids;            // hashes of the node events' ids
  std::error_code ec;
  for (auto& node : fs::directory_iterator(dir + "/nodes", ec)) {
    auto adir = node.path() / "analytics";
    if (!fs::is_directory(adir)) {
      continue;
    }
    for (auto& f : fs::directory_iterator(adir)) {
      auto name = f.path().filename().string();
      if (name.rfind("partition-", 0) != 0 || f.path().extension() != ".db") {
        continue;
      }
      analytics::history_store h{f.path().string()};
      if (!h.error().empty()) {
        c.error = h.error();
        continue;
      }
      ++c.files;
      c.batches_by_node[node.path().filename().string()] += h.batch_count();
      h.for_each([&](const analytics::event_view& e) {
        auto explicit_id = e.explicit_id();
        if (explicit_id.rfind("d:", 0) != 0) {
          // From the nodes' own sessions: each id ("<host>/<session>/<n>") at most once.
          ++c.other_events;
          other_ids.push_back(analytics::session_key_of(e.event_id()));
          return;
        }
        std::string id{explicit_id};
        auto colon = id.find(':', 2);
        auto seq = std::stoull(id.substr(2, colon - 2));
        auto index = std::stoull(id.substr(colon + 1));
        auto& n = seen[(seq << 20) | index];
        if (++n == 2) {
          ++(acked.count(seq) != 0 ? c.duplicates : c.unacked_duplicates);
        }
        ++c.stored_driver;
      });
    }
  }
  for (auto& [seq, n] : acked) {
    for (uint64_t i = 0; i < n; ++i) {
      if (seen.count((seq << 20) | i) == 0) {
        ++c.missing;
      }
    }
  }
  for (auto& [key, n] : seen) {
    if (acked.count(key >> 20) == 0) {
      ++c.unacked_present;
    }
  }
  std::sort(other_ids.begin(), other_ids.end());
  for (size_t i = 1; i < other_ids.size(); ++i) {
    c.other_duplicates += other_ids[i] == other_ids[i - 1] ? 1 : 0;
  }
  return c;
}

namespace {

// The flat JSON object that follows `"key":{` in `json` (up to its first '}'), or "".
std::string json_object(const std::string& json, const std::string& key) {
  auto i = json.find("\"" + key + "\":{");
  return i == std::string::npos ? std::string{} : json.substr(i, json.find('}', i) - i);
}

} // namespace

void add_checks(report& rep, const run_outcome& out, const scenario& sc,
                const std::vector<trigger>& triggers) {
  auto& load = out.load;
  auto& meta = out.meta;
  auto& ac = out.analytics;
  auto driver_done = out.driver_done;
  auto handoff_done = out.handoff_done;
  auto n = [](double x) {
    return std::to_string(static_cast<uint64_t>(x));
  };
  {
    check c{"every acknowledged analytics event is in history exactly once", false, ""};
    c.passed = driver_done && !load.empty() && ac.missing == 0 && ac.duplicates == 0
               && ac.unacked_duplicates == 0 && ac.other_duplicates == 0 && ac.acked_events > 0
               && ac.error.empty() && handoff_done;
    c.detail =
        n(ac.acked_events) + " events in " + n(ac.acked_batches)
        + " acknowledged batches: " + n(ac.missing) + " missing, " + n(ac.duplicates)
        + " stored twice; " + n(ac.unacked_present)
        + " events of unacknowledged batches stored (allowed), " + n(ac.unacked_duplicates)
        + " of them twice; " + n(ac.other_events) + " events of the nodes' own sessions, "
        + n(ac.other_duplicates) + " stored twice; " + n(ac.files) + " partition files"
        + (handoff_done ? "" : "; partitions not all handed to their owners within 60 s")
        + (json_number(load, "unacked_batches") > 0
               ? "; " + n(json_number(load, "unacked_batches")) + " batches never acknowledged"
               : "")
        + (json_number(load, "sent_away") > 0
               ? "; " + n(json_number(load, "sent_away"))
                     + " sends through another region than the batch's home"
               : "")
        + (ac.error.empty() ? "" : "; " + ac.error);
    rep.checks.push_back(c);
  }
  {
    // Resume positions: what a close acknowledged reads back from the cluster (through
    // kills and region losses: the owner's region gone, its replica in another answers).
    auto closed = json_number(meta, "positions_closed", -1);
    auto checked = json_number(meta, "positions_checked", -1);
    auto missing = json_number(meta, "positions_missing", -1);
    auto wrong = json_number(meta, "positions_wrong", -1);
    // (A scenario where no viewer leaves closes nothing: no row then. tools.soak_short
    // requires the row, so a driver that stops seeing its closes fails there.)
    check c{"every resume position a close acknowledged reads back", false, ""};
    c.passed = driver_done && checked > 0 && missing == 0 && wrong == 0;
    c.detail = n(closed) + " closes acknowledged, " + n(checked) + " read back through the nodes: "
               + n(missing) + " missing, " + n(wrong) + " outside the acknowledged position";
    if (closed != 0 || !driver_done) {
      rep.checks.push_back(c);
    }
  }
  {
    check c{"every catalog replica converged to the owners' versions", false, ""};
    auto titles = json_number(meta, "titles_checked");
    auto diverged = json_number(meta, "diverged", -1);
    c.passed = !meta.empty() && titles > 0 && diverged == 0;
    c.detail = n(titles) + " titles updated (" + n(json_number(meta, "updates")) + " updates), "
               + (diverged < 0 ? "no answer" : n(diverged)) + " differ between nodes";
    rep.checks.push_back(c);
  }
  {
    check c{"no cache served a version older than its fence", false, ""};
    auto stale = json_number(meta, "stale_reads", -1);
    c.passed = stale == 0;
    c.detail = n(json_number(meta, "traced")) + " traced updates read back through every node's "
               + "cache: " + (stale < 0 ? "no answer" : n(stale)) + " stale reads after the "
               + "node's catalog had the new version";
    rep.checks.push_back(c);
  }
  {
    check c{"critical p99 within the bound in every phase", true, ""};
    std::string worst;
    double worst_p99 = 0;
    for (auto& row : rep.phases) {
      auto i = load.find("{\"name\":\"" + row.name + "\"");
      if (i == std::string::npos) {
        continue;
      }
      auto part = load.substr(i, load.find("}}", i) - i);
      row.samples = json_number(part, "samples");
      row.p50_ms = json_number(part, "p50_ms");
      row.p99_ms = json_number(part, "p99_ms");
      row.p999_ms = json_number(part, "p999_ms");
      row.max_ms = json_number(part, "max_ms");
      row.hb_sent = json_number(part, "hb_sent");
      row.hb_ok = json_number(part, "hb_ok");
      row.overloaded = json_number(part, "overloaded") + json_number(part, "open_refused");
      row.to_down = json_number(part, "to_down");
      row.gone = json_number(part, "gone");
      row.unaccounted = json_number(part, "unaccounted");
      row.within_bound = row.p99_ms <= sc.critical_p99_ms;
      if (!row.within_bound) {
        c.passed = false;
      }
      if (row.p99_ms >= worst_p99) {
        worst_p99 = row.p99_ms;
        worst = row.name;
      }
    }
    for (auto& row : rep.phases) {
      double evs = 0, count = 0;
      for (auto& s : rep.timeline) {
        if (s.phase == row.name) {
          row.max_level = std::max(row.max_level, s.level);
          row.peak_sessions = std::max(row.peak_sessions, s.sessions);
          evs += s.events_per_s;
          ++count;
        }
      }
      row.events_per_s = count > 0 ? evs / count : 0;
    }
    // No heartbeat answered at all is no evidence of a bound kept.
    double measured = 0;
    for (auto& row : rep.phases) {
      measured += row.samples;
    }
    c.passed = c.passed && !load.empty() && measured > 0;
    std::ostringstream os;
    os.precision(3);
    os << "bound " << sc.critical_p99_ms << " ms; highest p99 " << worst_p99 << " ms (" << worst
       << "); heartbeats to a node while it was killed or stopped are not counted here";
    if (measured == 0) {
      os << "; no heartbeat was answered ok: nothing measured";
    }
    c.detail = os.str();
    rep.checks.push_back(c);
  }
  {
    check c{"every refused request was answered with overloaded", false, ""};
    auto unaccounted = json_number(load, "unaccounted", -1);
    c.passed = unaccounted == 0;
    c.detail = n(json_number(load, "hb_sent")) + " heartbeats and " + n(json_number(load, "opens"))
               + " opens: " + n(json_number(load, "overloaded") + json_number(load, "open_refused"))
               + " refused with overloaded, " + n(json_number(load, "to_down"))
               + " to a killed or stopped node, " + n(json_number(load, "gone"))
               + " to a session its node no longer had, "
               + (unaccounted < 0 ? "no answer from the driver" : n(unaccounted))
               + " unaccounted (no answer or another error)";
    if (sc.protocol == "http") { // what the viewers' requests went through
      auto requests = json_number(load, "http_requests", -1);
      c.passed = c.passed && requests > 0;
      c.detail += "; through the player API: " + (requests < 0 ? "no count" : n(requests))
                  + " HTTP requests, " + n(json_number(load, "http_transport_errors"))
                  + " failed in transport";
    }
    rep.checks.push_back(c);
  }
  {
    // Back to normal within recovery_s after each trigger ends (no metastable state): the
    // degrader at L0 on every node and critical p99 within the steady bound. A trigger
    // followed by another one sooner is measured up to the next one's start.
    check c{"the cluster returns to normal within " + n(sc.recovery_s) + " s after each trigger",
            true, ""};
    std::ostringstream os;
    os << "steady bound " << sc.steady_p99_ms << " ms, L0:";
    double phases_end = rep.timeline.empty() ? 0 : rep.timeline.back().t + 1;
    for (size_t k = 0; k < triggers.size(); ++k) {
      auto& t = triggers[k];
      auto next_start = k + 1 < triggers.size() ? triggers[k + 1].start_s : phases_end;
      auto until = std::min(next_start, t.end_s + std::max(sc.recovery_s, 30.0));
      auto took = recovered_after(rep.timeline, t, sc.steady_p99_ms, until + 2);
      os << " " << t.name << " ";
      if (took < 0) {
        if (until - t.end_s < sc.recovery_s) {
          os << "n/a (next trigger " << static_cast<int>(until - t.end_s) << " s later);";
          continue;
        }
        os << "not within " << static_cast<int>(until - t.end_s) << " s;";
        c.passed = false;
        continue;
      }
      os << took << " s;";
      if (took > sc.recovery_s) {
        c.passed = false;
      }
    }
    if (triggers.empty()) {
      os << " no trigger in this scenario";
    }
    c.detail = os.str();
    rep.checks.push_back(c);
  }
  rep.figures["metadata_visible_p50_ms"] = json_number(meta, "meta_p50_ms");
  rep.figures["metadata_visible_p99_ms"] = json_number(meta, "meta_p99_ms");
  rep.figures["invalidation_p50_ms"] = json_number(meta, "inval_p50_ms");
  rep.figures["invalidation_p99_ms"] = json_number(meta, "inval_p99_ms");
  rep.figures["metadata_write_p50_ms"] = json_number(meta, "write_p50_ms");
  rep.figures["metadata_write_p99_ms"] = json_number(meta, "write_p99_ms");
  rep.figures["metadata_visible_after_ack_p99_ms"] = json_number(meta, "meta_after_ack_p99_ms");
  rep.figures["invalidation_after_ack_p99_ms"] = json_number(meta, "inval_after_ack_p99_ms");
  // By the phase the update was written in, with a stable membership (a partition's
  // cut-off side sees it at the heal; updates within 3 s of a membership change apart).
  for (auto& row : rep.phases) {
    if (auto part = json_object(meta, row.name); !part.empty()) {
      rep.figures["metadata_after_ack_p99_ms." + row.name] = json_number(part, "p99_ms");
    }
  }
  if (!sc.links.empty()) {
    // Across regions: an update acknowledged while every region is connected is visible
    // on every usable node (catalog and cache) within the slowest round trip a link can
    // take (its RTT plus twice its jitter, plus twice a wan phase's delay and jitter) plus
    // 100 ms. Updates written during a partition reach the cut-off side at the heal (the
    // after-heal check below); those written within 3 s of a membership change have their
    // own bound (the next check).
    double link_max = 0;
    for (auto& l : sc.links) {
      link_max = std::max(link_max, static_cast<double>(l.rtt_ms) + 2.0 * l.jitter_ms);
    }
    check c{"metadata and invalidations visible in every region within the slowest round trip "
            "+ 100 ms (updates acknowledged outside partitions)",
            true, ""};
    std::string detail;
    std::set<std::string> seen; // phases of one name share their samples
    for (auto& p : sc.phases) {
      if (p.kind == phase_kind::partition || !seen.insert(p.name).second) {
        continue;
      }
      auto part = json_object(meta, p.name);
      if (part.empty()) {
        continue;
      }
      auto extra = p.kind == phase_kind::wan ? 2.0 * (p.delay_ms + p.jitter_ms) : 0.0;
      auto bound = link_max + extra + 100;
      auto worst = std::max(json_number(part, "p99_ms"), json_number(part, "inval_p99_ms"));
      auto within = worst <= bound;
      c.passed = c.passed && within;
      detail += (detail.empty() ? "" : "; ") + p.name + " " + n(worst) + (within ? " <= " : " > ")
                + n(bound) + " ms";
    }
    c.detail = detail.empty() ? std::string{"no traced update"} : detail;
    c.passed = c.passed && !detail.empty();
    rep.checks.push_back(c);
    // Within 3 s of a node joining, leaving, coming back or a heal, a node that is new to
    // the owner (or an owner new to it) may get the update by anti-entropy instead: one
    // re-dial (at most 1 s apart), one round (every 1 s) and its exchange.
    auto part = json_object(meta, "after_ack_changing");
    auto worst = json_number(part, "max_ms", -1);
    check m{"metadata and invalidations visible in every region within 3 s while the membership "
            "changes (updates acknowledged within 3 s of a join, leave, restart or heal)",
            worst >= 0 && worst <= 3000,
            n(json_number(part, "traced")) + " such updates, slowest " + n(worst)
                + " ms after the acknowledgement"};
    rep.checks.push_back(m);
    rep.figures["metadata_after_ack_changing_max_ms"] = worst;
  }
  if (std::any_of(sc.phases.begin(), sc.phases.end(),
                  [](const phase& p) { return p.kind == phase_kind::partition; })) {
    // What a partition kept from the cut-off side reaches it soon after the heal.
    auto part = json_object(meta, "after_heal");
    auto traced = json_number(part, "traced", -1);
    auto worst = json_number(part, "max_ms");
    auto lost = json_number(part, "not_visible", -1);
    check c{"updates acknowledged during a partition visible everywhere within 5 s of the heal",
            false, ""};
    c.passed = traced > 0 && lost == 0 && worst <= 5000;
    c.detail = n(traced) + " traced updates written during partitions: slowest " + n(worst)
               + " ms after the heal, " + (lost < 0 ? "no answer" : n(lost))
               + " not visible within 10 s of it";
    rep.checks.push_back(c);
    rep.figures["metadata_after_heal_max_ms"] = worst;
  }
  rep.figures["metadata_updates"] = json_number(meta, "updates");
  rep.figures["metadata_refused"] = json_number(meta, "refused");
  rep.figures["metadata_not_propagated_in_5s"] = json_number(meta, "not_propagated");
  rep.figures["analytics_events_acked"] = static_cast<double>(ac.acked_events);
  rep.figures["analytics_events_from_node_sessions"] = static_cast<double>(ac.other_events);
  rep.figures["heartbeats_sent"] = json_number(load, "hb_sent");
  rep.figures["sessions_reopened_elsewhere"] = json_number(load, "reopened");
  rep.figures["sessions_opened_outside_their_region"] = json_number(load, "opens_away");
  double peak_events = 0, peak_sessions = 0;
  for (auto& s : rep.timeline) {
    peak_events = std::max(peak_events, s.events_per_s);
    peak_sessions = std::max(peak_sessions, s.sessions);
  }
  rep.figures["events_per_s_peak"] = peak_events;
  rep.figures["sessions_peak"] = peak_sessions;
}

} // namespace sv::soak
