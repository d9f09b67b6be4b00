#pragma once

// Background work (stores, batchers) runs in detached actors at a lower OS priority: when
// the cores are busy, the scheduler's workers, which run the critical work, go first.
// Call it first thing in such an actor's behavior (it applies to the calling thread).

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace sv {

inline void lower_this_threads_priority() {
  ::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), 10);
}

} // namespace sv
