#pragma once

// Guarded calls to an integration (issue #8): every hook call goes through a hook_guard,
// which runs it on the guard's own threads (never on an actor's), bounds how long the
// caller waits, and stops calling a partner that keeps failing.
//
//   sv::integrations::hook_guard g{{"entitlement", std::chrono::milliseconds{150}}, &metrics};
//   g.call([] { return std::string{}; /* "" = ok, else why it failed */ },
//          [](sv::integrations::call_status s, const std::string& why) { ... });
//
// - Timeout: `done` comes at the latest `timeout` after call() (queueing included). A call
//   still running then is answered timed_out; its later result is dropped and counted late.
// - Circuit breaker: `failure_threshold` failures or timeouts in a row open it; while open
//   calls are answered breaker_open at once, without reaching the partner; after
//   `open_for` one probe goes out (half open): success closes it, failure opens it again.
// - Bounded: at most `max_queued` calls wait for a thread; more are answered queue_full.
// - Metrics (labels hook=<name>): sv_hook_calls_total{outcome}, sv_hook_latency_seconds,
//   sv_hook_breaker_state (0 closed, 1 open, 2 half open), sv_hook_breaker_opened_total,
//   sv_hook_late_total, sv_hook_queued.
// On destruction, queued calls are answered failed ("stopping") and the threads joined (a
// call in progress is waited for; HTTP calls end within their timeout).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace sv::metrics {
class registry;
} // namespace sv::metrics

namespace sv::integrations {

using hook_clock = std::chrono::steady_clock;

struct breaker_settings {
  /// Failures (or timeouts) in a row that open the breaker.
  uint32_t failure_threshold = 5;
  /// How long it stays open before one probe may go out.
  std::chrono::milliseconds open_for{5000};
};

enum class breaker_state : uint8_t { closed = 0, open = 1, half_open = 2 };

/// The breaker of one hook. Not thread-safe (the guard holds it under its lock); time is
/// passed in, so tests drive it without waiting.
class circuit_breaker {
public:
  explicit circuit_breaker(breaker_settings s = {}) : settings_(s) {}

  /// Whether a call may go out at `now`. Open: no, until `open_for` has passed; then the
  /// breaker is half open and lets exactly one probe out until that probe's result.
  bool allow(hook_clock::time_point now);
  /// The result of a call that allow() let out.
  void on_success();
  void on_failure(hook_clock::time_point now);

  breaker_state state() const noexcept {
    return state_;
  }
  /// How many times it opened.
  uint64_t opened() const noexcept {
    return opened_;
  }

private:
  void open(hook_clock::time_point now);

  breaker_settings settings_;
  breaker_state state_ = breaker_state::closed;
  uint32_t failures_ = 0;
  bool probe_out_ = false;
  hook_clock::time_point open_until_{};
  uint64_t opened_ = 0;
};

enum class call_status : uint8_t {
  ok,           ///< the partner answered and the answer was usable
  failed,       ///< the partner answered with an error (or the call threw)
  timed_out,    ///< no answer within the timeout
  breaker_open, ///< not called: the breaker is open
  queue_full,   ///< not called: too many calls waiting
  shed,         ///< not called: the node's level sheds this hook's class (counted by callers)
};

/// "ok", "failed", "timed_out", "breaker_open", "queue_full", "shed".
const char* to_string(call_status s) noexcept;

struct guard_settings {
  /// Names the hook in metrics and logs.
  std::string name;
  /// The longest a caller waits for an answer.
  std::chrono::milliseconds timeout{250};
  breaker_settings breaker;
  /// Threads that run calls (each blocks for at most one call at a time).
  uint32_t threads = 2;
  /// Calls that may wait for a thread.
  uint32_t max_queued = 256;
};

/// Settings named `name` with `timeout`, the rest default.
inline guard_settings guarded(std::string name, std::chrono::milliseconds timeout) {
  guard_settings s;
  s.name = std::move(name);
  s.timeout = timeout;
  return s;
}

/// The registry to count in: `given`, or `own` (made on first use) when none was given.
metrics::registry& registry_or_own(metrics::registry* given,
                                   std::unique_ptr<metrics::registry>& own);

class hook_guard {
public:
  /// The work of one call: returns "" on success, else why it failed.
  using work = std::function<std::string()>;
  /// Called exactly once per call: the status and, unless ok, why.
  using done_fn = std::function<void(call_status, const std::string&)>;

  /// `metrics` may be null (the guard then keeps its counters to itself); else it must
  /// outlive the guard.
  hook_guard(guard_settings settings, metrics::registry* metrics);
  ~hook_guard();
  hook_guard(const hook_guard&) = delete;
  hook_guard& operator=(const hook_guard&) = delete;

  /// Runs `w` on a guard thread. `done` runs on a guard thread, or at once on the caller's
  /// when the breaker is open or the queue full; it must not block. `immediate`: `w` never
  /// blocks (an in-process hook that only computes): it runs now on the caller's thread,
  /// counted and fed to the breaker the same way, with no queue and no thread hop.
  void call(work w, done_fn done, bool immediate = false);

  /// call() and wait for `done` (at most about the timeout).
  call_status call_and_wait(work w, std::string* why = nullptr);

  /// Counts a call its caller did not make because the node sheds the hook's class.
  void count_shed();

  breaker_state breaker() const;
  /// Calls answered with `s` so far.
  uint64_t count(call_status s) const noexcept;
  /// Results that came after their call was answered timed_out.
  uint64_t late() const noexcept;

  const guard_settings& settings() const noexcept;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace sv::integrations
