#pragma once

// The other side of a webhook for tests, on loopback (runtime/metrics' small HTTP server
// with a handler for any method).

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "runtime/metrics/http_server.hpp"

namespace sv::test {

// The other side of a webhook, on loopback: records every request and answers with what
// the test set; `hold()` makes it keep answers back until `release()` (at most 5 s).
class partner {
public:
  partner() {
    auto why = server_.start("127.0.0.1", 0, [this](const sv::metrics::http_request& r) {
      std::unique_lock<std::mutex> lock{mx_};
      requests_.push_back(r);
      cv_.wait_for(lock, std::chrono::seconds{5}, [this] { return !holding_; });
      if (by_request_) {
        return by_request_(r);
      }
      if (!script_.empty()) {
        auto next = script_.front();
        script_.erase(script_.begin());
        return next;
      }
      return answer_;
    });
    REQUIRE(why.empty());
  }
  ~partner() {
    release();
    server_.stop();
  }

  std::string url(const std::string& path = "/hook") const {
    return "http://127.0.0.1:" + std::to_string(server_.port()) + path;
  }
  void answer(int status, std::string body) {
    std::lock_guard<std::mutex> lock{mx_};
    answer_ = {status, "application/json", std::move(body)};
  }
  /// Answers given once each, in order, before `answer`'s.
  void then(int status, std::string body) {
    std::lock_guard<std::mutex> lock{mx_};
    script_.push_back({status, "application/json", std::move(body)});
  }
  /// Answers computed from each request (instead of `answer` and `then`).
  void respond(std::function<sv::metrics::http_response(const sv::metrics::http_request&)> f) {
    std::lock_guard<std::mutex> lock{mx_};
    by_request_ = std::move(f);
  }
  void hold() {
    std::lock_guard<std::mutex> lock{mx_};
    holding_ = true;
  }
  void release() {
    {
      std::lock_guard<std::mutex> lock{mx_};
      holding_ = false;
    }
    cv_.notify_all();
  }
  size_t calls() const {
    std::lock_guard<std::mutex> lock{mx_};
    return requests_.size();
  }
  sv::metrics::http_request request(size_t i) const {
    std::lock_guard<std::mutex> lock{mx_};
    return requests_.at(i);
  }

private:
  mutable std::mutex mx_;
  std::condition_variable cv_;
  std::vector<sv::metrics::http_request> requests_;
  std::vector<sv::metrics::http_response> script_;
  sv::metrics::http_response answer_{200, "application/json", "{}"};
  std::function<sv::metrics::http_response(const sv::metrics::http_request&)> by_request_;
  bool holding_ = false;
  sv::metrics::http_server server_;
};

} // namespace sv::test
