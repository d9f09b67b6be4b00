// CMS ingest: polls the CMS hook from a cursor kept on disk and hands the items to the node.

#include "actors/integrations/hooks.hpp"
#include "actors/integrations/hooks_internal.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "actors/integrations/http_client.hpp"
#include "actors/integrations/integrations.pb.h"
#include "google/protobuf/util/json_util.h"
#include "runtime/config/node_settings.hpp"
#include "runtime/metrics/registry.hpp"
#include "spdlog/spdlog.h"

namespace sv::integrations {

namespace pb = streamverse::v1;
using namespace detail;

namespace {

std::string read_cursor(const std::string& path) {
  if (path.empty()) {
    return {};
  }
  std::ifstream in{path};
  std::string cursor;
  std::getline(in, cursor);
  return cursor;
}

// Written to a temporary file and renamed over the old one: a crash leaves either.
void write_cursor(const std::string& path, const std::string& cursor) {
  if (path.empty()) {
    return;
  }
  auto tmp = path + ".tmp";
  {
    std::ofstream out{tmp, std::ios::trunc};
    out << cursor << '\n';
    out.flush();
    if (!out) {
      spdlog::error("cms: cannot write {}", tmp);
      return;
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    spdlog::error("cms: cannot rename {} to {}", tmp, path);
  }
}

} // namespace

struct cms_ingest::impl : loop_thread {
  cms_settings settings;
  std::shared_ptr<cms_hook> hook;
  apply_fn apply;
  std::function<bool()> active;
  metrics::counter* applied_c;
  metrics::counter* rejected_c;
  bool poke = false;
  stats st;
  std::unique_ptr<metrics::registry> own;
  std::unique_ptr<hook_guard> guard;

  impl(std::shared_ptr<cms_hook> h, apply_fn a, std::function<bool()> act, cms_settings s,
       metrics::registry* reg)
      : settings(std::move(s)), hook(std::move(h)), apply(std::move(a)), active(std::move(act)) {
    reg = &registry_or_own(reg, own);
    applied_c = &reg->counter_metric("sv_cms_items_total", "CMS items by what became of them",
                                     {{"result", "applied"}});
    rejected_c = &reg->counter_metric("sv_cms_items_total", "CMS items by what became of them",
                                      {{"result", "rejected"}});
    guard = std::make_unique<hook_guard>(settings.guard, reg);
    st.cursor = read_cursor(settings.cursor_file);
  }

  // One poll; true when a full page may be waiting (poll again at once).
  bool poll_once() {
    std::string cursor;
    {
      std::lock_guard<std::mutex> lock{mx};
      cursor = st.cursor;
      ++st.polls;
    }
    auto page = std::make_shared<cms_page>();
    auto* h = hook.get();
    std::string why;
    auto s = guard->call_and_wait([h, cursor, page] { return h->poll(cursor, *page); }, &why);
    if (s != call_status::ok) {
      spdlog::debug("cms poll: {} ({})", to_string(s), why);
      return false;
    }
    for (auto& item : page->items) {
      auto r = apply(item);
      if (r == apply_result::try_later) {
        return false; // the cursor stays: the page comes again
      }
      std::lock_guard<std::mutex> lock{mx};
      if (r == apply_result::applied) {
        ++st.applied;
        applied_c->inc();
      } else {
        ++st.rejected;
        rejected_c->inc();
        spdlog::warn("cms: item {} rejected", item.id());
      }
    }
    if (page->next_cursor.empty() || page->next_cursor == cursor) {
      return false;
    }
    {
      std::lock_guard<std::mutex> lock{mx};
      st.cursor = page->next_cursor;
    }
    write_cursor(settings.cursor_file, page->next_cursor);
    return !page->items.empty();
  }

  void run() {
    std::unique_lock<std::mutex> lock{mx};
    while (!stopping) {
      poke = false;
      lock.unlock();
      bool more = active() && poll_once();
      lock.lock();
      if (!more && !stopping && !poke) {
        cv.wait_for(lock, settings.poll, [this] { return stopping || poke; });
      }
    }
  }
};

cms_ingest::cms_ingest(std::shared_ptr<cms_hook> hook, apply_fn apply, std::function<bool()> active,
                       cms_settings s, metrics::registry* metrics)
    : impl_(std::make_unique<impl>(std::move(hook), std::move(apply), std::move(active),
                                   std::move(s), metrics)) {
  impl_->start([this] { impl_->run(); });
}

cms_ingest::~cms_ingest() {
  impl_->stop();
}

void cms_ingest::poll_now() {
  {
    std::lock_guard<std::mutex> lock{impl_->mx};
    impl_->poke = true;
  }
  impl_->cv.notify_all();
}

cms_ingest::stats cms_ingest::snapshot() const {
  std::lock_guard<std::mutex> lock{impl_->mx};
  return impl_->st;
}

hook_guard& cms_ingest::guard() noexcept {
  return *impl_->guard;
}

} // namespace sv::integrations
