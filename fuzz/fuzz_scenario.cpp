// libFuzzer target: a soak scenario file (streamverse-soak --scenario). A bad scenario
// must be refused with a reason, never crash.

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include "soak/scenario.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // load_scenario reads a file: one per fuzzing process, rewritten for each input.
  static const std::string path = "/tmp/sv-fuzz-scenario-" + std::to_string(::getpid()) + ".toml";
  {
    std::ofstream f{path, std::ios::binary | std::ios::trunc};
    f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  std::string error;
  auto sc = sv::soak::load_scenario(path, error);
  if (!sc && error.empty()) {
    __builtin_trap(); // refused without a reason
  }
  if (sc) {
    (void)sc->total_seconds();
    (void)sc->nodes_by_region();
    for (uint32_t i = 0; i < sc->nodes; ++i) {
      (void)sc->region_peers(i);
      (void)sc->starts(i);
      for (uint32_t j = 0; j < sc->nodes; ++j) {
        (void)sc->link_between(i, j);
      }
    }
  }
  return 0;
}
