#pragma once

// Benchmark drivers run each side (StreamVerse, raw CAF) in a child process of their own,
// so that memory figures are not shared and a side that collapses can be stopped.

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "bench/support/flags.hpp"
#include "runtime/util/process.hpp"

namespace sv::bench {

struct child_result {
  /// The last complete line the child printed (empty if none).
  std::string last_line;
  /// False when the child was killed at the time limit.
  bool finished = false;
};

/// Runs `args[0]` with `args`, collecting its standard output; kills it after `limit_s`.
inline child_result run_child(std::vector<std::string> args, double limit_s) {
  using namespace std::chrono;
  child_result result;
  int fds[2];
  if (pipe(fds) != 0) {
    return result;
  }
  process::spawn_options o;
  o.stdout_fd = fds[1];
  auto pid = process::spawn(args, o);
  close(fds[1]);
  std::string out;
  auto deadline =
      steady_clock::now() + duration_cast<steady_clock::duration>(duration<double>(limit_s));
  while (steady_clock::now() < deadline) {
    pollfd p{fds[0], POLLIN, 0};
    if (poll(&p, 1, 200) > 0) {
      char buf[4096];
      auto n = read(fds[0], buf, sizeof(buf));
      if (n <= 0) {
        result.finished = true;
        break;
      }
      out.append(buf, static_cast<size_t>(n));
    }
  }
  close(fds[0]);
  if (!result.finished) {
    kill(pid, SIGKILL);
  }
  waitpid(pid, nullptr, 0);
  // Only complete lines count: a killed child may have stopped mid-line.
  auto end = out.rfind('\n');
  if (end == std::string::npos) {
    return result;
  }
  out.resize(end);
  auto start = out.rfind('\n');
  result.last_line = start == std::string::npos ? out : out.substr(start + 1);
  return result;
}

/// Runs this binary (`self_path`) again with the parent's flags plus `--mode mode`: how a
/// driver runs each side of a comparison in its own process.
inline child_result run_self(const char* self_path, const flags& parent, const char* mode,
                             double limit_s) {
  std::vector<std::string> args{self_path};
  for (auto& a : parent.to_args()) {
    args.push_back(a);
  }
  args.insert(args.end(), {"--mode", mode});
  return run_child(std::move(args), limit_s);
}

} // namespace sv::bench
