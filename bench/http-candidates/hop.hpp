// A stand-in for the actor an HTTP request is handed to: one thread that runs jobs in
// order and answers through a callback (the actor's reply).
#pragma once
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

class hop_worker {
public:
  hop_worker() : t_([this] { loop(); }) {}
  ~hop_worker() {
    {
      std::lock_guard<std::mutex> g{m_};
      stop_ = true;
    }
    cv_.notify_one();
    t_.join();
  }
  void push(std::function<void()> f) {
    {
      std::lock_guard<std::mutex> g{m_};
      q_.push_back(std::move(f));
    }
    cv_.notify_one();
  }

private:
  void loop() {
    std::unique_lock<std::mutex> l{m_};
    for (;;) {
      cv_.wait(l, [this] { return stop_ || !q_.empty(); });
      if (q_.empty()) {
        return;
      }
      auto f = std::move(q_.front());
      q_.pop_front();
      l.unlock();
      f();
      l.lock();
    }
  }
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> q_;
  bool stop_ = false;
  std::thread t_;
};
