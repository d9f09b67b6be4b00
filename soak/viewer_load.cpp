// The soak driver's viewer actor: opens, heartbeats and closes the scenario's viewers
// through the edge client (each answer counted by outcome), and sends the analytics batches
// it keeps until acknowledged.

#include "soak/driver_parts.hpp"

namespace sv::soak {

namespace {

struct viewer {
  uint32_t node = 0;
  uint32_t title = 0;
  uint16_t gen = 0; // session id = index << 16 | gen: a reopen is a new session
  uint8_t device = 0;
  uint8_t region = 0;
  bool open = false;
  bool busy = false; // a request is under way
  uint32_t beats = 0;
  int64_t position_ms = 0;
  int64_t acked_ms = -1; // the position of this session's last heartbeat answered ok (-1: none)
};

struct counters {
  uint64_t hb_sent = 0, hb_ok = 0, overloaded = 0, to_down = 0, gone = 0, unaccounted = 0,
           straddled = 0, opens = 0, opens_ok = 0, open_refused = 0, reopened = 0, closes = 0,
           opens_away = 0; // opened on a node outside the viewer's region (failover)
  void add(const counters& o) {
    hb_sent += o.hb_sent;
    hb_ok += o.hb_ok;
    overloaded += o.overloaded;
    to_down += o.to_down;
    gone += o.gone;
    unaccounted += o.unaccounted;
    straddled += o.straddled;
    opens += o.opens;
    opens_ok += o.opens_ok;
    open_refused += o.open_refused;
    reopened += o.reopened;
    closes += o.closes;
    opens_away += o.opens_away;
  }
};

struct inflight_batch {
  analytics::event_batch batch; // until the first send
  caf::message request;         // from the first send on (every send the same)
  uint32_t events = 0;
  int64_t sent_ns = 0; // 0: to send
  // The producer's region (viewer region index): the region of the node the first send
  // went to (preferring seq % regions), named in the batch as its home region. Resends go
  // to a node of it while it has one usable, else to the next region's (a node there holds
  // the batch for its home region and hands it over once that has a node up, keeping it
  // once if the first send was stored there too: the producer contract, docs/host-api.md).
  size_t region = 0;
  bool placed = false; // sent once: `region` is where
};

using tick_atom = caf::atom_constant<caf::atom("tick")>;
using second_atom = caf::atom_constant<caf::atom("second")>;

struct driver_state {
  const scenario* sc = nullptr;
  std::string report_dir;
  std::vector<node_flags>* flags = nullptr;
  meta_shared* meta = nullptr;
  positions_shared* positions = nullptr;
  // Closes under way: session id -> what the close acknowledges.
  std::map<uint64_t, std::pair<std::pair<std::string, std::string>, closed_position>> closing;
  std::vector<node_link> links;
  session_port* client = nullptr;
  result_queue* results = nullptr;
  std::vector<session::edge_result> taken; // drained from `results`
  std::vector<viewer> viewers;
  size_t active = 0; // viewers [0, active) are in use
  double target_from = 0, target_to = 0;
  int64_t ramp_start_ns = 0, ramp_end_ns = 0;
  std::string phase = "start";
  size_t slot = 0, slots = 1;
  uint32_t next_node = 0;
  // Round-robin cursors per node set (a region's tier; keyed by the tier, which
  // node_tiers keeps in place): one shared cursor would hand a region's first node nearly
  // every open, as the cursor mostly stands in another region's range.
  std::map<const std::vector<uint32_t>*, uint32_t> next_in;
  std::mt19937_64 rng{42};
  std::vector<double> title_cdf;
  std::vector<double> device_cdf, region_cdf;
  // Per viewer region (index in sc->regions): the nodes to open on, in tiers of
  // preference: the region's own nodes, then each other region's by the link's RTT. Empty
  // when the nodes have no regions (every node alike).
  std::vector<std::vector<std::vector<uint32_t>>> node_tiers;
  counters second, total;
  std::map<std::string, counters> phase_counts;
  std::vector<double> second_lat;
  std::map<std::string, std::vector<double>> phase_lat;
  std::vector<std::string> phase_order;
  std::vector<std::string> unaccounted_samples;
  uint64_t open_now = 0;
  int64_t started_ns = 0;
  // analytics
  std::vector<analytics::viewer_event> open_events;
  int64_t batch_opened_ns = 0;
  uint64_t next_seq = 1;
  std::map<uint64_t, inflight_batch> inflight;
  uint64_t inflight_events = 0;
  std::vector<std::pair<uint64_t, uint32_t>> acked;
  uint64_t events_acked = 0, events_skipped = 0, batch_errors = 0;
  uint64_t sent_away = 0; // batch sends through a region other than the batch's home
  // Batch errors by error category and code, each with the first message seen.
  std::map<std::string, std::pair<uint64_t, std::string>> batch_error_kinds;
  bool finishing = false;
  caf::response_promise finish_rp;
  int64_t finish_deadline_ns = 0;

  static inline const char* name = "soak.driver";
};

using driver_actor = caf::stateful_actor<driver_state>;

size_t pick(const std::vector<double>& cdf, double u) {
  return static_cast<size_t>(std::lower_bound(cdf.begin(), cdf.end(), u) - cdf.begin());
}

std::vector<double> make_cdf(const std::vector<double>& weights) {
  std::vector<double> cdf;
  double sum = 0;
  for (auto w : weights) {
    sum += w;
    cdf.push_back(sum);
  }
  for (auto& c : cdf) {
    c /= sum > 0 ? sum : 1;
  }
  if (!cdf.empty()) {
    cdf.back() = 1.0;
  }
  return cdf;
}

bool node_ok(driver_actor* self, uint32_t n) {
  auto& st = self->state;
  return (*st.flags)[n].usable() && st.links[n].reachable;
}

// The next usable node, round robin; nullopt when none is. For a viewer of `region` (an
// index in sc->regions) when the nodes have regions: of the nearest region that has one,
// its own first, as an edge client with a region preference list does.
std::optional<uint32_t> next_usable(driver_actor* self, std::optional<size_t> region = {},
                                    bool own_region_only = false) {
  auto& st = self->state;
  auto n = static_cast<uint32_t>(st.links.size());
  auto in_turn = [&](const std::vector<uint32_t>* among) -> std::optional<uint32_t> {
    auto& next = among == nullptr ? st.next_node : st.next_in[among];
    for (uint32_t k = 0; k < n; ++k) {
      auto i = (next + k) % n;
      if (node_ok(self, i)
          && (among == nullptr || std::find(among->begin(), among->end(), i) != among->end())) {
        next = (i + 1) % n;
        return i;
      }
    }
    return std::nullopt;
  };
  if (region && *region < st.node_tiers.size() && !st.node_tiers[*region].empty()) {
    for (auto& tier : st.node_tiers[*region]) {
      if (auto i = in_turn(&tier)) {
        return i;
      }
      if (own_region_only) {
        break;
      }
    }
    return std::nullopt;
  }
  return in_turn(nullptr);
}

// node_tiers (see driver_state) from the scenario's node regions and links.
std::vector<std::vector<std::vector<uint32_t>>> make_node_tiers(const scenario& sc) {
  std::vector<std::vector<std::vector<uint32_t>>> out(sc.regions.size());
  if (sc.node_regions.empty()) {
    return out;
  }
  std::vector<std::string> names(sc.node_regions.begin(), sc.node_regions.end());
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  for (size_t v = 0; v < sc.regions.size(); ++v) {
    auto& own = sc.regions[v].first;
    if (std::find(names.begin(), names.end(), own) == names.end()) {
      continue; // no node in the viewer's region: every node alike
    }
    // The own region first, then the others by RTT (a link of 0 ms, or none, still after
    // the own region).
    auto rtt = [&](const std::string& r) -> uint64_t {
      if (r == own) {
        return 0;
      }
      for (auto& l : sc.links) {
        if ((l.a == own && l.b == r) || (l.a == r && l.b == own)) {
          return uint64_t{l.rtt_ms} + 1;
        }
      }
      return 1;
    };
    auto order = names;
    std::stable_sort(order.begin(), order.end(),
                     [&](const std::string& x, const std::string& y) { return rtt(x) < rtt(y); });
    for (auto& r : order) {
      std::vector<uint32_t> tier;
      for (uint32_t i = 0; i < sc.node_regions.size(); ++i) {
        if (sc.node_regions[i] == r) {
          tier.push_back(i);
        }
      }
      out[v].push_back(std::move(tier));
    }
  }
  return out;
}

uint64_t session_id(size_t index, const viewer& v) {
  return (static_cast<uint64_t>(index) << 16) | v.gen;
}

void add_event(driver_actor* self, size_t index, const viewer& v,
               streamverse::v1::ViewerEventType t) {
  auto& st = self->state;
  if (st.inflight_events > 200'000) {
    ++st.events_skipped; // bounded memory: not generated (never acknowledged, never expected)
    return;
  }
  analytics::viewer_event e;
  e.set_session_id(std::to_string(session_id(index, v)));
  e.set_user_id("u" + std::to_string(index));
  e.set_content_id("title-" + std::to_string(v.title));
  e.set_region(st.sc->regions[v.region].first);
  e.set_device(st.sc->devices[v.device].first);
  e.set_type(t);
  e.set_timestamp_ms(wall_ms());
  e.set_watched_ms(static_cast<uint32_t>(st.sc->heartbeat_ms));
  e.set_bitrate_kbps(3000);
  if (t == streamverse::v1::EVENT_START) {
    e.set_startup_ms(static_cast<uint32_t>(300 + index % 700));
  }
  if (t == streamverse::v1::EVENT_REBUFFER_END) {
    e.set_rebuffer_ms(static_cast<uint32_t>(200 + index % 600));
  }
  if (st.open_events.empty()) {
    st.batch_opened_ns = now_ns();
  }
  st.open_events.push_back(std::move(e));
}

void send_batch(driver_actor* self, uint64_t seq);

void flush_batch(driver_actor* self) {
  auto& st = self->state;
  if (st.open_events.empty()) {
    return;
  }
  auto seq = st.next_seq++;
  analytics::event_batch b;
  b.set_producer_id("soak-driver");
  b.set_sequence(seq);
  uint32_t i = 0;
  for (auto& e : st.open_events) {
    e.set_event_id("d:" + std::to_string(seq) + ":" + std::to_string(i++));
    *b.add_events() = std::move(e);
  }
  st.open_events.clear();
  auto& f = st.inflight[seq];
  f.events = i;
  f.region = st.sc->regions.empty() ? 0 : static_cast<size_t>(seq % st.sc->regions.size());
  f.batch = std::move(b);
  st.inflight_events += i;
  send_batch(self, seq);
}

void send_batch(driver_actor* self, uint64_t seq) {
  auto& st = self->state;
  auto it = st.inflight.find(seq);
  if (it == st.inflight.end()) {
    return;
  }
  // Through the region of the first send while it has a usable node, else the next
  // region's (the batch names its home region: stored once all the same).
  auto n = next_usable(self, it->second.region);
  if (!n || !st.links[*n].analytics) {
    it->second.sent_ns = 0; // the sweep tries again
    return;
  }
  if (!it->second.placed) {
    it->second.placed = true;
    auto& regions = st.sc->regions;
    if (*n < st.sc->node_regions.size()) {
      for (size_t r = 0; r < regions.size(); ++r) {
        if (regions[r].first == st.sc->node_regions[*n]) {
          it->second.region = r;
        }
      }
      it->second.batch.set_home_region(st.sc->node_regions[*n]);
    }
    it->second.request = analytics::ingest_request(std::move(it->second.batch));
  } else if (!st.sc->regions.empty() && *n < st.sc->node_regions.size()
             && st.sc->node_regions[*n] != st.sc->regions[it->second.region].first) {
    ++st.sent_away; // its home region has no usable node: held there for it
  }
  it->second.sent_ns = now_ns();
  self->request(st.links[*n].analytics, caf::duration{3s}, it->second.request)
      .then(
          [self, seq](const streamverse::v1::BatchAck&) {
            auto& st = self->state;
            auto j = st.inflight.find(seq);
            if (j == st.inflight.end()) {
              return;
            }
            st.acked.emplace_back(seq, j->second.events);
            st.events_acked += j->second.events;
            st.inflight_events -= j->second.events;
            st.inflight.erase(j);
          },
          [self, seq, node = *n, sent = now_ns()](caf::error& err) {
            auto& st = self->state;
            ++st.batch_errors;
            // By node and error; a request_timeout of the driver's own deadline (no answer
            // at all) apart from one the node answered with.
            auto& kind =
                st.batch_error_kinds[node_name(node) + " " + caf::to_string(err.category()) + ":"
                                     + std::to_string(err.code())
                                     + (now_ns() - sent >= 2'900'000'000 ? " no answer" : "")];
            if (kind.first++ == 0) {
              kind.second = caf::to_string(err);
            }
            if (auto j = st.inflight.find(seq); j != st.inflight.end()) {
              j->second.sent_ns = 0;
            }
          });
}

void count_error(driver_actor* self, uint32_t node, uint64_t epoch, const caf::error& err,
                 bool open) {
  auto& st = self->state;
  auto faulted = !(*st.flags)[node].usable() || st.links[node].epoch != epoch;
  if (is(err, errc::overloaded)) {
    ++(open ? st.second.open_refused : st.second.overloaded);
  } else if (faulted) {
    ++st.second.to_down;
  } else if (is(err, sv::session::session_errc::unknown_session)
             || is(err, sv::session::session_errc::session_closed)) {
    ++st.second.gone;
  } else {
    ++st.second.unaccounted;
    if (st.unaccounted_samples.size() < 20) {
      st.unaccounted_samples.push_back((*st.flags)[node].name + ": " + self->system().render(err));
    }
  }
}

// The cookie of a request: the epoch of the node it went to (answers across a fault are
// not latency samples) and the request kind's own bit for closes.
// (Bit 63 is the edge client's own: with it, closes' answers were taken for the client's
// blocking calls and never came back.)
constexpr uint64_t close_bit = uint64_t{1} << 62;

void open_viewer(driver_actor* self, size_t index, bool reopen) {
  auto& st = self->state;
  auto& v = st.viewers[index];
  auto n = next_usable(self, v.region);
  if (!n) {
    return;
  }
  if (v.region < st.node_tiers.size() && !st.node_tiers[v.region].empty()) {
    auto& own = st.node_tiers[v.region].front();
    if (std::find(own.begin(), own.end(), *n) == own.end()) {
      ++st.second.opens_away;
    }
  }
  v.node = *n;
  ++v.gen;
  v.acked_ms = -1; // a new session: nothing of it acknowledged yet
  v.busy = true;
  session::open_request r;
  r.session_id = session_id(index, v);
  r.user = "u" + std::to_string(index);
  r.content = "title-" + std::to_string(v.title);
  r.device = st.sc->devices[v.device].first;
  r.region = st.sc->regions[v.region].first;
  ++st.second.opens;
  if (reopen) {
    ++st.second.reopened;
  }
  st.client->open(std::move(r), st.links[*n].epoch, *n);
}

void heartbeat(driver_actor* self, size_t index) {
  auto& st = self->state;
  auto& v = st.viewers[index];
  if (!node_ok(self, v.node)) {
    if ((*st.flags)[v.node].down.load()) {
      // Its node is gone: the viewer's player reconnects elsewhere.
      v.open = false;
      --st.open_now;
      open_viewer(self, index, true);
    }
    return; // stalled: the player waits
  }
  v.busy = true;
  v.position_ms += st.sc->heartbeat_ms;
  session::heartbeat_report h;
  h.session_id = session_id(index, v);
  h.position_ms = v.position_ms;
  h.bitrate_kbps = 3000;
  h.buffer_ms = 20'000;
  ++st.second.hb_sent;
  st.client->heartbeat(h, st.links[v.node].epoch);
}

// One answer of the edge client.
void on_result(driver_actor* self, const session::edge_result& r) {
  auto& st = self->state;
  if ((r.cookie & close_bit) != 0) {
    // A close (counted when sent): answered ok, the position it stopped at is acknowledged.
    if (auto c = st.closing.find(r.session_id); c != st.closing.end()) {
      if (!r.error) {
        auto acked = c->second.second;
        std::lock_guard<std::mutex> g{st.positions->mtx};
        st.positions->closed[c->second.first] = acked;
      }
      st.closing.erase(c);
    }
    return;
  }
  auto index = static_cast<size_t>(r.session_id >> 16);
  auto gen = static_cast<uint16_t>(r.session_id & 0xffff);
  if (index >= st.viewers.size()) {
    return;
  }
  auto& v = st.viewers[index];
  auto current = v.gen == gen && index < st.active;
  auto node = r.node >= 0 ? static_cast<uint32_t>(r.node) : v.node;
  auto epoch = r.cookie;
  if (current) {
    v.busy = false;
  }
  if (r.kind == session::item_kind::open) {
    if (!r.error) {
      ++st.second.opens_ok;
      if (current) {
        v.open = true;
        v.node = node;
        ++st.open_now;
      }
    } else {
      count_error(self, node, epoch, r.error, true);
    }
    return;
  }
  if (!r.error) {
    ++st.second.hb_ok;
    if (current) {
      v.acked_ms = v.position_ms; // one request at a time per viewer: this one's position
    }
    if ((*st.flags)[node].usable() && st.links[node].epoch == epoch) {
      st.second_lat.push_back(std::chrono::duration<double, std::milli>(r.latency).count());
    } else {
      ++st.second.straddled;
    }
    // Now and then the player reports a stall (events the node does not see itself):
    // these batches carry the exactly-once check of the analytics path.
    if (current && ++v.beats % 25 == index % 25) {
      add_event(self, index, v, streamverse::v1::EVENT_REBUFFER_END);
    }
    return;
  }
  count_error(self, node, epoch, r.error, false);
  if (current && v.open
      && (is(r.error, sv::session::session_errc::unknown_session)
          || is(r.error, sv::session::session_errc::session_closed)
          || (is(r.error, errc::unavailable) && (*st.flags)[node].down.load()))) {
    v.open = false;
    --st.open_now;
  }
}

double target_now(driver_actor* self) {
  auto& st = self->state;
  auto t = now_ns();
  if (t >= st.ramp_end_ns || st.ramp_end_ns <= st.ramp_start_ns) {
    return st.target_to;
  }
  auto f = static_cast<double>(t - st.ramp_start_ns)
           / static_cast<double>(st.ramp_end_ns - st.ramp_start_ns);
  return st.target_from + (st.target_to - st.target_from) * f;
}

void tick(driver_actor* self) {
  auto& st = self->state;
  {
    std::lock_guard<std::mutex> guard{st.results->mtx};
    st.taken.swap(st.results->items);
  }
  for (auto& r : st.taken) {
    on_result(self, r);
  }
  st.taken.clear();
  if (!st.finishing) {
    auto target = static_cast<size_t>(target_now(self));
    size_t budget = 1500;
    // Join: new viewers (title by popularity, device and region by the mix).
    while (st.active < target && budget-- > 0) {
      if (st.active == st.viewers.size()) {
        st.viewers.emplace_back();
      }
      auto& v = st.viewers[st.active];
      std::uniform_real_distribution<double> u{0, 1};
      v.title = static_cast<uint32_t>(pick(st.title_cdf, u(st.rng)));
      v.device = static_cast<uint8_t>(pick(st.device_cdf, u(st.rng)));
      v.region = static_cast<uint8_t>(pick(st.region_cdf, u(st.rng)));
      v.open = false;
      v.position_ms = 0;
      {
        // A new viewer in this slot (the same user): its earlier close no longer stands.
        std::lock_guard<std::mutex> g{st.positions->mtx};
        auto user = "u" + std::to_string(st.active);
        for (auto it = st.positions->closed.lower_bound({user, ""});
             it != st.positions->closed.end() && it->first.first == user;) {
          it = st.positions->closed.erase(it);
        }
      }
      open_viewer(self, st.active, false);
      ++st.active;
    }
    // Leave: the newest viewers close their sessions.
    while (st.active > target && budget-- > 0) {
      auto i = st.active - 1;
      auto& v = st.viewers[i];
      if (v.open && node_ok(self, v.node)) {
        session::command c;
        c.session_id = session_id(i, v);
        c.kind = session::command_kind::close;
        if (!v.busy && v.acked_ms >= 0) { // a position of this session acknowledged, none
                                          // in flight: the position it stops at is known
          st.closing[c.session_id] = {{"u" + std::to_string(i), "title-" + std::to_string(v.title)},
                                      {v.acked_ms, v.position_ms, st.sc->regions[v.region].first}};
        }
        st.client->command(c, close_bit);
        ++st.second.closes;
        --st.open_now;
      } else if (v.open) {
        --st.open_now;
      }
      v.open = false;
      --st.active;
    }
    // Heartbeats of this slot; viewers not open yet (refused) try to open again.
    for (size_t i = st.slot; i < st.active; i += st.slots) {
      auto& v = st.viewers[i];
      if (v.busy) {
        continue;
      }
      if (v.open) {
        heartbeat(self, i);
      } else {
        open_viewer(self, i, true);
      }
    }
    st.slot = (st.slot + 1) % st.slots;
  }
  if (!st.open_events.empty()
      && (st.open_events.size() >= 500 || now_ns() - st.batch_opened_ns > 100'000'000)) {
    flush_batch(self);
  }
  self->delayed_send(self, 10ms, tick_atom::value);
}

void second(driver_actor* self) {
  auto& st = self->state;
  // Batches not answered in time (or not sent) go again.
  auto t = now_ns();
  for (auto& [seq, f] : st.inflight) {
    if (f.sent_ns == 0 || t - f.sent_ns > 3'000'000'000) {
      send_batch(self, seq);
    }
  }
  std::vector<double> meta_ms, inval_ms;
  uint64_t stale = 0;
  {
    std::lock_guard<std::mutex> g{st.meta->mtx};
    meta_ms.swap(st.meta->second_meta_ms);
    inval_ms.swap(st.meta->second_inval_ms);
    stale = st.meta->stale_reads;
  }
  auto lat = st.second_lat;
  auto& s = st.second;
  std::ostringstream os;
  os << "S {\"t\":" << json_num(static_cast<double>(t - st.started_ns) / 1e9) << ",\"phase\":\""
     << st.phase << "\",\"target\":" << static_cast<uint64_t>(target_now(self))
     << ",\"sessions\":" << st.open_now << ",\"hb_sent\":" << s.hb_sent << ",\"hb_ok\":" << s.hb_ok
     << ",\"overloaded\":" << s.overloaded << ",\"to_down\":" << s.to_down << ",\"gone\":" << s.gone
     << ",\"unaccounted\":" << s.unaccounted << ",\"opens_ok\":" << s.opens_ok
     << ",\"open_refused\":" << s.open_refused << ",\"p50_ms\":" << json_num(quantile(lat, 0.5))
     << ",\"p99_ms\":" << json_num(quantile(lat, 0.99))
     << ",\"max_ms\":" << json_num(lat.empty() ? 0 : *std::max_element(lat.begin(), lat.end()))
     << ",\"events_acked\":" << st.events_acked << ",\"analytics_inflight\":" << st.inflight_events
     << ",\"meta_p99_ms\":" << json_num(quantile(meta_ms, 0.99))
     << ",\"inval_p99_ms\":" << json_num(quantile(inval_ms, 0.99))
     << ",\"meta_traced\":" << meta_ms.size() << ",\"stale_reads\":" << stale << "}\n";
  std::cout << os.str() << std::flush;
  auto& pl = st.phase_lat[st.phase];
  pl.insert(pl.end(), st.second_lat.begin(), st.second_lat.end());
  st.phase_counts[st.phase].add(st.second);
  st.total.add(st.second);
  st.second = {};
  st.second_lat.clear();
  self->delayed_send(self, 1s, second_atom::value);
}

void write_counters(std::ostream& out, const counters& c) {
  out << "{\"hb_sent\":" << c.hb_sent << ",\"hb_ok\":" << c.hb_ok
      << ",\"overloaded\":" << c.overloaded << ",\"to_down\":" << c.to_down
      << ",\"gone\":" << c.gone << ",\"unaccounted\":" << c.unaccounted
      << ",\"straddled\":" << c.straddled << ",\"opens\":" << c.opens
      << ",\"opens_ok\":" << c.opens_ok << ",\"open_refused\":" << c.open_refused
      << ",\"reopened\":" << c.reopened << ",\"closes\":" << c.closes
      << ",\"opens_away\":" << c.opens_away << "}";
}

// What the load saw, for the controller: DIR/driver-load.json and the acknowledged
// analytics batches (sequence and event count) in DIR/acked-batches.tsv.
void write_results(driver_actor* self) {
  auto& st = self->state;
  std::ofstream acked{st.report_dir + "/acked-batches.tsv"};
  for (auto& [seq, n] : st.acked) {
    acked << seq << "\t" << n << "\n";
  }
  std::ofstream out{st.report_dir + "/driver-load.json"};
  out << "{" << st.client->json_members() << ",\"total\":";
  write_counters(out, st.total);
  out << ",\"phases\":[";
  bool first = true;
  for (auto& name : st.phase_order) {
    auto& lat = st.phase_lat[name];
    out << (first ? "" : ",") << "{\"name\":\"" << name << "\",\"samples\":" << lat.size()
        << ",\"p50_ms\":" << json_num(quantile(lat, 0.5))
        << ",\"p99_ms\":" << json_num(quantile(lat, 0.99))
        << ",\"p999_ms\":" << json_num(quantile(lat, 0.999))
        << ",\"max_ms\":" << json_num(lat.empty() ? 0 : *std::max_element(lat.begin(), lat.end()))
        << ",\"counts\":";
    write_counters(out, st.phase_counts[name]);
    out << "}";
    first = false;
  }
  out << "],\"analytics\":{\"batches_acked\":" << st.acked.size()
      << ",\"events_acked\":" << st.events_acked << ",\"events_skipped\":" << st.events_skipped
      << ",\"unacked_batches\":" << st.inflight.size() << ",\"batch_errors\":" << st.batch_errors
      << ",\"sent_away\":" << st.sent_away << ",\"batch_error_kinds\":{";
  first = true;
  for (auto& [kind, seen] : st.batch_error_kinds) {
    out << (first ? "" : ",") << "\"" << kind << "\":{\"count\":" << seen.first << ",\"first\":\""
        << json_clean(seen.second) << "\"}";
    first = false;
  }
  out << "}},\"unaccounted_samples\":[";
  first = true;
  for (auto& x : st.unaccounted_samples) {
    out << (first ? "" : ",") << "\"" << json_clean(x) << "\"";
    first = false;
  }
  out << "]}\n";
}

void maybe_finish(driver_actor* self) {
  auto& st = self->state;
  if (st.finishing && st.open_events.empty()
      && (st.inflight.empty() || now_ns() > st.finish_deadline_ns)) {
    st.finishing = false;
    st.phase_counts[st.phase].add(st.second);
    st.total.add(st.second);
    write_results(self);
    st.finish_rp.deliver(caf::unit);
    self->quit();
  }
}

caf::behavior driver_behavior(driver_actor* self, const scenario* sc,
                              std::vector<node_flags>* flags, meta_shared* meta,
                              positions_shared* positions, std::vector<node_link> links,
                              std::string report_dir, session_port* client, result_queue* results) {
  auto& st = self->state;
  st.client = client;
  st.results = results;
  st.report_dir = std::move(report_dir);
  st.sc = sc;
  st.flags = flags;
  st.meta = meta;
  st.positions = positions;
  st.links = std::move(links);
  st.slots = std::max<size_t>(1, sc->heartbeat_ms / 10);
  st.started_ns = now_ns();
  std::vector<double> w;
  for (uint32_t i = 0; i < sc->titles; ++i) {
    w.push_back(1.0 / std::pow(static_cast<double>(i + 1), sc->zipf));
  }
  st.title_cdf = make_cdf(w);
  w.clear();
  for (auto& d : sc->devices) {
    w.push_back(d.second);
  }
  st.device_cdf = make_cdf(w);
  w.clear();
  for (auto& r : sc->regions) {
    w.push_back(r.second);
  }
  st.region_cdf = make_cdf(w);
  st.node_tiers = make_node_tiers(*sc);
  self->send(self, tick_atom::value);
  self->delayed_send(self, 1s, second_atom::value);
  return {
      [self](tick_atom) {
        tick(self);
        maybe_finish(self);
      },
      [self](second_atom) { second(self); },
      [self](command_atom, const std::string& verb, const std::string& arg, double x) {
        auto& st = self->state;
        if (verb == "phase") {
          st.phase = arg;
          {
            std::lock_guard<std::mutex> g{st.meta->mtx};
            st.meta->phase = arg;
          }
          if (std::find(st.phase_order.begin(), st.phase_order.end(), arg)
              == st.phase_order.end()) {
            st.phase_order.push_back(arg);
          }
        } else if (verb == "viewers") {
          st.target_from = target_now(self);
          st.target_to = std::stod(arg);
          st.ramp_start_ns = now_ns();
          st.ramp_end_ns = st.ramp_start_ns + static_cast<int64_t>(x * 1e9);
        }
      },
      // A fault on node n began or ended (flags already set by the reader).
      [self](link_atom, uint32_t n, const caf::actor& an) {
        auto& st = self->state;
        ++st.links[n].epoch;
        if (an) {
          st.links[n].reachable = true;
          st.links[n].analytics = an;
        }
      },
      [self](finish_atom) {
        auto& st = self->state;
        st.finishing = true;
        st.finish_deadline_ns = now_ns() + 60'000'000'000;
        flush_batch(self);
        st.finish_rp = self->make_response_promise();
        return st.finish_rp;
      },
  };
}

} // namespace

caf::actor spawn_viewer_load(caf::actor_system& sys, const scenario* sc,
                             std::vector<node_flags>* flags, meta_shared* meta,
                             positions_shared* positions, std::vector<node_link> links,
                             std::string report_dir, session_port* client, result_queue* results) {
  return sys.spawn(driver_behavior, sc, flags, meta, positions, std::move(links),
                   std::move(report_dir), client, results);
}

} // namespace sv::soak
