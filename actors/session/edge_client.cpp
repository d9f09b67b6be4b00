#include "actors/session/edge_client.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <future>
#include <limits>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

#include "actors/session/session_errc.hpp"
#include "actors/session/session_gateway.hpp"
#include "actors/session/session_host.hpp"
#include "actors/session/session_protocol.hpp"
#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"
#include "runtime/util/clock.hpp"
#include "runtime/wire/errc.hpp"
#include "runtime/wire/undecodable.hpp"

namespace sv::session {

namespace {

using send_atom = caf::atom_constant<caf::atom("sv_esend")>;
using tick_atom = caf::atom_constant<caf::atom("sv_etick")>;
using connected_atom = caf::atom_constant<caf::atom("sv_econn")>;
using retry_atom = caf::atom_constant<caf::atom("sv_eretry")>;
using lost_atom = caf::atom_constant<caf::atom("sv_elost")>;

constexpr uint64_t internal_cookie = uint64_t{1} << 63;

int64_t now_ns() {
  return sv::clock::steady_ns();
}

struct item_meta {
  uint64_t cookie = 0;
  uint64_t session = 0;
  int64_t t0_ns = 0;
  int64_t deadline_ns = 0;
  uint32_t attempts = 1;
};

// Items for one node, in the order their results come back: opens, heartbeats, commands.
struct staged {
  uint32_t node = 0;
  edge_batch batch;
  std::vector<item_meta> opens, heartbeats, commands;

  size_t size() const noexcept {
    return batch.size();
  }
};

// A refused item on its way back in, after the node's hint.
struct retry_item {
  item_kind kind = item_kind::open;
  item_meta meta;
  open_request open;
  command cmd;
};

} // namespace

} // namespace sv::session

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(sv::session::staged)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(sv::session::retry_item)

namespace sv::session {

namespace {

// Accepts and requests per node over the last two seconds (local throttling).
struct node_health {
  std::atomic<bool> connected{false};
  int64_t bucket_s[2] = {-1, -1};
  double requests[2] = {0, 0};
  double accepts[2] = {0, 0};

  void roll(int64_t now_s) {
    auto i = static_cast<size_t>(now_s & 1);
    if (bucket_s[i] != now_s) {
      bucket_s[i] = now_s;
      requests[i] = 0;
      accepts[i] = 0;
    }
  }
  double reject_probability(int64_t now_s, double k) {
    roll(now_s);
    auto fresh = [&](size_t i) {
      return bucket_s[i] >= now_s - 1;
    };
    double req = 0;
    double acc = 0;
    for (size_t i = 0; i < 2; ++i) {
      if (fresh(i)) {
        req += requests[i];
        acc += accepts[i];
      }
    }
    return std::max(0.0, (req - k * acc) / (req + 1));
  }
};

item_result refusal_here(const std::string& why, uint32_t retry_ms) {
  item_result r;
  r.code = static_cast<uint8_t>(errc::overloaded);
  r.retry_after_ms = retry_ms;
  r.detail = why;
  return r;
}

item_result unreachable(const std::string& why) {
  item_result r;
  r.code = static_cast<uint8_t>(errc::unavailable);
  r.detail = why;
  return r;
}

} // namespace

struct edge_client::shared {
  caf::actor_system& sys;
  edge_settings cfg;
  sink on_results;

  mutable std::mutex mtx; // everything below up to `actor`
  // The batches being filled, `lanes` per node (index node * lanes + lane_of(kind)):
  // commands travel in batches of their own. A batch is answered as a whole, and a close
  // is answered only once its last position is held by two nodes (a round trip to another
  // node), so a close in a batch of heartbeats held back all of their answers (while many
  // viewers left at once, the critical p99 of the demo's after-release phase).
  static constexpr uint32_t lanes = 2;
  static uint32_t lane_of(item_kind k) noexcept {
    return k == item_kind::command ? 1 : 0;
  }
  std::vector<staged> staging;
  std::unordered_map<uint64_t, uint32_t> where; // session -> node
  uint32_t next_node = 0;
  std::vector<std::unique_ptr<node_health>> health;
  std::minstd_rand rng{12345};
  caf::actor actor;

  std::atomic<uint64_t> in_flight{0};
  std::atomic<uint64_t> accepted{0}, batches{0}, ok{0}, overloaded{0}, refused_here{0},
      unavailable{0}, other_errors{0}, retries{0};

  std::mutex wait_mtx;
  uint64_t next_wait = 0;
  std::unordered_map<uint64_t, std::promise<edge_result>> waiters;

  // The connector thread: (re)connects lost nodes with backoff.
  std::mutex conn_mtx;
  std::condition_variable conn_cv;
  bool stopping = false;
  std::vector<bool> wanted;
  std::vector<int64_t> next_try_ns;
  std::vector<int64_t> backoff_ns;
  std::thread connector;

  shared(caf::actor_system& s, edge_settings c, sink f)
      : sys(s), cfg(std::move(c)), on_results(std::move(f)) {
    staging.resize(cfg.nodes.size() * lanes);
    for (uint32_t i = 0; i < staging.size(); ++i) {
      staging[i].node = i / lanes;
    }
    for (uint32_t i = 0; i < cfg.nodes.size(); ++i) {
      health.push_back(std::make_unique<node_health>());
    }
    wanted.assign(cfg.nodes.size(), true);
    next_try_ns.assign(cfg.nodes.size(), 0);
    backoff_ns.assign(cfg.nodes.size(), std::chrono::nanoseconds{cfg.reconnect_backoff}.count());
  }

  // Results to the sink, or to the blocking callers waiting for them.
  void deliver(std::vector<edge_result>& rs) {
    if (rs.empty()) {
      return;
    }
    in_flight.fetch_sub(rs.size(), std::memory_order_relaxed);
    for (auto& r : rs) {
      if (!r.error) {
        ok.fetch_add(1, std::memory_order_relaxed);
      } else if (is(r.error, errc::overloaded)) {
        overloaded.fetch_add(1, std::memory_order_relaxed);
      } else if (is(r.error, errc::unavailable)) {
        unavailable.fetch_add(1, std::memory_order_relaxed);
      } else {
        other_errors.fetch_add(1, std::memory_order_relaxed);
      }
    }
    auto internal = std::any_of(rs.begin(), rs.end(), [](const edge_result& r) {
      return (r.cookie & internal_cookie) != 0;
    });
    if (!internal) {
      if (on_results) {
        on_results(rs);
      }
      return;
    }
    std::vector<edge_result> rest;
    for (auto& r : rs) {
      if ((r.cookie & internal_cookie) == 0) {
        rest.push_back(std::move(r));
        continue;
      }
      std::lock_guard<std::mutex> guard{wait_mtx};
      if (auto i = waiters.find(r.cookie); i != waiters.end()) {
        i->second.set_value(std::move(r));
        waiters.erase(i);
      } else {
        rest.push_back(std::move(r)); // the caller's own, despite the reserved bit
      }
    }
    if (!rest.empty() && on_results) {
      on_results(rest);
    }
  }

  edge_result result_of(item_kind kind, const item_meta& m, int32_t node, const item_result& r,
                        int64_t now) {
    edge_result out;
    out.cookie = m.cookie;
    out.session_id = m.session;
    out.kind = kind;
    out.node = node;
    out.error = to_error(r);
    out.latency = std::chrono::nanoseconds{now - m.t0_ns};
    return out;
  }

  // Why an open found no node.
  std::string no_node_reason() const {
    if (cfg.regions.empty()) {
      return "no node of the cluster is reachable";
    }
    std::string rs;
    for (auto& r : cfg.regions) {
      rs += (rs.empty() ? "" : ", ") + r;
    }
    return "no node of the preferred regions (" + rs + ") is reachable";
  }

  // The node for an open: `want` if connected, else the next connected one, of the first
  // preferred region that has one (mtx held).
  std::optional<uint32_t> pick(std::optional<uint32_t> want) {
    auto n = static_cast<uint32_t>(cfg.nodes.size());
    if (want && *want < n && health[*want]->connected.load()) {
      return want;
    }
    auto next_in = [&](const std::string* region) -> std::optional<uint32_t> {
      for (uint32_t k = 0; k < n; ++k) {
        auto i = (next_node + k) % n;
        if (health[i]->connected.load() && (region == nullptr || cfg.nodes[i].region == *region)) {
          next_node = (i + 1) % n;
          return i;
        }
      }
      return std::nullopt;
    };
    if (cfg.regions.empty()) {
      return next_in(nullptr);
    }
    for (auto& r : cfg.regions) {
      if (auto i = next_in(&r)) {
        return i;
      }
    }
    return std::nullopt;
  }

  // Takes one item in (mtx held): its refusal, or nothing and maybe a full batch to send.
  template <class Add>
  std::optional<item_result> stage(uint32_t node, item_kind kind, bool first_attempt, Add add,
                                   std::optional<staged>& full) {
    auto& h = *health[node];
    auto now_s = now_ns() / 1'000'000'000;
    if (!h.connected.load()) {
      return unreachable(cfg.nodes[node].name
                         + " is unreachable: open the session again (another node takes it)");
    }
    if (first_attempt && cfg.throttle_k > 0) {
      // Requests count when answered (below, or by the node); accepts when the node took
      // them: a burst in flight is no evidence either way.
      auto p = h.reject_probability(now_s, cfg.throttle_k);
      if (p > 0 && std::uniform_real_distribution<double>{0, 1}(rng) < p) {
        h.requests[now_s & 1] += 1;
        refused_here.fetch_add(1, std::memory_order_relaxed);
        return refusal_here("edge client: " + cfg.nodes[node].name
                                + " refuses most requests now (throttled here)",
                            250);
      }
    }
    auto& s = staging[node * lanes + lane_of(kind)];
    add(s);
    if (s.size() >= cfg.max_batch) {
      full = std::move(s);
      s = staged{};
      s.node = node;
    }
    return std::nullopt;
  }

  // Common entry of open/heartbeat/command from a caller's thread.
  template <class Choose, class Add>
  void submit(item_kind kind, uint64_t cookie, uint64_t session, Choose choose, Add add) {
    auto t0 = now_ns();
    item_meta m{cookie, session, t0, t0 + std::chrono::nanoseconds{cfg.deadline}.count(), 1};
    accepted.fetch_add(1, std::memory_order_relaxed);
    in_flight.fetch_add(1, std::memory_order_relaxed);
    std::optional<item_result> refused;
    std::optional<staged> full;
    int32_t node = -1;
    {
      std::lock_guard<std::mutex> guard{mtx};
      if (in_flight.load(std::memory_order_relaxed) > cfg.max_in_flight) {
        refused_here.fetch_add(1, std::memory_order_relaxed);
        refused = refusal_here(
            "edge client: " + std::to_string(cfg.max_in_flight) + " items in flight", 50);
      } else if (auto n = choose(refused); n) {
        node = static_cast<int32_t>(*n);
        refused = stage(
            *n, kind, true, [&](staged& s) { add(s, m); }, full);
      }
    }
    if (refused) {
      std::vector<edge_result> rs{result_of(kind, m, node, *refused, now_ns())};
      deliver(rs);
    }
    if (full) {
      caf::anon_send(actor, send_atom::value, std::move(*full));
    }
  }

  // -- the connector -------------------------------------------------------------------

  void want_connect(uint32_t node) {
    {
      std::lock_guard<std::mutex> guard{conn_mtx};
      wanted[node] = true;
    }
    conn_cv.notify_all();
  }

  // A node known to be up: its next attempt now, with a fresh backoff (when wanted).
  void try_now(uint32_t node) {
    {
      std::lock_guard<std::mutex> guard{conn_mtx};
      if (node >= wanted.size() || !wanted[node]) {
        return;
      }
      next_try_ns[node] = 0;
      backoff_ns[node] = std::chrono::nanoseconds{cfg.reconnect_backoff}.count();
    }
    conn_cv.notify_all();
  }

  void run_connector() {
    std::unique_lock<std::mutex> lock{conn_mtx};
    while (!stopping) {
      auto now = now_ns();
      int64_t next = now + 1'000'000'000;
      std::vector<uint32_t> due;
      for (uint32_t i = 0; i < wanted.size(); ++i) {
        if (!wanted[i]) {
          continue;
        }
        if (next_try_ns[i] <= now) {
          due.push_back(i);
        } else {
          next = std::min(next, next_try_ns[i]);
        }
      }
      if (due.empty()) {
        conn_cv.wait_for(lock, std::chrono::nanoseconds{std::max<int64_t>(1'000'000, next - now)});
        continue;
      }
      lock.unlock();
      for (auto i : due) {
        auto ok = try_connect(i);
        std::lock_guard<std::mutex> guard{conn_mtx};
        if (ok) {
          wanted[i] = false;
          backoff_ns[i] = std::chrono::nanoseconds{cfg.reconnect_backoff}.count();
        } else {
          next_try_ns[i] = now_ns() + backoff_ns[i];
          backoff_ns[i] = std::min<int64_t>(backoff_ns[i] * 2, 5'000'000'000);
        }
        if (stopping) {
          break;
        }
      }
      lock.lock();
    }
  }

  bool try_connect(uint32_t i) {
    auto& n = cfg.nodes[i];
    auto gw = connect_gateway(sys, n.host, n.port, cfg.connect_timeout);
    if (!gw) {
      return false;
    }
    std::vector<caf::actor> all;
    caf::scoped_actor self{sys};
    bool ok = false;
    self->request(*gw, caf::duration{cfg.connect_timeout}, caf::get_atom::value,
                  gateways_atom::value)
        .receive(
            [&](std::vector<caf::actor>& xs) {
              all = std::move(xs);
              ok = !all.empty();
            },
            [&](caf::error&) {});
    if (!ok) {
      return false;
    }
    caf::anon_send(actor, connected_atom::value, i, std::move(all));
    return true;
  }
};

namespace {

struct inflight_batch {
  uint32_t node = 0;
  std::vector<item_meta> opens, heartbeats, commands;
  // Copies for retries (heartbeats are never retried).
  std::vector<open_request> open_items;
  std::vector<command> command_items;
};

struct client_state {
  std::shared_ptr<edge_client::shared> sh;
  std::vector<std::vector<caf::actor>> gateways; // per node
  std::vector<size_t> next_gateway;
  uint64_t next_batch = 0;
  std::unordered_map<uint64_t, inflight_batch> inflight;
  double retry_tokens = 10;

  static inline const char* name = "sv.session.edge_client";
};

using client_actor = caf::stateful_actor<client_state>;

// Answers every item of `b` with `r` (and forgets nothing else).
void fail_all(client_actor* self, uint32_t node, std::vector<item_meta>& opens,
              std::vector<item_meta>& heartbeats, std::vector<item_meta>& commands,
              const item_result& r) {
  auto& sh = *self->state.sh;
  auto now = now_ns();
  std::vector<edge_result> rs;
  rs.reserve(opens.size() + heartbeats.size() + commands.size());
  auto n = static_cast<int32_t>(node);
  for (auto& m : opens) {
    rs.push_back(sh.result_of(item_kind::open, m, n, r, now));
  }
  for (auto& m : heartbeats) {
    rs.push_back(sh.result_of(item_kind::heartbeat, m, n, r, now));
  }
  for (auto& m : commands) {
    rs.push_back(sh.result_of(item_kind::command, m, n, r, now));
  }
  sh.deliver(rs);
}

// The node's connection is gone: everything on the way there is answered now.
void node_lost(client_actor* self, uint32_t node, const std::string& why) {
  auto& st = self->state;
  auto& sh = *st.sh;
  sh.health[node]->connected = false;
  st.gateways[node].clear();
  auto r = unreachable(sh.cfg.nodes[node].name + " is unreachable (" + why
                       + "): open the session again (another node takes it)");
  for (auto i = st.inflight.begin(); i != st.inflight.end();) {
    if (i->second.node == node) {
      fail_all(self, node, i->second.opens, i->second.heartbeats, i->second.commands, r);
      i = st.inflight.erase(i);
    } else {
      ++i;
    }
  }
  std::vector<staged> left;
  {
    std::lock_guard<std::mutex> guard{sh.mtx};
    for (uint32_t lane = 0; lane < sh.lanes; ++lane) {
      auto& s = sh.staging[node * sh.lanes + lane];
      left.push_back(std::move(s));
      s = staged{};
      s.node = node;
    }
  }
  for (auto& s : left) {
    fail_all(self, node, s.opens, s.heartbeats, s.commands, r);
  }
  sh.want_connect(node);
}

void answered(client_actor* self, uint64_t id, const edge_answer* answer, const caf::error& err);

void send(client_actor* self, staged& s) {
  auto& st = self->state;
  auto& sh = *st.sh;
  if (s.size() == 0) {
    return;
  }
  auto node = s.node;
  if (st.gateways[node].empty()) {
    fail_all(self, node, s.opens, s.heartbeats, s.commands,
             unreachable(sh.cfg.nodes[node].name
                         + " is unreachable: open the session again (another node takes it)"));
    return;
  }
  auto now = now_ns();
  int64_t deadline = std::numeric_limits<int64_t>::max();
  for (auto* ms : {&s.opens, &s.heartbeats, &s.commands}) {
    for (auto& m : *ms) {
      deadline = std::min(deadline, m.deadline_ns);
      if (m.attempts == 1) {
        st.retry_tokens = std::min(st.retry_tokens + sh.cfg.retry_ratio,
                                   std::max(10.0, 1000 * sh.cfg.retry_ratio));
      }
    }
  }
  auto budget_ms = std::max<int64_t>(1, (deadline - now) / 1'000'000);
  s.batch.budget_ms = static_cast<uint32_t>(budget_ms);
  s.batch.sent_at_ms = sv::clock::wall_ms();
  auto& gws = st.gateways[node];
  auto gw = gws[st.next_gateway[node]++ % gws.size()];
  auto id = ++st.next_batch;
  auto& rec = st.inflight[id];
  rec.node = node;
  rec.opens = std::move(s.opens);
  rec.heartbeats = std::move(s.heartbeats);
  rec.commands = std::move(s.commands);
  if (sh.cfg.max_attempts > 1) {
    rec.open_items = s.batch.opens;
  }
  rec.command_items = s.batch.commands; // few; closes also end the session's affinity
  sh.batches.fetch_add(1, std::memory_order_relaxed);
  self->request(gw, caf::duration{std::chrono::milliseconds{budget_ms}}, std::move(s.batch))
      .then([self, id](edge_answer& a) { answered(self, id, &a, caf::none); },
            [self, id](caf::error& e) { answered(self, id, nullptr, e); });
}

// Puts a refused item back in (after its hint), unless its node is gone.
void restage(client_actor* self, retry_item& x) {
  auto& sh = *self->state.sh;
  std::optional<staged> full;
  std::optional<item_result> refused;
  int32_t node = -1;
  {
    std::lock_guard<std::mutex> guard{sh.mtx};
    std::optional<uint32_t> n;
    if (x.kind == item_kind::open) {
      n = sh.pick(std::nullopt);
      if (n) {
        sh.where[x.meta.session] = *n;
      }
    } else if (auto i = sh.where.find(x.meta.session); i != sh.where.end()) {
      n = i->second;
    }
    if (!n) {
      refused = unreachable(sh.no_node_reason());
    } else {
      node = static_cast<int32_t>(*n);
      refused = sh.stage(
          *n, x.kind, false,
          [&](staged& s) {
            if (x.kind == item_kind::open) {
              s.batch.opens.push_back(std::move(x.open));
              s.opens.push_back(x.meta);
            } else {
              s.batch.commands.push_back(x.cmd);
              s.commands.push_back(x.meta);
            }
          },
          full);
    }
  }
  if (refused) {
    std::vector<edge_result> rs{sh.result_of(x.kind, x.meta, node, *refused, now_ns())};
    sh.deliver(rs);
  }
  if (full) {
    send(self, *full);
  }
}

void answered(client_actor* self, uint64_t id, const edge_answer* answer, const caf::error& err) {
  auto& st = self->state;
  auto& sh = *st.sh;
  auto i = st.inflight.find(id);
  if (i == st.inflight.end()) {
    return; // failed when its node was lost
  }
  auto rec = std::move(i->second);
  st.inflight.erase(i);
  auto node = rec.node;
  auto now = now_ns();
  item_result failure;
  if (answer == nullptr) {
    failure = err == caf::sec::request_timeout
                  ? unreachable("no answer from " + sh.cfg.nodes[node].name + " in time")
                  : unreachable(sh.cfg.nodes[node].name + ": " + self->system().render(err));
  }
  std::vector<edge_result> rs;
  rs.reserve(rec.opens.size() + rec.heartbeats.size() + rec.commands.size());
  size_t k = 0;
  double accepts = 0;
  std::vector<uint64_t> closed;
  auto one = [&](item_kind kind, item_meta& m, const open_request* open, const command* cmd) {
    const item_result* r = &failure;
    item_result missing;
    if (answer != nullptr) {
      if (k < answer->results.size()) {
        r = &answer->results[k];
      } else {
        missing = unreachable("the answer of " + sh.cfg.nodes[node].name + " lacks this item");
        r = &missing;
      }
    }
    ++k;
    auto refused = r->code == static_cast<uint8_t>(errc::overloaded);
    if (!refused && answer != nullptr) {
      accepts += 1;
    }
    auto has_copy = (kind == item_kind::open && open != nullptr)
                    || (kind == item_kind::command && cmd != nullptr && sh.cfg.max_attempts > 1);
    if (refused && has_copy && m.attempts < sh.cfg.max_attempts && st.retry_tokens >= 1) {
      auto hint = std::chrono::milliseconds{std::max<uint32_t>(1, r->retry_after_ms)};
      if (now + std::chrono::nanoseconds{hint}.count() < m.deadline_ns - 1'000'000) {
        st.retry_tokens -= 1;
        sh.retries.fetch_add(1, std::memory_order_relaxed);
        retry_item x;
        x.kind = kind;
        x.meta = m;
        ++x.meta.attempts;
        if (open != nullptr) {
          x.open = *open;
        }
        if (cmd != nullptr) {
          x.cmd = *cmd;
        }
        self->delayed_send(self, hint, retry_atom::value, std::move(x));
        return;
      }
    }
    if (kind == item_kind::command && cmd != nullptr && cmd->kind == command_kind::close
        && r->ok()) {
      closed.push_back(m.session);
    }
    rs.push_back(sh.result_of(kind, m, static_cast<int32_t>(node), *r, now));
  };
  for (size_t j = 0; j < rec.opens.size(); ++j) {
    one(item_kind::open, rec.opens[j], j < rec.open_items.size() ? &rec.open_items[j] : nullptr,
        nullptr);
  }
  for (auto& m : rec.heartbeats) {
    one(item_kind::heartbeat, m, nullptr, nullptr);
  }
  for (size_t j = 0; j < rec.commands.size(); ++j) {
    auto* c = j < rec.command_items.size() ? &rec.command_items[j] : nullptr;
    one(item_kind::command, rec.commands[j], nullptr, c);
  }
  {
    std::lock_guard<std::mutex> guard{sh.mtx};
    auto& h = *sh.health[node];
    auto now_s = now / 1'000'000'000;
    h.roll(now_s);
    h.requests[now_s & 1] += static_cast<double>(k);
    h.accepts[now_s & 1] += accepts;
    for (auto s : closed) {
      if (auto j = sh.where.find(s); j != sh.where.end() && j->second == node) {
        sh.where.erase(j);
      }
    }
  }
  sh.deliver(rs);
}

caf::behavior client_behavior(client_actor* self, std::shared_ptr<edge_client::shared> sh) {
  wire::answer_undecodable(self, "edge client"); // never renders what it does not know
  auto& st = self->state;
  st.sh = std::move(sh);
  st.gateways.resize(st.sh->cfg.nodes.size());
  st.next_gateway.resize(st.sh->cfg.nodes.size());
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    for (uint32_t n = 0; n < st.gateways.size(); ++n) {
      for (auto& g : st.gateways[n]) {
        if (g.address() == dm.source) {
          node_lost(self, n, "connection lost");
          return;
        }
      }
    }
  });
  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& st = self->state;
    auto r = unreachable("edge client stopped");
    for (auto& [id, rec] : st.inflight) {
      fail_all(self, rec.node, rec.opens, rec.heartbeats, rec.commands, r);
    }
    st.inflight.clear();
    std::vector<staged> left;
    {
      std::lock_guard<std::mutex> guard{st.sh->mtx};
      left.swap(st.sh->staging);
    }
    for (auto& s : left) {
      fail_all(self, s.node, s.opens, s.heartbeats, s.commands, r);
    }
    self->quit(msg.reason);
  });
  self->send(self, tick_atom::value);
  return {
      [self](send_atom, staged& s) { send(self, s); },
      [self](tick_atom) {
        auto& sh = *self->state.sh;
        std::vector<staged> ready;
        {
          std::lock_guard<std::mutex> guard{sh.mtx};
          for (auto& s : sh.staging) {
            if (s.size() > 0) {
              ready.push_back(std::move(s));
              s = staged{};
              s.node = ready.back().node;
            }
          }
        }
        for (auto& s : ready) {
          send(self, s);
        }
        self->delayed_send(self, sh.cfg.linger, tick_atom::value);
      },
      [self](connected_atom, uint32_t node, std::vector<caf::actor>& gws) {
        auto& st = self->state;
        for (auto& g : gws) {
          self->monitor(g);
        }
        st.gateways[node] = std::move(gws);
        st.sh->health[node]->connected = true;
      },
      [self](retry_atom, retry_item& x) { restage(self, x); },
      [self](lost_atom, uint32_t node) { node_lost(self, node, "reconnect asked for"); },
  };
}

} // namespace

edge_client::edge_client(caf::actor_system& sys, edge_settings settings, sink on_results)
    : shared_(std::make_shared<shared>(sys, std::move(settings), std::move(on_results))) {
  shared_->actor = sys.spawn(client_behavior, shared_);
  shared_->connector = std::thread{[s = shared_.get()] {
    s->run_connector();
  }};
}

edge_client::~edge_client() {
  {
    std::lock_guard<std::mutex> guard{shared_->conn_mtx};
    shared_->stopping = true;
  }
  shared_->conn_cv.notify_all();
  shared_->connector.join();
  caf::scoped_actor self{shared_->sys};
  self->send_exit(shared_->actor, caf::exit_reason::user_shutdown);
  self->wait_for(shared_->actor);
}

size_t edge_client::wait_connected(std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    size_t n = 0;
    for (auto& h : shared_->health) {
      n += h->connected.load() ? 1 : 0;
    }
    if (n == shared_->health.size() || std::chrono::steady_clock::now() >= end) {
      return n;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
}

void edge_client::open(open_request r, uint64_t cookie, std::optional<uint32_t> node) {
  auto& sh = *shared_;
  auto session = r.session_id;
  sh.submit(
      item_kind::open, cookie, session,
      [&](std::optional<item_result>& refused) -> std::optional<uint32_t> {
        auto n = sh.pick(node);
        if (!n) {
          refused = unreachable(sh.no_node_reason());
          return std::nullopt;
        }
        sh.where[session] = *n;
        return n;
      },
      [&](staged& s, const item_meta& m) {
        s.batch.opens.push_back(std::move(r));
        s.opens.push_back(m);
      });
}

namespace {

// The node of a known session, or `given` (mtx held); else the refusal.
template <class Shared>
std::optional<uint32_t> node_for(Shared& sh, uint64_t session, std::optional<uint32_t> given,
                                 std::optional<item_result>& refused) {
  if (given) {
    if (*given < sh.cfg.nodes.size()) {
      return given;
    }
    refused = item_result{static_cast<uint8_t>(errc::invalid_argument), 0,
                          "no node " + std::to_string(*given) + " in this client"};
    return std::nullopt;
  }
  if (auto i = sh.where.find(session); i != sh.where.end()) {
    return i->second;
  }
  refused =
      item_result{static_cast<uint8_t>(session_errc::unknown_session), 0,
                  "session " + std::to_string(session) + " was not opened through this client",
                  error_domain<session_errc>::category};
  return std::nullopt;
}

} // namespace

void edge_client::heartbeat(heartbeat_report h, uint64_t cookie, std::optional<uint32_t> node) {
  auto& sh = *shared_;
  auto session = h.session_id;
  sh.submit(
      item_kind::heartbeat, cookie, session,
      [&](std::optional<item_result>& refused) { return node_for(sh, session, node, refused); },
      [&](staged& s, const item_meta& m) {
        s.batch.heartbeats.push_back(h);
        s.heartbeats.push_back(m);
      });
}

void edge_client::command(struct command c, uint64_t cookie, std::optional<uint32_t> node) {
  auto& sh = *shared_;
  auto session = c.session_id;
  sh.submit(
      item_kind::command, cookie, session,
      [&](std::optional<item_result>& refused) { return node_for(sh, session, node, refused); },
      [&](staged& s, const item_meta& m) {
        s.batch.commands.push_back(c);
        s.commands.push_back(m);
      });
}

namespace {

template <class Shared, class Call>
caf::error wait_for(Shared& sh, Call call) {
  std::future<edge_result> f;
  uint64_t cookie = 0;
  {
    std::lock_guard<std::mutex> guard{sh.wait_mtx};
    cookie = internal_cookie | ++sh.next_wait;
    f = sh.waiters[cookie].get_future();
  }
  call(cookie);
  // Every item is answered by its deadline; the margin covers the client's own delays.
  if (f.wait_for(sh.cfg.deadline + std::chrono::seconds{5}) != std::future_status::ready) {
    std::lock_guard<std::mutex> guard{sh.wait_mtx};
    sh.waiters.erase(cookie);
    return make_error(errc::unavailable, "edge client: no result");
  }
  return f.get().error;
}

} // namespace

caf::error edge_client::open_sync(open_request r, std::optional<uint32_t> node) {
  return wait_for(*shared_, [&](uint64_t cookie) { open(std::move(r), cookie, node); });
}

caf::error edge_client::heartbeat_sync(heartbeat_report h, std::optional<uint32_t> node) {
  return wait_for(*shared_, [&](uint64_t cookie) { heartbeat(h, cookie, node); });
}

caf::error edge_client::command_sync(const struct command& c, std::optional<uint32_t> node) {
  return wait_for(*shared_, [&](uint64_t cookie) { command(c, cookie, node); });
}

std::optional<uint32_t> edge_client::node_of(uint64_t session_id) const {
  std::lock_guard<std::mutex> guard{shared_->mtx};
  if (auto i = shared_->where.find(session_id); i != shared_->where.end()) {
    return i->second;
  }
  return std::nullopt;
}

bool edge_client::connected(uint32_t i) const {
  return i < shared_->health.size() && shared_->health[i]->connected.load();
}

void edge_client::reconnect(uint32_t i) {
  if (i < shared_->health.size()) {
    shared_->health[i]->connected = false;
    caf::anon_send(shared_->actor, lost_atom::value, i);
  }
}

void edge_client::node_up(uint32_t i) {
  shared_->try_now(i);
}

edge_stats edge_client::stats() const {
  auto& s = *shared_;
  edge_stats out;
  out.accepted = s.accepted.load();
  out.batches = s.batches.load();
  out.ok = s.ok.load();
  out.overloaded = s.overloaded.load();
  out.refused_here = s.refused_here.load();
  out.unavailable = s.unavailable.load();
  out.other_errors = s.other_errors.load();
  out.retries = s.retries.load();
  out.in_flight = s.in_flight.load();
  return out;
}

} // namespace sv::session
