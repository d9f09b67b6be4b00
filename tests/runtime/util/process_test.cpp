#include "runtime/util/process.hpp"
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <unistd.h>

using namespace std::chrono_literals;

namespace {

std::string temp_path(const std::string& stem) {
  return (std::filesystem::temp_directory_path()
          / (stem + "." + std::to_string(::getpid()) + ".log"))
      .string();
}

std::string read_all(const std::string& path) {
  std::ifstream in{path};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

} // namespace

TEST_SUITE("runtime.util") {

  TEST_CASE("a child's output goes to its log, and its exit status comes back") {
    auto log = temp_path("sv-process");
    sv::process::spawn_options o;
    o.log = log;
    o.truncate_log = true;
    auto pid = sv::process::spawn({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}, o);
    REQUIRE(pid > 0);
    int status = 0;
    REQUIRE(sv::process::wait_for(pid, 10s, status));
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 3);
    CHECK(read_all(log) == "out\nerr\n");
    std::filesystem::remove(log);
  }

  TEST_CASE("a program that cannot be run exits 127") {
    auto pid = sv::process::spawn({"/nonexistent/sv-no-such-binary"});
    REQUIRE(pid > 0);
    int status = 0;
    REQUIRE(sv::process::wait_for(pid, 10s, status));
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 127);
  }

  TEST_CASE("stop ends a child with SIGTERM, or SIGKILL when it ignores it, even if stopped") {
    // Ignores SIGTERM: only SIGKILL ends it, after the grace period.
    auto stubborn =
        sv::process::spawn({"/bin/sh", "-c", "trap '' TERM; while :; do sleep 1; done"});
    REQUIRE(stubborn > 0);
    int status = 0;
    CHECK_FALSE(sv::process::wait_for(stubborn, 100ms, status)); // still running
    status = sv::process::stop(stubborn, 300ms);
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);
    // A stopped child is continued so that it can take the SIGTERM.
    auto polite = sv::process::spawn({"/bin/sh", "-c", "while :; do sleep 1; done"});
    REQUIRE(polite > 0);
    ::kill(polite, SIGSTOP);
    status = sv::process::stop(polite, 10s);
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGTERM);
  }

} // TEST_SUITE
