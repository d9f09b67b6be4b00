#pragma once

// Polling with a bound, for tests of whole nodes on loopback (real time, real sockets).

#include <chrono>
#include <functional>
#include <thread>

namespace sv::test {

/// Polls `pred` every 10 ms until it holds or `limit` passes; returns its last value.
inline bool eventually(const std::function<bool()>& pred,
                       std::chrono::milliseconds limit = std::chrono::seconds{10}) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  return pred();
}

} // namespace sv::test
