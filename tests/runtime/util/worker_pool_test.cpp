#include "runtime/util/worker_pool.hpp"
#include <doctest/doctest.h>

#include <atomic>
#include <future>
#include <vector>

TEST_SUITE("runtime.util") {

  TEST_CASE("a worker pool runs jobs in posting order, counts what waits, and drains on stop") {
    sv::worker_pool pool{1};
    CHECK(pool.threads() == 1);
    std::promise<void> release;
    auto gate = release.get_future().share();
    std::promise<void> started;
    std::vector<int> order; // written by the pool's one thread only
    pool.post([&] {
      started.set_value();
      gate.wait();
    });
    started.get_future().wait(); // the thread is busy: what follows waits in the queue
    for (int i = 1; i <= 3; ++i) {
      CHECK(pool.post([&order, i] { order.push_back(i); }));
    }
    CHECK(pool.queued() == 3);
    release.set_value();
    pool.stop(); // runs the three queued jobs before it returns
    CHECK(order == std::vector<int>{1, 2, 3});
    CHECK(pool.queued() == 0);
    // Once stopped, a job is refused and never runs; stop again is harmless.
    std::atomic<bool> ran{false};
    CHECK_FALSE(pool.post([&] { ran = true; }));
    pool.stop();
    CHECK_FALSE(ran.load());
  }

  TEST_CASE("a pool of several threads runs jobs at the same time") {
    sv::worker_pool pool{3};
    // Three jobs that each wait until all three have started: only possible in parallel.
    std::atomic<int> arrived{0};
    std::promise<void> all_in;
    auto gate = all_in.get_future().share();
    std::atomic<int> done{0};
    for (int i = 0; i < 3; ++i) {
      pool.post([&] {
        if (++arrived == 3) {
          all_in.set_value();
        }
        gate.wait();
        ++done;
      });
    }
    pool.stop();
    CHECK(done.load() == 3);
  }

} // TEST_SUITE
