#pragma once

// Figures and files of a soak run: quantiles, the driver's stats lines, the nodes' metrics
// text, and the report (report.json, report.md, timeline.tsv and gnuplot PNGs). CAF-free.

#include <map>
#include <string>
#include <vector>

namespace sv::soak {

/// The q-quantile (0..1) of `v` (nearest rank); 0 when empty.
double quantile(std::vector<double> v, double q);

/// The number after "key": in a flat JSON object line; `fallback` when missing.
double json_number(const std::string& line, const std::string& key, double fallback = 0);
/// The string after "key": in a flat JSON object line; empty when missing.
std::string json_string(const std::string& line, const std::string& key);

/// Prometheus text format: the sum of every sample of metric `name` (all label sets).
double metric_sum(const std::string& text, const std::string& name);
/// The samples of `name` by the value of `label`.
std::map<std::string, double> metric_by_label(const std::string& text, const std::string& name,
                                              const std::string& label);

/// One second of a run, as the timeline and the plots show it.
struct sample {
  double t = 0;
  std::string phase;
  double target = 0, sessions = 0;
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  double hb_ok = 0, overloaded = 0, to_down = 0, unaccounted = 0;
  double level = 0;                   ///< the highest degrader level over the nodes
  std::map<std::string, double> shed; ///< refusals this second by service class (all nodes)
  double events_per_s = 0;            ///< analytics events stored by the partitions
  double meta_p99_ms = 0, inval_p99_ms = 0;
  double stale_reads = 0;
};

struct check {
  std::string name;
  bool passed = false;
  std::string detail; ///< the numbers behind the verdict
};

struct phase_row {
  std::string name, kind, note;
  double start_s = 0, seconds = 0;
  double samples = 0, p50_ms = 0, p99_ms = 0, p999_ms = 0, max_ms = 0;
  double hb_sent = 0, hb_ok = 0, overloaded = 0, to_down = 0, gone = 0, unaccounted = 0;
  double max_level = 0, events_per_s = 0, peak_sessions = 0;
  bool within_bound = true;
};

struct report {
  std::string scenario, scenario_file;
  double seconds = 0;
  uint64_t viewers = 0;
  double critical_bound_ms = 0;
  std::vector<phase_row> phases;
  std::vector<sample> timeline;
  std::vector<check> checks;
  std::map<std::string, double> figures; ///< everything else worth a number
  std::vector<std::string> notes;

  bool passed() const;
};

/// Writes report.json, report.md, timeline.tsv and, when gnuplot is installed, the PNG
/// plots (plots.gp beside them). Returns the notes on what could not be written.
std::vector<std::string> write_report(const report& r, const std::string& dir);

} // namespace sv::soak
