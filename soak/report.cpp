#include "soak/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

namespace sv::soak {

double quantile(std::vector<double> v, double q) {
  if (v.empty()) {
    return 0;
  }
  std::sort(v.begin(), v.end());
  auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::min(v.size(), std::max<size_t>(rank, 1)) - 1];
}

double json_number(const std::string& line, const std::string& key, double fallback) {
  auto k = "\"" + key + "\":";
  auto i = line.find(k);
  if (i == std::string::npos) {
    return fallback;
  }
  char* end = nullptr;
  auto start = line.c_str() + i + k.size();
  auto x = std::strtod(start, &end);
  return end == start ? fallback : x;
}

std::string json_string(const std::string& line, const std::string& key) {
  auto k = "\"" + key + "\":\"";
  auto i = line.find(k);
  if (i == std::string::npos) {
    return {};
  }
  auto j = line.find('"', i + k.size());
  return j == std::string::npos ? std::string{} : line.substr(i + k.size(), j - i - k.size());
}

namespace {

// Calls `fn(labels, value)` for each sample line of `name`.
template <class F>
void each_sample(const std::string& text, const std::string& name, F fn) {
  std::istringstream in{text};
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line.compare(0, name.size(), name) != 0) {
      continue;
    }
    auto rest = line.substr(name.size());
    std::string labels;
    if (!rest.empty() && rest[0] == '{') {
      auto close = rest.find('}');
      if (close == std::string::npos) {
        continue;
      }
      labels = rest.substr(1, close - 1);
      rest = rest.substr(close + 1);
    }
    if (rest.empty() || rest[0] != ' ') {
      continue; // another metric whose name starts with `name`
    }
    fn(labels, std::strtod(rest.c_str(), nullptr));
  }
}

std::string fmt(double x, int digits = 2) {
  if (!std::isfinite(x)) {
    return "0";
  }
  std::ostringstream os;
  os.setf(std::ios::fixed);
  os.precision(digits);
  os << x;
  auto s = os.str();
  if (s.find('.') != std::string::npos) {
    while (!s.empty() && s.back() == '0') {
      s.pop_back();
    }
    if (!s.empty() && s.back() == '.') {
      s.pop_back();
    }
  }
  return s;
}

std::string esc(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
    }
    out += c == '\n' ? ' ' : c;
  }
  return out;
}

const char* classes[] = {"critical", "interactive", "best_effort", "bulk"};

} // namespace

double metric_sum(const std::string& text, const std::string& name) {
  double sum = 0;
  each_sample(text, name, [&](const std::string&, double v) { sum += v; });
  return sum;
}

std::map<std::string, double> metric_by_label(const std::string& text, const std::string& name,
                                              const std::string& label) {
  std::map<std::string, double> out;
  each_sample(text, name, [&](const std::string& labels, double v) {
    auto k = label + "=\"";
    auto i = labels.find(k);
    if (i == std::string::npos) {
      return;
    }
    auto j = labels.find('"', i + k.size());
    out[labels.substr(i + k.size(), j - i - k.size())] += v;
  });
  return out;
}

bool report::passed() const {
  return std::all_of(checks.begin(), checks.end(), [](const check& c) { return c.passed; });
}

std::vector<std::string> write_report(const report& r, const std::string& dir) {
  std::vector<std::string> notes;
  // timeline.tsv: one row per second (gnuplot reads it).
  {
    std::ofstream tsv{dir + "/timeline.tsv"};
    tsv << "# t\tsessions\ttarget\tp50_ms\tp99_ms\tmax_ms\tlevel\tshed_critical\tshed_interactive"
           "\tshed_best_effort\tshed_bulk\tevents_per_s\tmeta_p99_ms\tinval_p99_ms\thb_ok"
           "\toverloaded\tphase\n";
    for (auto& s : r.timeline) {
      tsv << fmt(s.t, 1) << "\t" << s.sessions << "\t" << s.target << "\t" << fmt(s.p50_ms, 3)
          << "\t" << fmt(s.p99_ms, 3) << "\t" << fmt(s.max_ms, 3) << "\t" << s.level;
      for (auto* c : classes) {
        auto i = s.shed.find(c);
        tsv << "\t" << (i == s.shed.end() ? 0.0 : i->second);
      }
      tsv << "\t" << fmt(s.events_per_s, 0) << "\t" << fmt(s.meta_p99_ms, 2) << "\t"
          << fmt(s.inval_p99_ms, 2) << "\t" << s.hb_ok << "\t" << s.overloaded << "\t" << s.phase
          << "\n";
    }
  }
  // report.json
  {
    std::ofstream js{dir + "/report.json"};
    js << "{\n  \"scenario\": \"" << esc(r.scenario) << "\",\n  \"scenario_file\": \""
       << esc(r.scenario_file) << "\",\n  \"passed\": " << (r.passed() ? "true" : "false")
       << ",\n  \"seconds\": " << fmt(r.seconds, 1) << ",\n  \"viewers\": " << r.viewers
       << ",\n  \"critical_p99_bound_ms\": " << fmt(r.critical_bound_ms) << ",\n  \"checks\": [";
    for (size_t i = 0; i < r.checks.size(); ++i) {
      auto& c = r.checks[i];
      js << (i ? "," : "") << "\n    {\"name\": \"" << esc(c.name)
         << "\", \"passed\": " << (c.passed ? "true" : "false") << ", \"detail\": \""
         << esc(c.detail) << "\"}";
    }
    js << "\n  ],\n  \"phases\": [";
    for (size_t i = 0; i < r.phases.size(); ++i) {
      auto& p = r.phases[i];
      js << (i ? "," : "") << "\n    {\"name\": \"" << esc(p.name) << "\", \"kind\": \"" << p.kind
         << "\", \"start_s\": " << fmt(p.start_s, 1) << ", \"seconds\": " << fmt(p.seconds, 1)
         << ", \"samples\": " << p.samples << ", \"p50_ms\": " << fmt(p.p50_ms, 3)
         << ", \"p99_ms\": " << fmt(p.p99_ms, 3) << ", \"p999_ms\": " << fmt(p.p999_ms, 3)
         << ", \"max_ms\": " << fmt(p.max_ms, 3) << ", \"heartbeats\": " << p.hb_sent
         << ", \"ok\": " << p.hb_ok << ", \"overloaded\": " << p.overloaded
         << ", \"to_faulted_node\": " << p.to_down << ", \"session_gone\": " << p.gone
         << ", \"unaccounted\": " << p.unaccounted << ", \"max_level\": " << p.max_level
         << ", \"events_per_s\": " << fmt(p.events_per_s, 0)
         << ", \"peak_sessions\": " << p.peak_sessions
         << ", \"within_bound\": " << (p.within_bound ? "true" : "false") << ", \"note\": \""
         << esc(p.note) << "\"}";
    }
    js << "\n  ],\n  \"figures\": {";
    bool first = true;
    for (auto& [k, v] : r.figures) {
      js << (first ? "" : ",") << "\n    \"" << esc(k) << "\": " << fmt(v, 3);
      first = false;
    }
    js << "\n  },\n  \"notes\": [";
    for (size_t i = 0; i < r.notes.size(); ++i) {
      js << (i ? ", " : "") << "\"" << esc(r.notes[i]) << "\"";
    }
    js << "]\n}\n";
  }
  // Plots: gnuplot, one PNG per figure, phases shaded by name.
  bool plotted = false;
  if (std::system("command -v gnuplot >/dev/null 2>&1") == 0) {
    std::ofstream gp{dir + "/plots.gp"};
    gp << "set terminal pngcairo size 1100,420 font 'sans,10'\n"
          "set datafile separator '\\t'\n"
          "set key outside right top\nset grid\nset xlabel 'seconds'\n";
    std::string marks;
    for (size_t i = 0; i < r.phases.size(); ++i) {
      auto& p = r.phases[i];
      if (i % 2 == 1) {
        marks += "set object " + std::to_string(i + 1) + " rect from " + fmt(p.start_s, 1)
                 + ", graph 0 to " + fmt(p.start_s + p.seconds, 1)
                 + ", graph 1 behind fc rgb '#eeeeee' fs solid noborder\n";
      }
      marks += "set label " + std::to_string(i + 1) + " '" + p.name + "' at " + fmt(p.start_s, 1)
               + ", graph 0.97 left font 'sans,8' tc rgb '#555555'\n";
    }
    gp << marks;
    gp << "set output '" << dir << "/critical-latency.png'\n"
       << "set title 'Critical (heartbeat) latency, ms: bound " << fmt(r.critical_bound_ms)
       << " ms'\nset logscale y\n"
       << "plot '" << dir << "/timeline.tsv' using 1:4 with lines lw 2 title 'p50', '' using 1:5 "
       << "with lines lw 2 title 'p99', '' using 1:6 with lines lw 1 title 'max', "
       << fmt(r.critical_bound_ms) << " with lines dt 2 lc rgb 'red' title 'bound'\n"
       << "unset logscale y\n";
    gp << "set output '" << dir << "/degrader-level.png'\nset title 'Degrader level (highest "
       << "over the nodes)'\nset yrange [-0.2:4.2]\nset ytics 1\n"
       << "plot '" << dir << "/timeline.tsv' using 1:7 with steps lw 2 title 'level'\n"
       << "set autoscale y\nset ytics autofreq\n";
    gp << "set output '" << dir << "/shed-by-class.png'\nset title 'Requests shed per second by "
       << "service class (all nodes)'\n"
       << "plot '" << dir << "/timeline.tsv' using 1:8 with lines lw 2 title 'critical', '' using "
       << "1:9 with lines lw 2 title 'interactive', '' using 1:10 with lines lw 2 title "
       << "'best_effort', '' using 1:11 with lines lw 2 title 'bulk'\n";
    gp << "set output '" << dir << "/propagation.png'\nset title 'Metadata visible on every node "
       << "/ cache invalidated on every node, ms (traced updates)'\n"
       << "plot '" << dir << "/timeline.tsv' using 1:($13 > 0 ? $13 : 1/0) with points pt 7 title "
       << "'metadata p99', '' using 1:($14 > 0 ? $14 : 1/0) with points pt 5 title "
       << "'invalidation p99'\n";
    gp << "set output '" << dir << "/events-per-second.png'\nset title 'Analytics events stored "
       << "per second (all partitions)'\n"
       << "plot '" << dir << "/timeline.tsv' using 1:12 with lines lw 2 title 'events/s'\n";
    gp << "set output '" << dir << "/sessions.png'\nset title 'Viewer sessions alive'\n"
       << "plot '" << dir << "/timeline.tsv' using 1:2 with lines lw 2 title 'open', '' using 1:3 "
       << "with lines dt 2 title 'target'\n";
    gp.close();
    plotted =
        std::system(("gnuplot '" + dir + "/plots.gp' 2>'" + dir + "/gnuplot.log'").c_str()) == 0;
    if (!plotted) {
      notes.push_back("gnuplot failed: see gnuplot.log");
    }
  } else {
    notes.push_back("gnuplot is not installed: no plots (tools/install-deps installs gnuplot-nox)");
  }
  // report.md
  {
    std::ofstream md{dir + "/report.md"};
    md << "# Soak report: " << r.scenario << "\n\n"
       << "**" << (r.passed() ? "PASSED" : "FAILED") << "**: " << r.viewers << " viewers, "
       << fmt(r.seconds, 0) << " s, scenario `" << r.scenario_file << "`.\n\n"
       << "## Invariants\n\n| check | result | numbers |\n|---|---|---|\n";
    for (auto& c : r.checks) {
      md << "| " << c.name << " | " << (c.passed ? "pass" : "**FAIL**") << " | " << c.detail
         << " |\n";
    }
    md << "\n## Phases\n\n| phase | kind | from s | critical p50 / p99 / max ms | heartbeats ok"
          " | overloaded | to a faulted node | unaccounted | max level | events/s | peak "
          "sessions | note |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n";
    for (auto& p : r.phases) {
      md << "| " << p.name << " | " << p.kind << " | " << fmt(p.start_s, 0) << " | "
         << fmt(p.p50_ms) << " / " << (p.within_bound ? "" : "**") << fmt(p.p99_ms)
         << (p.within_bound ? "" : "**") << " / " << fmt(p.max_ms) << " | " << p.hb_ok << " | "
         << p.overloaded << " | " << p.to_down << " | " << p.unaccounted << " | L" << p.max_level
         << " | " << fmt(p.events_per_s, 0) << " | " << p.peak_sessions << " | " << p.note
         << " |\n";
    }
    md << "\n## Figures\n\n| figure | value |\n|---|---|\n";
    for (auto& [k, v] : r.figures) {
      md << "| " << k << " | " << fmt(v, 3) << " |\n";
    }
    if (plotted) {
      md << "\n## Plots\n\n";
      for (auto* png : {"critical-latency", "degrader-level", "shed-by-class", "propagation",
                        "events-per-second", "sessions"}) {
        md << "![" << png << "](" << png << ".png)\n\n";
      }
    }
    if (!r.notes.empty() || !notes.empty()) {
      md << "\n## Notes\n\n";
      for (auto& n : r.notes) {
        md << "- " << n << "\n";
      }
      for (auto& n : notes) {
        md << "- " << n << "\n";
      }
    }
  }
  return notes;
}

} // namespace sv::soak
