// The soak driver's two ways to its viewers' sessions (session_port.hpp): the edge client,
// and the player API over HTTP with libcurl's multi interface on one thread.

#include "soak/session_port.hpp"

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <curl/curl.h>
#include <google/protobuf/util/json_util.h>

#include "actors/api/api.pb.h"
#include "actors/api/auth.hpp"
#include "actors/session/session_errc.hpp"
#include "runtime/util/clock.hpp"
#include "runtime/wire/errc.hpp"

namespace sv::soak {

namespace {

// --- the edge client ------------------------------------------------------------------

class edge final : public session_port {
public:
  explicit edge(session::edge_client& c) : c_(c) {}
  void open(session::open_request r, uint64_t cookie, uint32_t node) override {
    c_.open(std::move(r), cookie, node);
  }
  void heartbeat(session::heartbeat_report h, uint64_t cookie) override {
    c_.heartbeat(h, cookie);
  }
  void command(session::command c, uint64_t cookie) override {
    c_.command(c, cookie);
  }
  bool connected(uint32_t i) const override {
    return c_.connected(i);
  }
  void node_up(uint32_t i) override {
    c_.node_up(i);
  }
  std::string json_members() const override {
    auto st = c_.stats();
    return "\"protocol\":\"edge\",\"edge_batches\":" + std::to_string(st.batches);
  }

private:
  session::edge_client& c_;
};

// --- the player API -------------------------------------------------------------------

namespace v1 = streamverse::v1;
using steady = std::chrono::steady_clock;

struct item {
  session::item_kind kind = session::item_kind::heartbeat;
  uint64_t cookie = 0;
  steady::time_point t0;
  uint32_t node = 0;
  session::open_request open;
  session::heartbeat_report hb;
  session::command cmd;
  std::string token; // an open's: the viewer's token, kept for the session's later requests

  uint64_t session_id() const {
    return kind == session::item_kind::open        ? open.session_id
           : kind == session::item_kind::heartbeat ? hb.session_id
                                                   : cmd.session_id;
  }
};

// A session this client opened: the API's id for it, its user (and that user's token), and
// the node that holds it.
struct known_session {
  std::string handle;
  std::string user;
  std::string token;
  uint32_t node = 0;
};

struct transfer {
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string body;
  std::string response;
  std::vector<item> items; // empty: a health probe
  uint32_t node = 0;

  ~transfer() {
    if (easy != nullptr) {
      curl_easy_cleanup(easy);
    }
    curl_slist_free_all(headers);
  }
};

size_t take_body(char* data, size_t size, size_t n, void* to) {
  static_cast<std::string*>(to)->append(data, size * n);
  return size * n;
}

std::string to_json(const google::protobuf::Message& m) {
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(m, &out);
  return out;
}

bool from_json(const std::string& text, google::protobuf::Message& m) {
  google::protobuf::util::JsonParseOptions o;
  o.ignore_unknown_fields = true; // a problem body has type and title too
  return google::protobuf::util::JsonStringToMessage(text, &m, o).ok();
}

// What an API refusal means to the driver, as the edge client would have said it.
caf::error error_of(long status, const std::string& code, const std::string& detail) {
  if (code == "overloaded" || status == 429) {
    return make_error(errc::overloaded, detail);
  }
  if (code == "unknown_session") {
    return make_error(session::session_errc::unknown_session, detail);
  }
  if (code == "session_closed") {
    return make_error(session::session_errc::session_closed, detail);
  }
  if (code == "unavailable" || status == 502 || status == 503 || status == 504) {
    return make_error(errc::unavailable, detail);
  }
  return make_error(errc::invalid_argument,
                    "HTTP " + std::to_string(status) + " " + code + ": " + detail);
}

class http final : public session_port {
public:
  http(http_port_settings s, session::edge_client::sink sink)
      : s_(std::move(s)), sink_(std::move(sink)), keys_(s_.token_key),
        up_(std::make_unique<std::atomic<bool>[]>(s_.nodes.size())),
        poke_(std::make_unique<std::atomic<bool>[]>(s_.nodes.size())), batches_(s_.nodes.size()),
        batch_since_(s_.nodes.size(), steady::now()), next_probe_(s_.nodes.size(), steady::now()),
        probing_(s_.nodes.size(), false) {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    multi_ = curl_multi_init();
    if (multi_ == nullptr) {
      throw std::runtime_error{"soak: curl_multi_init failed"};
    }
    curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, s_.connections_per_node);
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS,
                      s_.connections_per_node * static_cast<long>(s_.nodes.size()));
    ops_token_ = keys_.mint({"soak-edge", static_cast<uint8_t>(api::scope::ops),
                             sv::clock::wall_ms() / 1000 + 7 * 86'400});
    worker_ = std::thread{[this] {
      run();
    }};
  }

  ~http() override {
    {
      std::lock_guard<std::mutex> g{mtx_};
      stopping_ = true;
    }
    curl_multi_wakeup(multi_);
    worker_.join();
    curl_multi_cleanup(multi_);
  }

  void open(session::open_request r, uint64_t cookie, uint32_t node) override {
    item i;
    i.kind = session::item_kind::open;
    i.open = std::move(r);
    i.node = node;
    push(std::move(i), cookie);
  }

  void heartbeat(session::heartbeat_report h, uint64_t cookie) override {
    item i;
    i.kind = session::item_kind::heartbeat;
    i.hb = h;
    push(std::move(i), cookie);
  }

  void command(session::command c, uint64_t cookie) override {
    item i;
    i.kind = session::item_kind::command;
    i.cmd = c;
    push(std::move(i), cookie);
  }

  bool connected(uint32_t i) const override {
    return i < s_.nodes.size() && up_[i].load();
  }

  void node_up(uint32_t i) override {
    if (i < s_.nodes.size()) {
      poke_[i] = true;
      curl_multi_wakeup(multi_);
    }
  }

  std::string json_members() const override {
    return "\"protocol\":\"http\",\"http_requests\":" + std::to_string(requests_.load())
           + ",\"http_transport_errors\":" + std::to_string(transport_errors_.load());
  }

private:
  void push(item i, uint64_t cookie) {
    i.cookie = cookie;
    i.t0 = steady::now();
    {
      std::lock_guard<std::mutex> g{mtx_};
      queue_.push_back(std::move(i));
    }
    curl_multi_wakeup(multi_);
  }

  void answer(const item& i, caf::error err, int32_t node) {
    session::edge_result r;
    r.cookie = i.cookie;
    r.session_id = i.session_id();
    r.kind = i.kind;
    r.node = node;
    r.error = std::move(err);
    r.latency = steady::now() - i.t0;
    out_.push_back(std::move(r));
  }

  long budget_ms(const std::vector<item>& items) const {
    auto oldest = items.front().t0;
    for (auto& i : items) {
      oldest = std::min(oldest, i.t0);
    }
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(oldest + s_.deadline - steady::now());
    return std::max<long>(1, static_cast<long>(left.count()));
  }

  // Starts a request to node `node`'s API.
  void send(uint32_t node, const char* method, const std::string& path, const std::string& token,
            std::string body, std::vector<item> items) {
    auto t = std::make_unique<transfer>();
    if (!items.empty()) {
      ++requests_; // probes not counted
    }
    t->node = node;
    t->items = std::move(items);
    t->body = std::move(body);
    t->easy = curl_easy_init();
    auto url = s_.nodes[node] + path;
    curl_easy_setopt(t->easy, CURLOPT_URL, url.c_str());
    curl_easy_setopt(t->easy, CURLOPT_CUSTOMREQUEST, method);
    if (!token.empty()) {
      t->headers = curl_slist_append(t->headers, ("Authorization: Bearer " + token).c_str());
    }
    if (!t->body.empty()) {
      t->headers = curl_slist_append(t->headers, "Content-Type: application/json");
      curl_easy_setopt(t->easy, CURLOPT_POSTFIELDS, t->body.c_str());
      curl_easy_setopt(t->easy, CURLOPT_POSTFIELDSIZE, static_cast<long>(t->body.size()));
    }
    t->headers = curl_slist_append(t->headers, "Expect:"); // no 100-continue round trip
    curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, take_body);
    curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, &t->response);
    curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, t->items.empty() ? 1000L : budget_ms(t->items));
    curl_easy_setopt(t->easy, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
    curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t.get());
    curl_multi_add_handle(multi_, t->easy);
    live_.insert(t.release()); // owned here until done()
  }

  void dispatch(item i) {
    if (i.kind == session::item_kind::open) {
      auto node = i.node < s_.nodes.size() ? i.node : 0;
      v1::api::OpenSession body;
      body.set_title(i.open.content);
      body.set_device(i.open.device);
      body.set_region(i.open.region);
      body.set_tier(i.open.subscription);
      i.token = keys_.mint({i.open.user, static_cast<uint8_t>(api::scope::viewer),
                            sv::clock::wall_ms() / 1000 + 7 * 86'400});
      auto token = i.token;
      std::vector<item> items;
      items.push_back(std::move(i));
      send(node, "POST", "/v1/sessions", token, to_json(body), std::move(items));
      return;
    }
    auto k = sessions_.find(i.session_id());
    if (k == sessions_.end()) {
      answer(i,
             make_error(session::session_errc::unknown_session, "not opened through this client"),
             -1);
      return;
    }
    auto node = k->second.node;
    if (i.kind == session::item_kind::heartbeat) {
      auto& b = batches_[node];
      if (b.empty()) {
        batch_since_[node] = steady::now();
      }
      b.push_back(std::move(i));
      if (b.size() >= s_.max_batch) {
        flush(node);
      }
      return;
    }
    // A command: a close is DELETE, the rest POST .../commands.
    auto path = "/v1/sessions/" + k->second.handle;
    auto token = k->second.token;
    std::vector<item> items;
    auto kind = i.cmd.kind;
    auto value = i.cmd.value;
    items.push_back(std::move(i));
    if (kind == session::command_kind::close) {
      sessions_.erase(k);
      send(node, "DELETE", path, token, {}, std::move(items));
      return;
    }
    v1::api::SessionCommand body;
    switch (kind) {
    case session::command_kind::pause:
      body.set_action("pause");
      break;
    case session::command_kind::resume:
      body.set_action("resume");
      break;
    case session::command_kind::seek:
      body.set_action("seek");
      body.set_position_ms(value);
      break;
    default:
      body.set_action("quality");
      body.set_bitrate_kbps(value);
    }
    send(node, "POST", path + "/commands", token, to_json(body), std::move(items));
  }

  void flush(uint32_t node) {
    auto items = std::move(batches_[node]);
    batches_[node].clear();
    if (items.empty()) {
      return;
    }
    v1::api::HeartbeatBatch body;
    std::vector<item> sent;
    for (auto& i : items) {
      auto k = sessions_.find(i.hb.session_id);
      if (k == sessions_.end()) { // closed meanwhile
        answer(i, make_error(session::session_errc::unknown_session, "closed"), -1);
        continue;
      }
      auto& h = *body.add_heartbeats();
      h.set_session_id(k->second.handle);
      h.set_user(k->second.user);
      h.set_position_ms(i.hb.position_ms);
      h.set_bitrate_kbps(i.hb.bitrate_kbps);
      h.set_buffer_ms(i.hb.buffer_ms);
      h.set_dropped_frames(i.hb.dropped_frames);
      sent.push_back(std::move(i));
    }
    if (!sent.empty()) {
      send(node, "POST", "/v1/heartbeats", ops_token_, to_json(body), std::move(sent));
    }
  }

  // A request is over: each of its items answered.
  void done(transfer& t, CURLcode rc) {
    auto node = static_cast<int32_t>(t.node);
    if (t.items.empty()) { // a probe
      probing_[t.node] = false;
      long status = 0;
      curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &status);
      up_[t.node] = rc == CURLE_OK && status == 200;
      return;
    }
    if (rc != CURLE_OK) {
      ++transport_errors_;
      if (rc == CURLE_COULDNT_CONNECT) {
        up_[t.node] = false; // probed until it answers
      }
      for (auto& i : t.items) {
        if (i.kind == session::item_kind::open) {
          sessions_.erase(i.open.session_id);
        }
        answer(i, make_error(errc::unavailable, s_.nodes[t.node] + ": " + curl_easy_strerror(rc)),
               node);
      }
      return;
    }
    long status = 0;
    curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &status);
    auto refusal = [&] {
      v1::api::ItemResult p; // a problem body has status, code and detail
      (void)from_json(t.response, p);
      return error_of(status, p.code(), p.detail());
    };
    auto& first = t.items.front();
    if (first.kind == session::item_kind::open) {
      v1::api::SessionOpened o;
      if (status == 201 && from_json(t.response, o) && !o.session_id().empty()) {
        known_session k;
        k.handle = o.session_id();
        k.user = first.open.user;
        k.node = t.node;
        k.token = first.token;
        sessions_[first.open.session_id] = std::move(k);
        answer(first, caf::error{}, node);
      } else {
        answer(first,
               status == 201 ? make_error(errc::invalid_argument, "no session_id") : refusal(),
               node);
      }
      return;
    }
    if (first.kind == session::item_kind::command) {
      answer(first, status == 200 ? caf::error{} : refusal(), node);
      return;
    }
    v1::api::BatchResults r;
    if (status != 200) {
      auto err = refusal();
      for (auto& i : t.items) {
        answer(i, err, node);
      }
      return;
    }
    if (!from_json(t.response, r) || r.results_size() != static_cast<int>(t.items.size())) {
      for (auto& i : t.items) {
        answer(i, make_error(errc::invalid_argument, "a batch answer without a result per item"),
               node);
      }
      return;
    }
    for (size_t k = 0; k < t.items.size(); ++k) {
      auto& res = r.results(static_cast<int>(k));
      answer(t.items[k], res.ok() ? caf::error{} : error_of(res.status(), res.code(), res.detail()),
             node);
    }
  }

  void probe(uint32_t node) {
    probing_[node] = true;
    next_probe_[node] = steady::now() + std::chrono::milliseconds{250};
    send(node, "GET", "/healthz", {}, {}, {});
  }

  void run() {
    std::vector<item> taken;
    for (;;) {
      int ready = 0;
      curl_multi_poll(multi_, nullptr, 0, 1, &ready);
      bool stop = false;
      {
        std::lock_guard<std::mutex> g{mtx_};
        taken.swap(queue_);
        stop = stopping_;
      }
      if (stop) {
        break;
      }
      for (auto& i : taken) {
        dispatch(std::move(i));
      }
      taken.clear();
      auto now = steady::now();
      for (uint32_t n = 0; n < s_.nodes.size(); ++n) {
        if (!batches_[n].empty() && now - batch_since_[n] >= s_.linger) {
          flush(n);
        }
        if (poke_[n].exchange(false)) {
          next_probe_[n] = now;
        }
        if (!up_[n].load() && !probing_[n] && now >= next_probe_[n]) {
          probe(n);
        }
      }
      int running = 0;
      curl_multi_perform(multi_, &running);
      int left = 0;
      while (auto* m = curl_multi_info_read(multi_, &left)) {
        if (m->msg != CURLMSG_DONE) {
          continue;
        }
        transfer* t = nullptr;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &t);
        auto rc = m->data.result;
        curl_multi_remove_handle(multi_, m->easy_handle);
        live_.erase(t);
        std::unique_ptr<transfer> owned{t};
        done(*owned, rc);
      }
      deliver();
    }
    // Stopped: whatever is still pending is answered unavailable.
    auto gone = make_error(errc::unavailable, "soak HTTP client stopped");
    for (auto* t : std::vector<transfer*>(live_.begin(), live_.end())) {
      live_.erase(t);
      curl_multi_remove_handle(multi_, t->easy);
      std::unique_ptr<transfer> owned{t};
      for (auto& i : owned->items) {
        answer(i, gone, static_cast<int32_t>(owned->node));
      }
    }
    for (auto& b : batches_) {
      for (auto& i : b) {
        answer(i, gone, -1);
      }
    }
    std::lock_guard<std::mutex> g{mtx_};
    for (auto& i : queue_) {
      answer(i, gone, -1);
    }
    deliver();
  }

  void deliver() {
    if (!out_.empty()) {
      sink_(out_);
      out_.clear();
    }
  }

  http_port_settings s_;
  session::edge_client::sink sink_;
  api::token_keys keys_;
  std::string ops_token_;
  std::unique_ptr<std::atomic<bool>[]> up_;
  std::unique_ptr<std::atomic<bool>[]> poke_;
  CURLM* multi_ = nullptr;
  std::mutex mtx_;
  std::vector<item> queue_;
  bool stopping_ = false;
  std::atomic<uint64_t> requests_{0}, transport_errors_{0};
  // The worker thread's own.
  std::unordered_map<uint64_t, known_session> sessions_;
  std::vector<std::vector<item>> batches_;
  std::vector<steady::time_point> batch_since_;
  std::vector<steady::time_point> next_probe_;
  std::vector<bool> probing_;
  std::vector<session::edge_result> out_;
  std::unordered_set<transfer*> live_; // requests under way
  std::thread worker_;
};

} // namespace

std::unique_ptr<session_port> edge_port(session::edge_client& client) {
  return std::make_unique<edge>(client);
}

std::unique_ptr<session_port> http_port(http_port_settings s, session::edge_client::sink sink) {
  return std::make_unique<http>(std::move(s), std::move(sink));
}

} // namespace sv::soak
