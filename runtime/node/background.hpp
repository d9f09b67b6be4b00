#pragma once

// Background work (stores, batchers) runs in detached actors at a lower OS priority: when
// the cores are busy, the scheduler's workers, which run the critical work, go first.
// Call it first thing in such an actor's behavior (it applies to the calling thread).

#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace sv {

/// `idle_only`: SCHED_IDLE, the thread runs only on a core nothing else wants (it never
/// delays a heartbeat by the few milliseconds a nice thread can hold a core); otherwise
/// nice 10.
inline void lower_this_threads_priority(bool idle_only = false) {
  if (idle_only) {
    sched_param none{};
    ::sched_setscheduler(0, SCHED_IDLE, &none);
    return;
  }
  ::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), 10);
}

} // namespace sv
