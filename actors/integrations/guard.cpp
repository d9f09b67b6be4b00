#include "actors/integrations/guard.hpp"

#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

#include "runtime/metrics/registry.hpp"
#include "runtime/util/worker_pool.hpp"
#include "spdlog/spdlog.h"

namespace sv::integrations {

// -- circuit_breaker -----------------------------------------------------------------

bool circuit_breaker::allow(hook_clock::time_point now) {
  switch (state_) {
  case breaker_state::closed:
    return true;
  case breaker_state::open:
    if (now < open_until_) {
      return false;
    }
    state_ = breaker_state::half_open;
    probe_out_ = true;
    return true;
  case breaker_state::half_open:
    if (probe_out_) {
      return false;
    }
    probe_out_ = true;
    return true;
  }
  return false;
}

void circuit_breaker::on_success() {
  // A success that arrives while open belongs to a call let out before the breaker
  // opened: the probe decides, not a straggler.
  if (state_ == breaker_state::open) {
    return;
  }
  state_ = breaker_state::closed;
  failures_ = 0;
  probe_out_ = false;
}

void circuit_breaker::on_failure(hook_clock::time_point now) {
  switch (state_) {
  case breaker_state::closed:
    if (++failures_ >= settings_.failure_threshold) {
      open(now);
    }
    break;
  case breaker_state::half_open:
    open(now);
    break;
  case breaker_state::open:
    break;
  }
}

void circuit_breaker::open(hook_clock::time_point now) {
  state_ = breaker_state::open;
  open_until_ = now + settings_.open_for;
  probe_out_ = false;
  failures_ = 0;
  ++opened_;
}

const char* to_string(call_status s) noexcept {
  switch (s) {
  case call_status::ok:
    return "ok";
  case call_status::failed:
    return "failed";
  case call_status::timed_out:
    return "timed_out";
  case call_status::breaker_open:
    return "breaker_open";
  case call_status::queue_full:
    return "queue_full";
  case call_status::shed:
    return "shed";
  }
  return "unknown";
}

// -- hook_guard ----------------------------------------------------------------------

metrics::registry& registry_or_own(metrics::registry* given,
                                   std::unique_ptr<metrics::registry>& own) {
  if (given != nullptr) {
    return *given;
  }
  if (!own) {
    own = std::make_unique<metrics::registry>();
  }
  return *own;
}

namespace {

constexpr size_t status_count = 6;

struct pending_call {
  hook_guard::work w;
  hook_guard::done_fn done;
  std::atomic<bool> answered{false};
  hook_clock::time_point start;
};

struct deadline_entry {
  hook_clock::time_point at;
  std::shared_ptr<pending_call> call;
  bool operator>(const deadline_entry& other) const noexcept {
    return at > other.at;
  }
};

} // namespace

struct hook_guard::impl {
  guard_settings settings;
  std::unique_ptr<metrics::registry> own_registry;
  metrics::counter* calls[status_count] = {};
  metrics::histogram* latency = nullptr;
  metrics::gauge* state_gauge = nullptr;
  metrics::gauge* queued_gauge = nullptr;
  metrics::counter* opened_counter = nullptr;
  metrics::counter* late_counter = nullptr;
  std::atomic<uint64_t> counts[status_count] = {};
  std::atomic<uint64_t> late{0};

  mutable std::mutex mx;
  std::condition_variable timer_cv;
  std::priority_queue<deadline_entry, std::vector<deadline_entry>, std::greater<>> deadlines;
  circuit_breaker breaker;
  bool stopping = false;
  std::unique_ptr<worker_pool> pool; // the calls that went out, in order
  std::thread timer;

  impl(guard_settings s, metrics::registry* reg)
      : settings(std::move(s)), breaker(settings.breaker) {
    reg = &registry_or_own(reg, own_registry);
    metrics::labels hook{{"hook", settings.name}};
    for (size_t i = 0; i < status_count; ++i) {
      calls[i] = &reg->counter_metric(
          "sv_hook_calls_total", "Calls to an integration hook by outcome",
          {{"hook", settings.name}, {"outcome", to_string(static_cast<call_status>(i))}});
    }
    latency = &reg->histogram_metric("sv_hook_latency_seconds",
                                     "Time a hook's partner took to answer (calls that ran)",
                                     metrics::latency_buckets(), hook);
    state_gauge = &reg->gauge_metric("sv_hook_breaker_state",
                                     "Circuit breaker: 0 closed, 1 open, 2 half open", hook);
    queued_gauge = &reg->gauge_metric("sv_hook_queued", "Calls waiting for a hook thread", hook);
    opened_counter = &reg->counter_metric("sv_hook_breaker_opened_total",
                                          "Times a hook's circuit breaker opened", hook);
    late_counter = &reg->counter_metric("sv_hook_late_total",
                                        "Answers that came after their call had timed out", hook);
  }

  // Answers `c` unless it was answered already; true if this call answered it. The
  // outcome of a call that went out feeds the breaker first, so a caller who heard of a
  // failure finds the breaker already counting it.
  bool answer(pending_call& c, call_status s, const std::string& why, bool went_out) {
    if (c.answered.exchange(true)) {
      return false;
    }
    counts[static_cast<size_t>(s)].fetch_add(1, std::memory_order_relaxed);
    calls[static_cast<size_t>(s)]->inc();
    if (went_out) {
      record(s, hook_clock::now());
    }
    c.done(s, why);
    return true;
  }

  // Feeds the breaker with the outcome of a call that went out.
  void record(call_status s, hook_clock::time_point now) {
    std::lock_guard<std::mutex> guard{mx};
    auto before = breaker.opened();
    if (s == call_status::ok) {
      breaker.on_success();
    } else {
      breaker.on_failure(now);
    }
    state_gauge->set(static_cast<double>(breaker.state()));
    if (breaker.opened() != before) {
      opened_counter->inc();
      spdlog::warn("hook {}: circuit breaker open for {} ms after {}", settings.name,
                   settings.breaker.open_for.count(), to_string(s));
    }
  }

  // On a pool thread: runs `c` unless its timeout came first or the guard is stopping.
  void take(const std::shared_ptr<pending_call>& c) {
    queued_gauge->set(static_cast<double>(pool->queued()));
    if (c->answered.load()) {
      return; // timed out while it waited
    }
    bool stop_now = false;
    {
      std::lock_guard<std::mutex> guard{mx};
      stop_now = stopping;
    }
    if (stop_now) {
      answer(*c, call_status::failed, "stopping", false);
      return;
    }
    run(*c);
  }

  // Runs the work of `c` on this thread and answers it (unless its timeout came first).
  void run(pending_call& c) {
    std::string why;
    try {
      why = c.w();
    } catch (const std::exception& e) {
      why = std::string{"exception: "} + e.what();
    } catch (...) {
      why = "unknown exception";
    }
    auto now = hook_clock::now();
    latency->observe(std::chrono::duration<double>(now - c.start).count());
    auto s = why.empty() ? call_status::ok : call_status::failed;
    if (!answer(c, s, why, true)) {
      late.fetch_add(1, std::memory_order_relaxed);
      late_counter->inc();
    }
  }

  void run_timer() {
    std::unique_lock<std::mutex> lock{mx};
    while (!stopping) {
      if (deadlines.empty()) {
        timer_cv.wait(lock);
        continue;
      }
      auto at = deadlines.top().at;
      if (hook_clock::now() < at) {
        timer_cv.wait_until(lock, at);
        continue;
      }
      auto c = deadlines.top().call;
      deadlines.pop();
      if (c->answered.load()) {
        continue;
      }
      lock.unlock();
      answer(*c, call_status::timed_out,
             "no answer within " + std::to_string(settings.timeout.count()) + " ms", true);
      lock.lock();
    }
  }
};

hook_guard::hook_guard(guard_settings settings, metrics::registry* metrics)
    : impl_(std::make_unique<impl>(std::move(settings), metrics)) {
  impl_->pool = std::make_unique<worker_pool>(std::max<uint32_t>(1, impl_->settings.threads));
  impl_->timer = std::thread{[this] {
    impl_->run_timer();
  }};
}

hook_guard::~hook_guard() {
  {
    std::lock_guard<std::mutex> guard{impl_->mx};
    impl_->stopping = true;
  }
  impl_->timer_cv.notify_all();
  // Queued calls are answered failed ("stopping") by the pool's threads, without going out.
  impl_->pool->stop();
  impl_->timer.join();
  // Calls whose deadline had not come: answered failed, so every caller hears once.
  while (!impl_->deadlines.empty()) {
    impl_->answer(*impl_->deadlines.top().call, call_status::failed, "stopping", false);
    impl_->deadlines.pop();
  }
}

void hook_guard::call(work w, done_fn done, bool immediate) {
  auto c = std::make_shared<pending_call>();
  c->w = std::move(w);
  c->done = std::move(done);
  c->start = hook_clock::now();
  auto refused = call_status::ok;
  {
    std::lock_guard<std::mutex> guard{impl_->mx};
    if (impl_->stopping) {
      refused = call_status::failed;
    } else if (immediate) {
      if (!impl_->breaker.allow(c->start)) {
        refused = call_status::breaker_open;
      }
    } else if (impl_->pool->queued() >= impl_->settings.max_queued) {
      refused = call_status::queue_full;
    } else if (!impl_->breaker.allow(c->start)) {
      refused = call_status::breaker_open;
    } else {
      impl_->state_gauge->set(static_cast<double>(impl_->breaker.state()));
      auto* im = impl_.get();
      im->pool->post([im, c] { im->take(c); });
      im->queued_gauge->set(static_cast<double>(im->pool->queued()));
      impl_->deadlines.push({c->start + impl_->settings.timeout, c});
    }
  }
  if (refused != call_status::ok) {
    impl_->answer(*c, refused, refused == call_status::failed ? "stopping" : to_string(refused),
                  false);
    return;
  }
  if (immediate) {
    impl_->run(*c);
    return;
  }
  impl_->timer_cv.notify_one();
}

call_status hook_guard::call_and_wait(work w, std::string* why) {
  struct waiter {
    std::mutex mx;
    std::condition_variable cv;
    bool done = false;
    call_status s = call_status::ok;
    std::string why;
  };
  auto st = std::make_shared<waiter>();
  call(std::move(w), [st](call_status s, const std::string& text) {
    std::lock_guard<std::mutex> guard{st->mx};
    st->s = s;
    st->why = text;
    st->done = true;
    st->cv.notify_all();
  });
  std::unique_lock<std::mutex> lock{st->mx};
  st->cv.wait(lock, [&] { return st->done; });
  if (why != nullptr) {
    *why = st->why;
  }
  return st->s;
}

void hook_guard::count_shed() {
  impl_->counts[static_cast<size_t>(call_status::shed)].fetch_add(1, std::memory_order_relaxed);
  impl_->calls[static_cast<size_t>(call_status::shed)]->inc();
}

breaker_state hook_guard::breaker() const {
  std::lock_guard<std::mutex> guard{impl_->mx};
  return impl_->breaker.state();
}

uint64_t hook_guard::count(call_status s) const noexcept {
  return impl_->counts[static_cast<size_t>(s)].load(std::memory_order_relaxed);
}

uint64_t hook_guard::late() const noexcept {
  return impl_->late.load(std::memory_order_relaxed);
}

const guard_settings& hook_guard::settings() const noexcept {
  return impl_->settings;
}

} // namespace sv::integrations
