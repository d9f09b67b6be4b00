#pragma once

// Child processes for the tools that run nodes and drivers (streamverse-soak, the benchmark
// drivers, multi-process tests): start one with its output in a log file or a pipe, wait
// for it with a bound, stop it with SIGTERM and then SIGKILL. POSIX only.
//
//   sv::process::spawn_options o;
//   o.log = dir + "/node.log";
//   auto pid = sv::process::spawn({"/usr/bin/streamverse-node", "--config", f}, o);
//   ...
//   sv::process::stop(pid, std::chrono::seconds{20});   // SIGTERM, SIGKILL after 20 s

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace sv::process {

struct spawn_options {
  /// The file the child's stderr (and stdout, unless `stdout_fd`) goes to; "" keeps the
  /// parent's. "/dev/null" silences it.
  std::string log;
  /// Truncate `log` first (else append to it).
  bool truncate_log = false;
  /// Descriptors that become the child's stdin and stdout (-1: unchanged, or `log`).
  int stdin_fd = -1;
  int stdout_fd = -1;
  /// Close every other descriptor in the child (pipes' other ends, sockets).
  bool close_other_fds = true;
};

/// Starts `args[0]` (a path) with `args`; the pid, or -1 when fork failed. A child that
/// cannot exec exits with 127.
inline pid_t spawn(const std::vector<std::string>& args, const spawn_options& o = {}) {
  // Built before fork: the child of a threaded parent may only make async-signal-safe calls.
  std::vector<char*> argv;
  for (auto& a : args) {
    argv.push_back(const_cast<char*>(a.c_str()));
  }
  argv.push_back(nullptr);
  const char* log = o.log.empty() ? nullptr : o.log.c_str();
  auto flags = O_WRONLY | O_CREAT | (o.truncate_log ? O_TRUNC : O_APPEND);
  auto pid = ::fork();
  if (pid != 0) {
    return pid;
  }
  if (log != nullptr) {
    auto fd = ::open(log, flags, 0644);
    if (fd >= 0) {
      ::dup2(fd, STDERR_FILENO);
      if (o.stdout_fd < 0) {
        ::dup2(fd, STDOUT_FILENO);
      }
    }
  }
  if (o.stdout_fd >= 0) {
    ::dup2(o.stdout_fd, STDOUT_FILENO);
  }
  if (o.stdin_fd >= 0) {
    ::dup2(o.stdin_fd, STDIN_FILENO);
  }
  if (o.close_other_fds) {
    for (int i = 3; i < 1024; ++i) {
      ::close(i);
    }
  }
  ::execv(argv[0], argv.data());
  ::_exit(127);
}

/// Waits at most `limit` for `pid` to exit; true when it did (its status in `status`), or
/// when it is not a child of this process.
inline bool wait_for(pid_t pid, std::chrono::milliseconds limit, int& status) {
  auto end = std::chrono::steady_clock::now() + limit;
  for (;;) {
    auto r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid || r < 0) {
      return true;
    }
    if (std::chrono::steady_clock::now() >= end) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
}

/// Sends `sig` (SIGTERM: a graceful stop), waits at most `grace`, then SIGKILLs; reaps the
/// child either way. Returns its wait status. A stopped (SIGSTOP) child is continued first.
inline int stop(pid_t pid, std::chrono::milliseconds grace, int sig = SIGTERM) {
  int status = 0;
  if (pid <= 0) {
    return status;
  }
  ::kill(pid, SIGCONT);
  ::kill(pid, sig);
  if (!wait_for(pid, grace, status)) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  return status;
}

} // namespace sv::process
