// main() for test binaries built with the test kit, and the two functions of CAF's test
// engine that caf/test/dsl.hpp calls but libcaf_core does not define.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "runtime/testkit/testkit.hpp"

namespace caf::test {

int engine::argc() {
  return 0;
}

char** engine::argv() {
  return nullptr;
}

} // namespace caf::test
