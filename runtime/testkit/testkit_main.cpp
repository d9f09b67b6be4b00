// main() for test binaries built with the test kit, and the two functions of CAF's test
// engine that caf/test/dsl.hpp calls but libcaf_core does not define.
#define DOCTEST_CONFIG_IMPLEMENT
#include <atomic>
#include <cstring>
#include <iostream>

#include "runtime/testkit/testkit.hpp"

namespace caf::test {

int engine::argc() {
  return 0;
}

char** engine::argv() {
  return nullptr;
}

} // namespace caf::test

namespace {

std::atomic<int> cases_started{0};

// Counts the test cases that ran.
struct case_counter : doctest::IReporter {
  explicit case_counter(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats&) override {}
  void test_case_start(const doctest::TestCaseData&) override {
    ++cases_started;
  }
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};

REGISTER_LISTENER("sv_case_counter", 1, case_counter);

} // namespace

int main(int argc, char** argv) {
  doctest::Context ctx{argc, argv};
  auto rc = ctx.run();
  if (ctx.shouldExit()) {
    return rc;
  }
  // ctest runs one case per entry by name; a name that selects nothing (e.g. cut short at
  // a ';', which CMake reads as a list separator) would otherwise pass without running.
  bool by_name = false;
  for (int i = 1; i < argc; ++i) {
    by_name = by_name || std::strncmp(argv[i], "--test-case=", 12) == 0
              || std::strncmp(argv[i], "-tc=", 4) == 0;
  }
  if (rc == 0 && by_name && cases_started == 0) {
    std::cerr << "no test case matched the name given: nothing ran\n";
    return 1;
  }
  return rc;
}
