#include "actors/integrations/http_client.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cstdint>
#include <mutex>

namespace sv::integrations {

namespace {

constexpr size_t max_answer_bytes = 4u << 20;

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// One easy handle per thread, kept for its connection cache.
struct thread_handle {
  CURL* h = nullptr;
  thread_handle() {
    global_init();
    h = curl_easy_init();
  }
  ~thread_handle() {
    if (h != nullptr) {
      curl_easy_cleanup(h);
    }
  }
  thread_handle(const thread_handle&) = delete;
  thread_handle& operator=(const thread_handle&) = delete;
};

struct sink {
  std::string* out;
  bool overflow = false;
};

size_t on_data(char* data, size_t size, size_t count, void* user) {
  auto* s = static_cast<sink*>(user);
  auto n = size * count;
  if (s->out->size() + n > max_answer_bytes) {
    s->overflow = true;
    return 0; // makes curl stop with CURLE_WRITE_ERROR
  }
  s->out->append(data, n);
  return n;
}

} // namespace

http_reply http_post(const std::string& url, const std::string& body,
                     std::chrono::milliseconds timeout, const std::vector<std::string>& headers) {
  http_reply r;
  thread_local thread_handle th;
  if (th.h == nullptr) {
    r.error = "curl_easy_init failed";
    return r;
  }
  auto* h = th.h;
  curl_easy_reset(h);
  curl_slist* list = curl_slist_append(nullptr, "Content-Type: application/json");
  list = curl_slist_append(list, "Accept: application/json");
  for (auto& line : headers) {
    list = curl_slist_append(list, line.c_str());
  }
  sink s{&r.body};
  auto ms = static_cast<long>(std::max<int64_t>(1, timeout.count()));
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(h, CURLOPT_POST, 1L);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, ms);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, ms);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); // threads: no SIGALRM for timeouts
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  auto rc = curl_easy_perform(h);
  curl_slist_free_all(list);
  if (rc != CURLE_OK) {
    r.timed_out = rc == CURLE_OPERATION_TIMEDOUT;
    r.error = s.overflow ? "answer larger than 4 MiB" : curl_easy_strerror(rc);
    r.status = 0;
    return r;
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
  return r;
}

} // namespace sv::integrations
