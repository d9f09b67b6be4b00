// Static 200 over libmicrohttpd (epoll, one internal thread); "hop" mode suspends the
// connection and resumes it from another thread.
#include "hop.hpp"
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <microhttpd.h>
#include <unistd.h>

static hop_worker* hop = nullptr;
static MHD_Response* ok = nullptr;

struct req_state {
  bool answered = false;
};

static MHD_Result handler(void*, MHD_Connection* c, const char*, const char*, const char*,
                          const char*, size_t* upload_size, void** cls) {
  if (*cls == nullptr) {
    *cls = new req_state{};
    return MHD_YES;
  }
  if (*upload_size != 0) {
    *upload_size = 0;
    return MHD_YES;
  }
  auto* st = static_cast<req_state*>(*cls);
  if (hop != nullptr && !st->answered) {
    st->answered = true;
    MHD_suspend_connection(c);
    hop->push([c] { MHD_resume_connection(c); });
    return MHD_YES;
  }
  return MHD_queue_response(c, MHD_HTTP_OK, ok);
}

static void done(void*, MHD_Connection*, void** cls, MHD_RequestTerminationCode) {
  delete static_cast<req_state*>(*cls);
  *cls = nullptr;
}

int main(int argc, char** argv) {
  int port = argc > 1 ? std::atoi(argv[1]) : 8082;
  std::unique_ptr<hop_worker> h;
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
  if (argc > 2 && std::strcmp(argv[2], "hop") == 0) {
    h = std::make_unique<hop_worker>();
    hop = h.get();
    flags |= MHD_ALLOW_SUSPEND_RESUME;
  }
  static const char body[] = "ok\n";
  ok = MHD_create_response_from_buffer(3, const_cast<char*>(body), MHD_RESPMEM_PERSISTENT);
  MHD_add_response_header(ok, "Content-Type", "text/plain");
  auto* d = MHD_start_daemon(flags, static_cast<uint16_t>(port), nullptr, nullptr, &handler,
                             nullptr, MHD_OPTION_NOTIFY_COMPLETED, &done, nullptr, MHD_OPTION_END);
  if (d == nullptr) {
    std::fprintf(stderr, "cannot start\n");
    return 1;
  }
  pause();
}
