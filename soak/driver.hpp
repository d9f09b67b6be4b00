#pragma once

// The viewer load of a soak run, in a process of its own that reaches the cluster as a
// client through the public API (session gateways, analytics ingest, the catalog and cache
// client calls): `streamverse-soak drive --scenario FILE --report DIR
// [--hosts H1,H2,...]`.
//
// Commands, one per line on standard input (from the controller):
//   phase NAME            latencies from now on count for phase NAME
//   viewers N SECONDS     reach N viewers over SECONDS (opening or closing sessions)
//   down NODE | up NODE   NODE was killed / runs again (reconnect, then place viewers there)
//   stall NODE | resume NODE
//   storm RATE            metadata updates per second on top of the traced ones (0: stop)
//   finish                stop the load, acknowledge every analytics batch, check the
//                         catalog replicas, write DIR/driver.json and exit
// Standard output: one line "S {json}" per second (stats_line in report.hpp reads them).

#include <string>
#include <vector>

#include "soak/scenario.hpp"

namespace sv::soak {

/// `hosts`: each node's address (127.0.0.1 for all when empty or short).
int run_driver(const scenario& s, const std::string& report_dir,
               const std::vector<std::string>& hosts);

} // namespace sv::soak
