#pragma once

// A fixed set of threads that run posted jobs in the order they were posted: for blocking
// work (an HTTP call, a loader that reads a disk or a database) that must stay off CAF's
// scheduler, whose few workers run every actor of the node.
//
//   sv::worker_pool pool{4};
//   pool.post([] { blocking_call(); });
//   pool.queued();   // jobs waiting for a thread
//   pool.stop();     // takes no more jobs, runs the queued ones, joins (the destructor too)

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace sv {

class worker_pool {
public:
  /// Starts `threads` threads (at least one).
  explicit worker_pool(size_t threads) {
    for (size_t i = 0; i < std::max<size_t>(1, threads); ++i) {
      workers_.emplace_back([this] { run(); });
    }
  }

  ~worker_pool() {
    stop();
  }

  worker_pool(const worker_pool&) = delete;
  worker_pool& operator=(const worker_pool&) = delete;

  /// Queues `job` for the next free thread; false (and `job` is not run) once stopping.
  bool post(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> guard{mx_};
      if (stopping_) {
        return false;
      }
      jobs_.push_back(std::move(job));
    }
    ready_.notify_one();
    return true;
  }

  /// Jobs waiting for a thread (not counting those running).
  size_t queued() const {
    std::lock_guard<std::mutex> guard{mx_};
    return jobs_.size();
  }

  size_t threads() const noexcept {
    return workers_.size();
  }

  /// Takes no more jobs, lets the threads finish every queued one, and joins them. Safe to
  /// call more than once; not from one of the pool's own jobs.
  void stop() {
    {
      std::lock_guard<std::mutex> guard{mx_};
      stopping_ = true;
    }
    ready_.notify_all();
    for (auto& w : workers_) {
      if (w.joinable()) {
        w.join();
      }
    }
  }

private:
  void run() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock{mx_};
        ready_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty()) {
          return; // stopping and nothing left
        }
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }

  mutable std::mutex mx_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

} // namespace sv
