// streamverse-soak: cluster-wide soak tests (scenario format: config/soak/README.md).
//
//   streamverse-soak --scenario FILE --report DIR [--viewers N] [--find-max [RUNS]] [--quiet]
//                    [--autoscale]
//   streamverse-soak drive --scenario FILE --report DIR [--viewers N]   (the driver process)

#include <unistd.h>

#include <climits>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "soak/controller.hpp"
#include "soak/driver.hpp"
#include "soak/scenario.hpp"

namespace {

const char* usage =
    "usage: streamverse-soak --scenario FILE --report DIR [--viewers N] [--find-max [RUNS]]\n"
    "                        [--quiet] [--autoscale]\n"
    "  Starts the scenario's nodes on 127.0.0.1 (each in a network namespace of its own when\n"
    "  a phase is a partition or wan and this runs as root), a driver process with the\n"
    "  viewer load, runs the phases (ramp, steady, spike, kill, stall, partition, wan, storm,\n"
    "  recovery), checks the invariants\n"
    "  and writes DIR/report.md, report.json, timeline.tsv and PNG plots.\n"
    "  --viewers N      instead of the scenario's viewer count\n"
    "  --find-max [R]   the largest viewer count that passes (at most R runs, default 6),\n"
    "                   each run in DIR/run-N, the summary in DIR/find-max.md\n"
    "  --quiet          no progress line\n"
    "  --autoscale      the controller orchestrates: it starts and stops node processes\n"
    "                   (SIGTERM: a graceful leave) to follow the nodes'\n"
    "                   sv_cluster_desired_nodes; needs the scenario's [autoscale]\n"
    "       streamverse-soak --check --scenario FILE   (a [chaos] scenario: also its schedule)\n"
    "  validates FILE and exits.\n"
    "Exit codes: 0 every invariant passed, 1 one failed, 2 bad arguments or setup failure.\n";

std::string bin_dir() {
  char buf[PATH_MAX];
  auto n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) {
    return ".";
  }
  buf[n] = '\0';
  return std::filesystem::path{buf}.parent_path().string();
}

} // namespace

int main(int argc, char** argv) {
  std::string scenario_file, report_dir;
  uint64_t viewers = 0;
  bool drive = false, find_max = false, quiet = false, check = false, autoscale = false;
  int runs = 6;
  std::vector<std::string> hosts;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "streamverse-soak: " << a << " wants a value\n" << usage;
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--help") {
      std::cout << usage;
      return 0;
    } else if (a == "drive" && i == 1) {
      drive = true;
    } else if (a == "--scenario") {
      scenario_file = value();
    } else if (a == "--report") {
      report_dir = value();
    } else if (a == "--viewers") {
      try {
        viewers = std::stoull(value());
      } catch (const std::exception&) {
        std::cerr << "streamverse-soak: --viewers wants a number\n";
        return 2;
      }
    } else if (a == "--find-max") {
      find_max = true;
      if (i + 1 < argc && std::isdigit(static_cast<unsigned char>(argv[i + 1][0])) != 0) {
        runs = std::max(1, std::atoi(argv[++i]));
      }
    } else if (a == "--hosts" && drive) {
      std::string list = value();
      for (size_t start = 0; start <= list.size();) {
        auto comma = list.find(',', start);
        hosts.push_back(
            list.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
        if (comma == std::string::npos) {
          break;
        }
        start = comma + 1;
      }
    } else if (a == "--check") {
      check = true;
    } else if (a == "--quiet") {
      quiet = true;
    } else if (a == "--autoscale") {
      autoscale = true;
    } else {
      std::cerr << "streamverse-soak: unknown argument \"" << a << "\"\n" << usage;
      return 2;
    }
  }
  if (check && !scenario_file.empty()) {
    std::string error;
    auto s = sv::soak::load_scenario(scenario_file, error);
    if (!s) {
      std::cerr << "streamverse-soak: " << error << "\n";
      return 2;
    }
    std::cout << scenario_file << ": ok (" << s->nodes << " nodes, " << s->viewers << " viewers, "
              << s->phases.size() << " phases, " << s->total_seconds() << " s)\n";
    if (s->chaos.present) {
      // The schedule the seed gives, phase by phase (start second, name, length).
      double at = 0;
      for (auto& p : s->phases) {
        std::cout << "  " << at << " s  " << p.name << "  " << p.seconds << " s\n";
        at += p.seconds;
      }
    }
    return 0;
  }
  if (scenario_file.empty() || report_dir.empty()) {
    std::cerr << usage;
    return 2;
  }
  if (drive) {
    std::string error;
    auto s = sv::soak::load_scenario(scenario_file, error);
    if (!s) {
      std::cerr << "streamverse-soak drive: " << error << "\n";
      return 2;
    }
    if (viewers > 0) {
      s->viewers = viewers;
    }
    if (autoscale) {
      if (auto why = s->enable_autoscale(); !why.empty()) {
        std::cerr << "streamverse-soak drive: " << why << "\n";
        return 2;
      }
    }
    return sv::soak::run_driver(*s, report_dir, hosts);
  }
  sv::soak::run_options o;
  o.scenario_file = scenario_file;
  o.report_dir = report_dir;
  o.bin_dir = bin_dir();
  o.viewers = viewers;
  o.live = !quiet;
  o.autoscale = autoscale;
  return find_max ? sv::soak::find_max(o, runs) : sv::soak::run_soak(o);
}
